import Testing
import Foundation
@testable import VigilCore

@Suite("In-place sort")
struct InPlaceSortTests {
    /// Random values with many ties, and the shapes that trouble quicksorts: sorted, reversed, all equal, organ
    /// pipe, a sawtooth.
    static func shapes(count: Int) -> [[Int]] {
        var generator = SplitMix64(seed: UInt64(count) + 1)
        return [
            (0..<count).map { _ in Int(generator.next() % 50) },
            (0..<count).map { _ in Int(generator.next() % 1_000_000) },
            Array(0..<count),
            Array((0..<count).reversed()),
            Array(repeating: 7, count: count),
            (0..<count).map { min($0, count - $0) },
            (0..<count).map { $0 % 17 },
        ]
    }

    @Test(arguments: [0, 1, 2, 3, 16, 17, 18, 256, 1_000, 20_000])
    func sortsLikeTheStandardLibrary(count: Int) {
        for values in Self.shapes(count: count) {
            var sorted = values
            sorted.sortWithoutAllocating(by: <)
            #expect(sorted == values.sorted())
        }
    }

    /// The heapsort that takes over when partitioning goes badly, alone (no partitioning rounds) and after one.
    @Test(arguments: [0, 1])
    func theHeapsortFallbackSortsToo(depthLimit: Int) {
        for values in Self.shapes(count: 1_000) {
            var sorted = values
            sorted.withUnsafeMutableBufferPointer { $0.sortWithoutAllocating(depthLimit: depthLimit, by: <) }
            #expect(sorted == values.sorted())
        }
    }

    /// Heapsort takes over only a range whose own path of splits went too deep: a budget of splits shared by the
    /// whole sort ran out early, and heapsort (about 2 n log2 n comparisons, against quicksort's 1.2) then sorted
    /// most of every large input.
    @Test func aRandomInputIsSortedByPartitioningNotByTheFallback() {
        var generator = SplitMix64(seed: 11)
        let count = 100_000
        var values = (0..<count).map { _ in generator.next() }
        var comparisons = 0
        values.sortWithoutAllocating { a, b in
            comparisons += 1
            return a < b
        }
        #expect(values == values.sorted())
        let nLogN = Double(count) * log2(Double(count))
        #expect(Double(comparisons) < 1.5 * nLogN, "\(comparisons) comparisons for \(count) values")
    }

    @Test func aTieBreakInTheOrderGivesTheStableOrder() {
        var generator = SplitMix64(seed: 9)
        let pairs = (0..<500).map { i in (key: Int(generator.next() % 7), position: i) }
        var sorted = pairs
        sorted.sortWithoutAllocating { a, b in a.key < b.key || (a.key == b.key && a.position < b.position) }
        let stable = pairs.sorted { $0.key < $1.key }
        #expect(sorted.map(\.position) == stable.map(\.position))
    }
}
