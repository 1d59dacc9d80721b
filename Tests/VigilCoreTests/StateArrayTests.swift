import Testing
@testable import VigilCore

@Suite("State array")
struct StateArrayTests {
    struct Pair: Equatable, BitwiseCopyable {
        var a: Int64
        var b: Double
    }

    /// Appends in uneven pieces through many remaps (the mapping moves as it grows) and compares every element
    /// with an `Array` built the same way, after each piece.
    @Test func growsLikeAnArrayThroughManyRemaps() {
        var state = StateArray<Pair>()
        var reference: [Pair] = []
        var generator = SplitMix64(seed: 7)
        var sizes: Set<Int> = []
        while reference.count < 300_000 {
            let n = Int(generator.next() % 5_000)
            let value = Pair(a: Int64(reference.count), b: Double(n))
            state.append(repeating: value, count: n)
            reference.append(contentsOf: repeatElement(value, count: n))
            // Writes land where reads find them, wherever the mapping is now.
            if n > 0 {
                state[reference.count - 1].b += 1
                reference[reference.count - 1].b += 1
            }
            sizes.insert(state.reservedBytes)
            #expect(state.count == reference.count)
        }
        #expect(Array(state) == reference)
        #expect(sizes.count > 5)
        // 300,000 pairs are 4.8 MB: the elements moved from the heap to a mapping on the way.
        #expect(state.isMapped)
        #expect(state.reservedBytes >= state.count * MemoryLayout<Pair>.stride)
    }

    /// A large array (48 MiB, many remaps) keeps its contents; a small one stays on the heap.
    @Test func keepsItsContentsThroughLargeGrowth() {
        var state = StateArray<Int64>()
        let total = 6 << 20  // 48 MiB of Int64
        var appended = 0
        while appended < total {
            let n = Swift.min(32_768, total - appended)
            state.append(repeating: 0, count: n)
            for i in appended..<appended + n { state[i] = Int64(i) &* 2_654_435_761 }
            appended += n
        }
        #expect(state.reservedBytes >= 48 << 20 && state.isMapped)
        #expect(!StateArray<Int64>(repeating: 1, count: 1000).isMapped)
        var mismatches = 0
        state.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i] != Int64(i) &* 2_654_435_761 { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// A copy is a separate value: writes to either, through the subscript, an append or a mutable buffer, do not
    /// show in the other.
    @Test func copiesOnWrite() {
        var original = StateArray<Int32>([1, 2, 3])
        var copy = original
        copy[0] = 10
        #expect(Array(original) == [1, 2, 3])
        #expect(Array(copy) == [10, 2, 3])

        let snapshot = original
        original.append(4)
        #expect(Array(snapshot) == [1, 2, 3])
        #expect(Array(original) == [1, 2, 3, 4])

        let before = original
        original.withUnsafeMutableBufferPointer { $0[1] = 20 }
        #expect(Array(before) == [1, 2, 3, 4])
        #expect(Array(original) == [1, 20, 3, 4])
        #expect(before != original)
        #expect(StateArray<Int32>([1, 2, 3, 4]) == before)
    }

    @Test func buildsFromSequencesAndRepeatedValues() {
        #expect(StateArray<Int64>().isEmpty)
        #expect(Array(StateArray<Int64>(repeating: .min, count: 3)) == [.min, .min, .min])
        #expect(Array(StateArray<Int>(0..<5)) == [0, 1, 2, 3, 4])
        #expect(Array(StateArray<UInt8>([UInt8]())) == [])
        var grown = StateArray<UInt16>(repeating: 1, count: 2)
        grown.append(repeating: 9, count: 0)
        grown.append(7)
        #expect(Array(grown) == [1, 1, 7])
    }

    /// Appending one element at a time reserves room ahead (the reserved bytes at least double when they run
    /// out), so a store that initialises each new key's slot alone moves its memory rarely.
    @Test func reservesRoomAheadOfOneByOneAppends() {
        var state = StateArray<Int64>()
        var moves = 0
        var reserved = 0
        for i in 0..<400_000 {
            state.append(Int64(i))
            if state.reservedBytes != reserved {
                moves += 1
                reserved = state.reservedBytes
            }
        }
        #expect(moves <= 24)
        #expect(state.reservedBytes >= 400_000 * 8 && state.reservedBytes <= 2 * 400_000 * 8 + 4096)
        #expect(state[399_999] == 399_999)
    }
}
