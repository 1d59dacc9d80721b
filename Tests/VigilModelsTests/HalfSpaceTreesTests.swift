import Testing
import VigilCore
import VigilModels

@Suite("Half-space trees")
struct HalfSpaceTreesTests {
    private func score(_ model: inout HalfSpaceTrees, _ point: [Double], contributions: inout [Double]) -> Double {
        point.withUnsafeBufferPointer { x in
            contributions.withUnsafeMutableBufferPointer { model.scoreAndLearn(x, contributions: $0) }
        }
    }

    @Test func massProfilesSwapEveryWindow() {
        var model = HalfSpaceTrees(dimensions: 2, trees: 1, height: 2, window: 4, seed: 1)
        var contributions = [0.0, 0.0]
        for _ in 0..<3 { _ = score(&model, [0.5, 0.5], contributions: &contributions) }
        #expect(model.referenceMass(tree: 0, node: 0) == 0, "no reference before the first window ends")
        #expect(model.latestMass(tree: 0, node: 0) == 3)
        _ = score(&model, [0.2, 0.9], contributions: &contributions)
        #expect(model.windows == 1)
        #expect(model.referenceMass(tree: 0, node: 0) == 4, "the latest window became the reference")
        #expect(model.latestMass(tree: 0, node: 0) == 0)
        // Every level of a complete tree partitions the root's mass.
        let level1 = model.referenceMass(tree: 0, node: 1) + model.referenceMass(tree: 0, node: 2)
        let level2 = (3...6).map { model.referenceMass(tree: 0, node: $0) }.reduce(0, +)
        #expect(level1 == 4 && level2 == 4)
    }

    @Test func anIsolatedPointScoresHigherThanAClusterPoint() {
        var model = HalfSpaceTrees(dimensions: 2, trees: 25, height: 8, window: 200, seed: 7)
        var generator = SplitMix64(seed: 5)
        var contributions = [0.0, 0.0]
        func clusterPoint() -> [Double] {
            [0.3 + Double(generator.next() % 1000) / 10_000, 0.6 + Double(generator.next() % 1000) / 10_000]
        }
        for _ in 0..<400 { _ = score(&model, clusterPoint(), contributions: &contributions) }
        var probe = model
        let inCluster = score(&probe, [0.35, 0.65], contributions: &contributions)
        let isolated = score(&model, [0.95, 0.05], contributions: &contributions)
        #expect(isolated > inCluster + 0.2, "isolated \(isolated), cluster \(inCluster)")
        #expect(abs(contributions.reduce(0, +) - isolated) < 1e-9, "contributions add up to the score")
    }

    @Test func theUnusualInputGetsTheCredit() {
        var model = HalfSpaceTrees(dimensions: 3, trees: 25, height: 10, window: 256, seed: 9)
        var generator = SplitMix64(seed: 8)
        var contributions = [0.0, 0.0, 0.0]
        for _ in 0..<512 {
            let p = (0..<3).map { _ in 0.4 + Double(generator.next() % 1000) / 5000 }
            _ = score(&model, p, contributions: &contributions)
        }
        _ = score(&model, [0.5, 0.99, 0.5], contributions: &contributions)
        #expect(contributions[1] > contributions[0] && contributions[1] > contributions[2], "\(contributions)")
    }

    @Test func stateIsReproducibleFromTheSeed() {
        var a = HalfSpaceTrees(dimensions: 2, trees: 5, height: 6, window: 50, seed: 11)
        var b = HalfSpaceTrees(dimensions: 2, trees: 5, height: 6, window: 50, seed: 11)
        var contributions = [0.0, 0.0]
        for i in 0..<120 {
            let p = [Double(i % 7) / 7, Double(i % 11) / 11]
            #expect(score(&a, p, contributions: &contributions) == score(&b, p, contributions: &contributions))
        }
        #expect(a == b)
    }
}
