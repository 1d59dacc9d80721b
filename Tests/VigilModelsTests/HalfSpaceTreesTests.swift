import Testing
import VigilCore
@testable import VigilModels

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

    /// A stream with a drifting cluster, a second cluster and scattered outliers, scaled to [0, 1].
    private func mixedStream(count: Int, dimensions: Int, seed: UInt64) -> [[Double]] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let kind = generator.next() % 20
            return (0..<dimensions).map { q in
                let jitter = Double(generator.next() % 1000) / 20_000
                switch kind {
                case 0: return Double(generator.next() % 1000) / 1000
                case 1...6: return 0.7 + jitter
                default: return 0.2 + Double(q) * 0.05 + Double(i) / Double(count) * 0.1 + jitter
                }
            }
        }
    }

    /// Events around `clusters` fixed points, a few millionths apart, with a moving share of uniform noise: each
    /// cluster holds the size limit down to the leaves, so the reference trees get more end nodes than their
    /// tests can number (64) and are walked.
    private func clusteredStream(count: Int, dimensions: Int, clusters: Int, seed: UInt64) -> [[Double]] {
        var generator = SplitMix64(seed: seed)
        let centers = (0..<clusters).map { _ in (0..<dimensions).map { _ in generator.uniform() } }
        return (0..<count).map { i in
            if generator.next() % 100 < UInt64(i * 20 / count) { return (0..<dimensions).map { _ in generator.uniform() } }
            let center = centers[Int(generator.next() % UInt64(clusters))]
            return center.map { $0 + Double(generator.next() % 1000) / 1e9 }
        }
    }

    enum StreamKind: CaseIterable { case mixed, clustered }

    private func stream(_ kind: StreamKind, count: Int, dimensions: Int, seed: UInt64) -> [[Double]] {
        switch kind {
        case .mixed: mixedStream(count: count, dimensions: dimensions, seed: seed)
        case .clustered: clusteredStream(count: count, dimensions: dimensions, clusters: 8, seed: seed)
        }
    }

    /// The reference trees built from the previous ones (end nodes' counts, end nodes partitioned further where
    /// they now hold the limit, subtrees cut where they no longer do), the tests that find end nodes without a
    /// walk, the walks of trees with too many end nodes, and models that walk every tree (`findsEndsByTests`
    /// false, as per entity key): all score exactly like counting every node.
    @Test(arguments: StreamKind.allCases, [true, false])
    func scoresExactlyLikeThePlainAlgorithm(kind: StreamKind, byTests: Bool) {
        // Clusters in two inputs and 15 levels: deep enough for each cluster to have a path of its own.
        let (dimensions, height) = kind == .mixed ? (4, 12) : (2, 15)
        var model = HalfSpaceTrees(dimensions: dimensions, trees: 10, height: height, window: 250, seed: 21, findsEndsByTests: byTests)
        var plain = FullDepthTrees(model)
        var contributions = [Double](repeating: 0, count: dimensions)
        var (warmScores, mostWalked, fewestWalked) = (0, 0, Int.max)
        for point in stream(kind, count: 3_000, dimensions: dimensions, seed: 3) {
            let score = score(&model, point, contributions: &contributions)
            let (expected, expectedContributions) = plain.scoreAndLearn(point)
            #expect(score == expected)
            #expect(contributions == expectedContributions)
            if score > 0 { warmScores += 1 }
            if model.isWarm { (mostWalked, fewestWalked) = (max(mostWalked, model.walkedTrees), min(fewestWalked, model.walkedTrees)) }
        }
        #expect(warmScores > 2_000, "the comparison covers warm windows")
        #expect((0..<10).allSatisfy { model.latestMass(tree: $0, node: 0) == plain.latest[$0][0] })
        switch kind {
        case _ where !byTests: #expect(fewestWalked == 10 && mostWalked == 10, "every tree walked")
        case .mixed: #expect(mostWalked == 0, "every tree tested")
        case .clustered: #expect(mostWalked > 0 && fewestWalked < mostWalked, "trees walked and tested, \(fewestWalked)...\(mostWalked)")
        }
    }

    /// A missing input (NaN) fails every split's `x < value`, so a walk sends it right everywhere: the tests that
    /// find end nodes without a walk (`ReferenceTrees.exit`) must rule out every end node left of a split on it.
    @Test func aMissingInputGoesWhereAWalkSendsIt() {
        var tested = HalfSpaceTrees(dimensions: 4, trees: 10, height: 12, window: 250, seed: 21, findsEndsByTests: true)
        var walked = HalfSpaceTrees(dimensions: 4, trees: 10, height: 12, window: 250, seed: 21, findsEndsByTests: false)
        var generator = SplitMix64(seed: 17)
        var (testedShares, walkedShares) = ([Double](repeating: 0, count: 4), [Double](repeating: 0, count: 4))
        var (missing, warm) = (0, 0)
        for var point in mixedStream(count: 3_000, dimensions: 4, seed: 5) {
            for q in 0..<4 where generator.next() % 8 == 0 {
                point[q] = .nan
                missing += 1
            }
            let a = score(&tested, point, contributions: &testedShares)
            let b = score(&walked, point, contributions: &walkedShares)
            #expect(a == b)
            #expect(testedShares == walkedShares)
            if a > 0 { warm += 1 }
        }
        #expect(missing > 1_000 && warm > 2_000, "the comparison covers missing inputs in warm windows")
        #expect(tested.walkedTrees == 0, "every tree tested")
    }

    /// What a model writes holds the plain algorithm's latest counts at every node and its reference counts
    /// wherever a score can read them (0 elsewhere).
    @Test func theWrittenStateHoldsThePlainAlgorithmsCounts() throws {
        var model = HalfSpaceTrees(dimensions: 3, trees: 6, height: 9, window: 100, seed: 4)
        var plain = FullDepthTrees(model)
        var contributions = [Double](repeating: 0, count: 3)
        for (i, point) in mixedStream(count: 1_030, dimensions: 3, seed: 6).enumerated() {
            _ = score(&model, point, contributions: &contributions)
            _ = plain.scoreAndLearn(point)
            guard i % 250 == 0 || i == 999 || i == 1_029 else { continue }
            var w = BinaryWriter()
            model.write(to: &w)
            var r = BinaryReader(w.bytes)
            _ = try (r.readInt(), r.readInt(), r.readInt(), r.readInt(), r.readInt32s(), r.readDoubles())
            let (reference, latest) = (try r.readFloats(), try r.readFloats())
            let nodes = (1 << 10) - 1
            for tree in 0..<6 {
                #expect(latest[tree * nodes..<(tree + 1) * nodes].map(Double.init) == plain.latest[tree], "event \(i)")
                let readable = plain.readableNodes(tree: tree)
                for node in 0..<nodes {
                    #expect(Double(reference[tree * nodes + node]) == (readable.contains(node) ? plain.reference[tree][node] : 0), "event \(i), node \(node)")
                }
            }
        }
    }

    /// A checkpoint that counted every node (what models wrote before they kept only the readable part, and
    /// what they still read) restores into a model that goes on exactly like the plain algorithm.
    @Test(arguments: [0, 37, 249])
    func aCheckpointOfEveryNodesCountsRestoresExactly(intoWindow: Int) throws {
        let model = HalfSpaceTrees(dimensions: 3, trees: 8, height: 10, window: 250, seed: 13)
        var plain = FullDepthTrees(model)
        let points = mixedStream(count: 2_000, dimensions: 3, seed: 17)
        let cut = 750 + intoWindow
        for point in points[..<cut] { _ = plain.scoreAndLearn(point) }
        var w = BinaryWriter()
        w.write(3); w.write(8); w.write(10); w.write(250)
        let splits = (0..<8).flatMap { tree in (0..<((1 << 10) - 1)).map { model.split(tree: tree, node: $0) } }
        w.write(splits.map { Int32($0.input) }); w.write(splits.map(\.value))
        w.write(plain.reference.flatMap { $0.map(Float.init) }); w.write(plain.latest.flatMap { $0.map(Float.init) })
        w.write(plain.seen); w.write(plain.windows)
        var r = BinaryReader(w.bytes)
        var restored = try HalfSpaceTrees(from: &r)
        var contributions = [Double](repeating: 0, count: 3)
        for point in points[cut...] {
            let got = score(&restored, point, contributions: &contributions)
            let (expected, expectedContributions) = plain.scoreAndLearn(point)
            #expect(got == expected)
            #expect(contributions == expectedContributions)
        }
    }

    /// A reference tree has room for what one window can hold; a checkpoint whose masses would need more nodes
    /// (every node at the size limit, down to the leaves: no window of 250 events has that) is refused with a
    /// state error, not grown into and not a crash.
    @Test func referenceMassesNoWindowCanHaveAreRefused() throws {
        let model = HalfSpaceTrees(dimensions: 3, trees: 2, height: 8, window: 250, seed: 13)
        let nodes = (1 << 9) - 1
        func checkpoint(masses: [Float]) -> [UInt8] {
            var w = BinaryWriter()
            w.write(3); w.write(2); w.write(8); w.write(250)
            let splits = (0..<2).flatMap { tree in (0..<((1 << 8) - 1)).map { model.split(tree: tree, node: $0) } }
            w.write(splits.map { Int32($0.input) }); w.write(splits.map(\.value))
            w.write(masses); w.write([Float](repeating: 0, count: 2 * nodes))
            w.write(0); w.write(3)
            return w.bytes
        }
        var legit = BinaryReader(checkpoint(masses: [Float](repeating: 0, count: 2 * nodes)))
        _ = try HalfSpaceTrees(from: &legit)
        var corrupt = BinaryReader(checkpoint(masses: [Float](repeating: 25, count: 2 * nodes)))
        #expect(throws: StateError.self) { _ = try HalfSpaceTrees(from: &corrupt) }
    }

    /// Recording the walk and working out the shares afterwards (what the ordered stage does, for alerts only)
    /// gives the scores and the shares of working them out during the walk, bit for bit, warm or not.
    @Test func sharesFromARecordedWalkEqualSharesDuringTheWalk() {
        var eager = HalfSpaceTrees(dimensions: 3, trees: 25, height: 10, window: 50, seed: 11)
        var recorded = eager
        var walk = recorded.makeWalk()
        var rng = SplitMix64(seed: 5)
        var during = [Double](repeating: .nan, count: 3)
        var after = [Double](repeating: .nan, count: 3)
        for i in 0..<400 {
            let point = i % 37 == 0 ? [0.97, 0.02, 0.5] : [0.3 + 0.1 * rng.uniform(), 0.6 + 0.1 * rng.uniform(), rng.uniform()]
            let expected = score(&eager, point, contributions: &during)
            let got = point.withUnsafeBufferPointer { recorded.scoreAndLearn($0, walk: &walk) }
            after.withUnsafeMutableBufferPointer { recorded.contributions(of: walk, into: $0) }
            #expect(got.bitPattern == expected.bitPattern)
            #expect(after.map(\.bitPattern) == during.map(\.bitPattern), "event \(i)")
        }
        #expect(during.reduce(0, +) > 0, "the stream warmed the model up")
    }

    /// Scoring runs of events tree by tree (what the ordered stage does) gives every event the score and the
    /// shares of scoring it alone, bit for bit, for runs up to a window's end (where the stage cuts them), and
    /// leaves the same model.
    @Test(arguments: [1, 7, 64, 250])
    func runsScoredTreeByTreeEqualEventsScoredOneByOne(run: Int) {
        var single = HalfSpaceTrees(dimensions: 4, trees: 12, height: 9, window: 50, seed: 17)
        var batched = single
        var walk = single.makeWalk()
        var runWalk = batched.makeWalk(events: run)
        let stream = mixedStream(count: 700, dimensions: 4, seed: 12)
        var expectedScores: [UInt64] = []
        var expectedShares: [[UInt64]] = []
        var shares = [Double](repeating: 0, count: 4)
        for point in stream {
            let score = point.withUnsafeBufferPointer { single.scoreAndLearn($0, walk: &walk) }
            shares.withUnsafeMutableBufferPointer { single.contributions(of: walk, into: $0) }
            expectedScores.append(score.bitPattern)
            expectedShares.append(shares.map(\.bitPattern))
        }
        var scores = [Double](repeating: .nan, count: run)
        var start = 0
        var mismatches = 0
        while start < stream.count {
            let count = min(run, stream.count - start, batched.eventsLeftInWindow)
            let points = stream[start..<start + count].flatMap { $0 }
            points.withUnsafeBufferPointer { p in
                scores.withUnsafeMutableBufferPointer { batched.scoreAndLearn(batch: p.baseAddress!, count: count, scores: $0.baseAddress!, walk: &runWalk) }
            }
            for e in 0..<count {
                shares.withUnsafeMutableBufferPointer { batched.contributions(of: runWalk, event: e, into: $0) }
                if scores[e].bitPattern != expectedScores[start + e] || shares.map(\.bitPattern) != expectedShares[start + e] { mismatches += 1 }
            }
            start += count
        }
        #expect(mismatches == 0)
        #expect(batched == single)
        #expect(expectedScores.filter { $0 != 0 }.count > 500, "most events were scored warm")
    }

    @Test(arguments: StreamKind.allCases, [true, false])
    func aModelRestoredMidWindowContinuesExactly(kind: StreamKind, byTests: Bool) throws {
        let (dimensions, height) = kind == .mixed ? (3, 10) : (2, 15)
        var model = HalfSpaceTrees(dimensions: dimensions, trees: 8, height: height, window: 200, seed: 5, findsEndsByTests: byTests)
        var contributions = [Double](repeating: 0, count: dimensions)
        let stream = stream(kind, count: 1_500, dimensions: dimensions, seed: 9)
        for point in stream[..<730] { _ = score(&model, point, contributions: &contributions) }
        var w = BinaryWriter()
        model.write(to: &w)
        var r = BinaryReader(w.bytes)
        var restored = try HalfSpaceTrees(from: &r, findsEndsByTests: byTests)
        #expect(restored == model)
        if kind == .clustered, byTests { #expect(restored.walkedTrees > 0, "the restored reference has walked trees") }
        for point in stream[730...] {
            #expect(score(&restored, point, contributions: &contributions) == score(&model, point, contributions: &contributions))
        }
        #expect(restored == model)
    }
}

