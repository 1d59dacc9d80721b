import Testing
import VigilCore
@testable import VigilModels

@Suite("Half-space trees' split table")
struct SplitTableTests {
    /// Every height the config allows: each inner node's split comes back from its own place (no two nodes share
    /// one, whether the bottom level of blocks is full or not), and going down by `child` from the root reaches
    /// the place of the heap node with the same path.
    @Test(arguments: 1...20)
    func holdsEveryNodeAtThePlaceItsPathLeadsTo(height: Int) {
        let (trees, inner) = (2, (1 << height) - 1)
        var rng = SplitMix64(seed: UInt64(height))
        let splits = (0..<trees * inner).map { _ in HalfSpaceTrees.Split(value: rng.uniform(), input: Int32(rng.next() % 256)) }
        let table = HalfSpaceTrees.SplitTable(trees: trees, height: height, heapOrder: splits)
        var mismatches = 0
        for tree in 0..<trees {
            for node in 0..<inner where table[tree: tree, node: node] != splits[tree * inner + node] { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(table.heapOrder == splits, "what a checkpoint writes")
        let belowTop = inner - ((1 << table.topLevels) - 1)
        #expect(belowTop % 7 == 0 && table.blocksPerTree == 1 + belowTop / 7, "every block below the top one holds seven nodes")

        for _ in 0..<200 {
            var (node, place) = (0, table.root)
            for _ in 0..<height - 1 {
                let side = Int(rng.next() & 1)
                node = 2 * node + 1 + side
                place.descend(side)
            }
            let expected = table.place(ofHeapNode: node)
            #expect(place.block == expected.block && place.local == expected.local)
            #expect(place.block < table.blocksPerTree && place.local < 7)
        }
    }

    @Test func copiesOfAModelShareTheirSplitsAndCompareByValue() {
        let a = HalfSpaceTrees(dimensions: 3, trees: 4, height: 7, window: 50, seed: 3)
        let b = HalfSpaceTrees(dimensions: 3, trees: 4, height: 7, window: 50, seed: 3)
        let c = HalfSpaceTrees(dimensions: 3, trees: 4, height: 7, window: 50, seed: 4)
        #expect(a == b)
        #expect(a != c)
    }
}
