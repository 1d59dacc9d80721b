import Foundation
import Testing
import VigilCore
import VigilModels

@Suite("Random cut forest")
struct RandomCutForestTests {
    private func score(_ forest: inout RandomCutForest, _ x: [Double], high: inout [Double], low: inout [Double]) -> Double {
        x.withUnsafeBufferPointer { point in
            high.withUnsafeMutableBufferPointer { h in
                low.withUnsafeMutableBufferPointer { l in forest.scoreAndLearn(point, high: h, low: l) }
            }
        }
    }

    /// Scores and attributions bit for bit as they were when a point was scored by inserting it into each tree,
    /// reading its displacement and deleting it again (the digests below were taken from that implementation): a
    /// stream with many exact repeats (equal points share a leaf), outliers, both samplers, with and without
    /// shingles.
    @Test(arguments: [
        (RandomCutForest.Sampling.reservoir, 1, UInt64(4_624_206_868_054_947_818)), (.timeDecay(lambda: 0.01), 1, 4_635_112_752_907_657_594),
        (.reservoir, 2, 16_109_220_810_113_873_353), (.timeDecay(lambda: 0.01), 2, 6_520_450_983_246_483_868),
    ])
    func scoresAndAttributionsAreThoseOfInsertingAndDeleting(sampling: RandomCutForest.Sampling, shingle: Int, digest: UInt64) {
        var forest = RandomCutForest(dimensions: 3, trees: 12, sampleSize: 24, shingleSize: shingle, sampling: sampling, outputAfter: 6, seed: 8)
        var generator = SplitMix64(seed: 4)
        var high = [0.0, 0, 0], low = [0.0, 0, 0]
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: Double) { hash = (hash ^ value.bitPattern) &* 0x0000_0100_0000_01b3 }
        for i in 0..<3_000 {
            let outlier = generator.next() % 50 == 0
            let x = (0..<3).map { _ in outlier ? Double(generator.next() % 1000) / 10 : Double(generator.next() % 6) / 2 }
            mix(score(&forest, x, high: &high, low: &low))
            for k in 0..<3 { mix(high[k]); mix(low[k]) }
            if i % 500 == 0 { #expect(forest.isConsistent(), "after \(i) points") }
        }
        #expect(hash == digest, "digest \(hash)")
    }

    @Test(arguments: [RandomCutForest.Sampling.reservoir, .timeDecay(lambda: 0.01)])
    func insertAndDeleteKeepEveryTreeConsistent(sampling: RandomCutForest.Sampling) {
        var forest = RandomCutForest(dimensions: 3, trees: 10, sampleSize: 32, sampling: sampling, seed: 3)
        var generator = SplitMix64(seed: 1)
        var high = [0.0, 0, 0], low = [0.0, 0, 0]
        for i in 0..<2_000 {
            // Some exact repeats too: equal points share a leaf.
            let x = i % 7 == 0 ? [1.0, 2.0, 3.0] : (0..<3).map { _ in Double(generator.next() % 1000) / 100 }
            _ = score(&forest, x, high: &high, low: &low)
            if i % 250 == 0 { #expect(forest.isConsistent(), "after \(i) points") }
        }
        #expect(forest.isConsistent())
        #expect(forest.sampleCounts.allSatisfy { $0 == 32 })
    }

    @Test func anIsolatedPointScoresHigherThanAClusterPoint() {
        var forest = RandomCutForest(dimensions: 2, trees: 50, sampleSize: 128, seed: 5)
        var generator = SplitMix64(seed: 2)
        var high = [0.0, 0], low = [0.0, 0]
        for _ in 0..<1_000 {
            _ = score(&forest, [5 + Double(generator.next() % 100) / 100, 5 + Double(generator.next() % 100) / 100], high: &high, low: &low)
        }
        var probe = forest
        let inCluster = score(&probe, [5.5, 5.5], high: &high, low: &low)
        let isolated = score(&forest, [9, 5.5], high: &high, low: &low)
        #expect(isolated > 3 * inCluster, "isolated \(isolated), cluster \(inCluster)")
        // The attribution sums to the score and points at the first dimension, on the high side.
        #expect(abs(high.reduce(0, +) + low.reduce(0, +) - isolated) < 1e-9 * max(1, isolated))
        #expect(high[0] > 0.8 * isolated)
        #expect(low[0] == 0)
    }

    @Test func shinglingCatchesABreakInASequencesShape() {
        // A repeating ramp 0, 1, ..., 9; then one step goes backwards by the same values that occur anyway.
        var plain = RandomCutForest(dimensions: 1, trees: 30, sampleSize: 64, seed: 7)
        var shingled = RandomCutForest(dimensions: 1, trees: 30, sampleSize: 64, shingleSize: 4, seed: 7)
        var high = [0.0], low = [0.0]
        var plainScores: [Double] = [], shingledScores: [Double] = []
        for i in 0..<2_000 {
            let value = i == 1_505 ? 2.0 : Double(i % 10)
            plainScores.append(score(&plain, [value], high: &high, low: &low))
            shingledScores.append(score(&shingled, [value], high: &high, low: &low))
        }
        let typical = shingledScores[1_400..<1_500].filter { !$0.isNaN }.max() ?? .nan
        #expect(shingledScores[1_505] > 2 * typical, "shingled break \(shingledScores[1_505]) vs \(typical)")
        let plainTypical = plainScores[1_400..<1_500].filter { !$0.isNaN }.max() ?? .nan
        #expect(plainScores[1_505] <= plainTypical * 1.5, "without shingles the value itself is ordinary")
    }

    @Test func nothingIsScoredBeforeTheSamplesHoldOutputAfterPoints() {
        var forest = RandomCutForest(dimensions: 1, trees: 5, sampleSize: 40, outputAfter: 10, seed: 9)
        var high = [0.0], low = [0.0]
        for i in 0..<9 { #expect(score(&forest, [Double(i)], high: &high, low: &low).isNaN) }
        _ = score(&forest, [9], high: &high, low: &low)
        #expect(!score(&forest, [10], high: &high, low: &low).isNaN)
    }
}