/// Half-space trees as the paper states them, every event counted at every node of its path, over the splits
/// of a `HalfSpaceTrees`: what the model, with its lazily rolled masses, must score identically to.
private struct FullDepthTrees {
    let model: HalfSpaceTrees
    var latest: [[Double]]
    var reference: [[Double]]
    var seen = 0
    var windows = 0

    init(_ model: HalfSpaceTrees) {
        self.model = model
        let nodes = (1 << (model.height + 1)) - 1
        latest = Array(repeating: Array(repeating: 0, count: nodes), count: model.trees)
        reference = latest
    }

    /// The nodes of tree `tree` whose reference mass a score can read: the root, and the children of every node
    /// above the leaves holding the size limit whose own mass can be read.
    func readableNodes(tree: Int) -> Set<Int> {
        var readable: Set<Int> = [0]
        var stack = [(node: 0, depth: 0)]
        while let (node, depth) = stack.popLast() {
            guard depth < model.height, reference[tree][node] >= model.sizeLimit else { continue }
            for child in [2 * node + 1, 2 * node + 2] {
                readable.insert(child)
                stack.append((child, depth + 1))
            }
        }
        return readable
    }

    mutating func scoreAndLearn(_ x: [Double]) -> (Double, [Double]) {
        let (trees, height, window) = (model.trees, model.height, Double(model.window))
        var contributions = [Double](repeating: 0, count: model.dimensions)
        var total = 0.0
        for tree in 0..<trees {
            var node = 0
            var treeScore = 0.0
            var scored = false
            var path: [(input: Int, shortfall: Double)] = []
            for depth in 0...height {
                latest[tree][node] += 1
                let mass = reference[tree][node]
                if !scored, depth == height || mass < model.sizeLimit {
                    treeScore = mass * Double(1 << depth)
                    scored = true
                }
                if depth == height { break }
                let split = model.split(tree: tree, node: node)
                let child = x[split.input] < split.value ? 2 * node + 1 : 2 * node + 2
                if !scored { path.append((split.input, Swift.max(0, mass / 2 - reference[tree][child]))) }
                node = child
            }
            total += treeScore
            guard windows > 0, !path.isEmpty else { continue }
            let treeAnomaly = (1 - treeScore / (window * Double(1 << height))) / Double(trees)
            let shortfallTotal = path.reduce(0) { $0 + $1.shortfall }
            for step in path {
                contributions[step.input] += treeAnomaly * (shortfallTotal > 0 ? step.shortfall / shortfallTotal : 1 / Double(path.count))
            }
        }
        let score = windows > 0 ? Swift.max(0, 1 - total / (Double(trees) * window * Double(1 << height))) : 0
        seen += 1
        if seen == model.window {
            seen = 0
            windows += 1
            reference = latest
            latest = latest.map { $0.map { _ in 0 } }
        }
        return (score, contributions)
    }
}

