import Testing
import VigilCore
@testable import VigilFeatures

/// Sketch registers exist only for the keys that switched to one, and only in stores a distinct count reads, in
/// memory and in checkpoints (format version 2; version 1 held every slot's registers and still reads).
@Suite("Categorical store")
struct CategoricalStoreTests {
    /// Hashes of values `first ..< first + count` (never 0, which means "missing").
    private func hashes(_ first: Int, _ count: Int) -> [UInt64] {
        (first..<first + count).map { FNV1a.hash("value \($0)") }
    }

    private func bytes(_ store: CategoricalStore) -> [UInt8] {
        var w = BinaryWriter()
        store.write(to: &w)
        return w.bytes
    }

    /// The first format: every slot with its registers (zeros for a key that never switched).
    private func firstFormat(_ store: CategoricalStore) -> [UInt8] {
        var w = BinaryWriter()
        w.write(store.sizeMs); w.write(store.field); w.write(store.exactCapacity)
        w.write(store.hashes); w.write(store.lastSeen); w.write(store.overflowed)
        var registers = [UInt8](repeating: 0, count: store.overflowed.count * CategoricalStore.registerCount)
        for slot in store.overflowed.indices where store.countsDistinct && store.sketches[slot] >= 0 {
            for i in 0..<CategoricalStore.registerCount {
                registers[slot * CategoricalStore.registerCount + i] = store.registers[Int(store.sketches[slot]) * CategoricalStore.registerCount + i]
            }
        }
        w.write(registers)
        return w.bytes
    }

    @Test func onlyKeysPastTheExactValuesHoldASketch() throws {
        var store = CategoricalStore(sizeMs: 86_400_000, field: 0, exactCapacity: 4)
        store.ensure(slots: 3)
        #expect(store.registers.isEmpty && store.sketches.count == 3)
        // Room for every slot's block is reserved with the slots, so handing one out allocates nothing.
        #expect(store.registers.reservedBytes >= 3 * CategoricalStore.registerCount)
        for (i, hash) in hashes(0, 3).enumerated() { store.add(slot: 0, hash: hash, timeMs: Int64(i)) }
        for (i, hash) in hashes(100, 300).enumerated() { store.add(slot: 1, hash: hash, timeMs: Int64(i)) }
        #expect(store.distinct(slot: 0, atMs: 10) == 3, "exact")
        let estimate = store.distinct(slot: 1, atMs: 400)
        #expect(abs(estimate - 300) / 300 < 0.27, "HyperLogLog estimate \(estimate)")
        #expect(store.registers.count == CategoricalStore.registerCount, "one key switched")
        #expect(store.sketches[1] == 0 && store.sketches[0] == -1 && store.sketches[2] == -1)

        // The checkpoint holds the one block and each slot's block number (the first format held three blocks),
        // and both formats read back into the same store.
        #expect(bytes(store).count == firstFormat(store).count - 2 * CategoricalStore.registerCount + 8 + 3 * 8)
        for (saved, version) in [(bytes(store), UInt64(2)), (firstFormat(store), 1)] {
            var restored = CategoricalStore(sizeMs: 86_400_000, field: 0, exactCapacity: 4)
            var r = BinaryReader(saved)
            try restored.restore(from: &r, version: version)
            #expect(r.isAtEnd)
            #expect(restored.distinct(slot: 1, atMs: 400) == estimate && restored.distinct(slot: 0, atMs: 10) == 3)
            #expect(restored.registers.count == CategoricalStore.registerCount && restored.sketches == store.sketches)
            #expect(restored.registers.reservedBytes >= 3 * CategoricalStore.registerCount, "room for every slot's block")
            #expect(bytes(restored) == bytes(store))
        }

        // A replaced key starts without values; its slot keeps the (zeroed) block for the next switch.
        store.reset(slot: 1)
        #expect(store.distinct(slot: 1, atMs: 400) == 0)
        #expect(store.registers.allSatisfy { $0 == 0 })
        for (i, hash) in hashes(1_000, 50).enumerated() { store.add(slot: 1, hash: hash, timeMs: Int64(500 + i)) }
        #expect(abs(store.distinct(slot: 1, atMs: 600) - 50) / 50 < 0.27)
        #expect(store.registers.count == CategoricalStore.registerCount, "the block was reused")
    }

    /// Where no distinct count reads the store (first-seen only), no key holds registers, nor does its checkpoint;
    /// a checkpoint with registers (a store that counted, either format) reads into it, dropping them, and a
    /// counting store reading its checkpoint gives the keys past their exact values empty sketches.
    @Test func aFirstSeenStoreKeepsNoSketch() throws {
        var counting = CategoricalStore(sizeMs: 60_000, field: 0, exactCapacity: 2)
        var firstSeen = CategoricalStore(sizeMs: 60_000, field: 0, exactCapacity: 2, countsDistinct: false)
        counting.ensure(slots: 2)
        firstSeen.ensure(slots: 2)
        for (i, hash) in hashes(0, 40).enumerated() {
            counting.add(slot: i % 2, hash: hash, timeMs: Int64(i))
            firstSeen.add(slot: i % 2, hash: hash, timeMs: Int64(i))
        }
        #expect(firstSeen.registers.isEmpty && firstSeen.sketches.isEmpty && firstSeen.bytesPerKey == 2 * 16 + 1)
        #expect(counting.registers.count == 2 * CategoricalStore.registerCount)
        let recent = hashes(38, 2)
        #expect(recent.allSatisfy { firstSeen.wasSeen(slot: 0, hash: $0, atMs: 40) == counting.wasSeen(slot: 0, hash: $0, atMs: 40) })
        #expect(firstSeen.wasSeen(slot: 0, hash: recent[0], atMs: 40))
        #expect(bytes(firstSeen).count < bytes(counting).count - 2 * CategoricalStore.registerCount)

        for (saved, version) in [(bytes(counting), UInt64(2)), (firstFormat(counting), 1)] {
            var fromCounting = CategoricalStore(sizeMs: 60_000, field: 0, exactCapacity: 2, countsDistinct: false)
            var r = BinaryReader(saved)
            try fromCounting.restore(from: &r, version: version)
            #expect(fromCounting.registers.isEmpty)
            #expect(bytes(fromCounting) == bytes(firstSeen))
        }

        var fromFirstSeen = CategoricalStore(sizeMs: 60_000, field: 0, exactCapacity: 2)
        var r = BinaryReader(bytes(firstSeen))
        try fromFirstSeen.restore(from: &r, version: 2)
        #expect(fromFirstSeen.sketches[0] >= 0 && fromFirstSeen.sketches[1] >= 0, "both keys are past their two exact values")
        #expect(fromFirstSeen.registers.count == 2 * CategoricalStore.registerCount && fromFirstSeen.registers.allSatisfy { $0 == 0 })
    }
}
