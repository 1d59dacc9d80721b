import Testing
import VigilCore
import VigilModels

private func roundTrip<T: BinaryStateRepresentable>(_ value: T) throws -> T {
    var w = BinaryWriter()
    value.write(to: &w)
    var r = BinaryReader(w.bytes)
    let restored = try T(from: &r)
    #expect(r.isAtEnd)
    return restored
}

private func bytes<T: BinaryStateRepresentable>(_ value: T) -> [UInt8] {
    var w = BinaryWriter()
    value.write(to: &w)
    return w.bytes
}

private func event(_ i: Int, amount: Double) -> Event {
    var e = Event()
    e.entities[0] = EntityKey("card-\(i % 40)")!
    e.numeric[0] = amount
    e.numeric[1] = Double(i % 13)
    e.timeMs = 1_767_225_600_000 + Int64(i) * 1000
    return e
}

@Suite("Model state")
struct ModelStateTests {
    @Test func everyModelRoundTripsBitExactly() throws {
        var generator = SplitMix64(seed: 4)
        var hst = HalfSpaceTrees(dimensions: 2, trees: 5, height: 6, window: 20, seed: 1)
        var forest = RandomCutForest(dimensions: 2, trees: 5, sampleSize: 16, shingleSize: 2, seed: 2)
        var sketch = KLLSketch(k: 16)
        var zScore = RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 3)
        var contributions = [0.0, 0.0], low = [0.0, 0.0]
        for i in 0..<500 {
            let x = [Double(generator.next() % 100) / 100, Double(generator.next() % 100) / 100]
            _ = x.withUnsafeBufferPointer { p in contributions.withUnsafeMutableBufferPointer { hst.scoreAndLearn(p, contributions: $0) } }
            _ = x.withUnsafeBufferPointer { p in
                contributions.withUnsafeMutableBufferPointer { h in low.withUnsafeMutableBufferPointer { l in forest.scoreAndLearn(p, high: h, low: l) } }
            }
            sketch.add(x[0])
            _ = zScore.process(event(i, amount: x[0] * 100))
        }
        #expect(try roundTrip(hst) == hst)
        #expect(try roundTrip(forest) == forest)
        #expect(try bytes(roundTrip(sketch)) == bytes(sketch))
        #expect(try bytes(roundTrip(zScore)) == bytes(zScore))
    }

    /// A stage saved mid-stream and restored into a fresh stage continues exactly as the original.
    @Test func aRestoredStageContinuesExactlyLikeTheOriginal() throws {
        let specs = [
            DetectorSpec(name: "hst", kind: .halfSpaceTrees(inputs: [.numericField(0), .numericField(1)], trees: 10, height: 8, window: 50, ranges: nil, warmup: 100, margin: 0.1, seed: 3)),
            DetectorSpec(name: "rcf", kind: .randomCutForest(inputs: [.numericField(0), .numericField(1)], trees: 10, sampleSize: 32, shingleSize: 1, sampling: .timeDecay(lambda: 0.01), warmup: 100, seed: 4)),
            DetectorSpec(name: "z", kind: .robustZScore(input: .numericField(0), entity: nil, window: 16, minSamples: 4)),
        ]
        let policy = AlertPolicy(threshold: .percentile(99), cooldownMs: 60_000, calibrationWarmup: 100)
        var original = ScoringStage(specs: specs, rules: [], policy: policy)
        var generator = SplitMix64(seed: 9)
        let features: [Double] = []
        func run(_ stage: inout ScoringStage, _ e: Event) -> DetectionResult {
            var result = DetectionResult()
            features.withUnsafeBufferPointer { stage.process(e, features: $0, result: &result) }
            return result
        }
        for i in 0..<1_500 { _ = run(&original, event(i, amount: Double(generator.next() % 1000) / 10)) }
        let saved = original.saveState()
        var restored = ScoringStage(specs: specs, rules: [], policy: policy)
        try restored.restoreState(saved)
        #expect(restored.saveState() == saved, "re-saving gives the same bytes")
        for i in 1_500..<3_000 {
            let e = event(i, amount: i % 97 == 0 ? 5_000 : Double(generator.next() % 1000) / 10)
            let a = run(&original, e)
            let b = run(&restored, e)
            for d in 0..<specs.count {
                #expect(a.rawScores[d].bitPattern == b.rawScores[d].bitPattern)
                #expect(a.detectorScores[d].bitPattern == b.detectorScores[d].bitPattern)
            }
            #expect(a.alert == b.alert && a.score.bitPattern == b.score.bitPattern)
        }
    }

    @Test func corruptOrForeignStateIsRefusedWithAReason() throws {
        let specs = [DetectorSpec(name: "z", kind: .robustZScore(input: .numericField(0), entity: nil, window: 16, minSamples: 4))]
        let stage = ScoringStage(specs: specs, rules: [], policy: AlertPolicy())
        var saved = stage.saveState()
        saved[saved.count / 2] ^= 0xFF
        var target = ScoringStage(specs: specs, rules: [], policy: AlertPolicy())
        #expect(throws: StateError("state checksum mismatch: corrupt")) { try target.restoreState(saved) }
        #expect(throws: StateError("not Vigil state (bad magic)")) { try target.restoreState(Array("hello, world".utf8)) }
        var other = ScoringStage(specs: [DetectorSpec(name: "other", kind: .robustZScore(input: .numericField(0), entity: nil, window: 16, minSamples: 4))], rules: [], policy: AlertPolicy())
        #expect(throws: StateError.self) { try other.restoreState(stage.saveState()) }
        // Half-space trees of another shape (the config changed trees, height or window since the checkpoint).
        let hst = { (trees: Int) in
            [DetectorSpec(name: "hst", kind: .halfSpaceTrees(inputs: [.numericField(0)], trees: trees, height: 6, window: 50, ranges: nil, warmup: 10, margin: 0.1, seed: 3))]
        }
        var reshaped = ScoringStage(specs: hst(12), rules: [], policy: AlertPolicy())
        #expect(throws: StateError("saved half-space trees 'hst' have another shape than the configured ones")) {
            try reshaped.restoreState(ScoringStage(specs: hst(10), rules: [], policy: AlertPolicy()).saveState())
        }
        let future = BinaryWriter.envelope(kind: "scoring-stage", version: 99, payload: [])
        #expect(throws: StateError("scoring-stage state version 99 is not supported (supported: 1...2)")) { try target.restoreState(future) }
    }
}
