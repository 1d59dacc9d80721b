import Testing
import VigilCore

@Suite("In-place sort")
struct InPlaceSortTests {
    @Test(arguments: [0, 1, 2, 3, 17, 256, 1_000])
    func sortsLikeTheStandardLibrary(count: Int) {
        var generator = SplitMix64(seed: UInt64(count) + 1)
        let values = (0..<count).map { _ in Int(generator.next() % 50) }
        var sorted = values
        sorted.sortWithoutAllocating(by: <)
        #expect(sorted == values.sorted())
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
