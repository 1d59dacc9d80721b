import Testing
import VigilCore
import VigilModels

@Suite("Forests kept per entity key")
struct EntityForestDetectorTests {
    static func event(key: String, amount: Double, timeMs: Int64) -> Event {
        var event = Event()
        event.entities[0] = EntityKey(key)!
        event.numeric[0] = amount
        event.timeMs = timeMs
        return event
    }

    static let trees = DetectorSpec.Kind.halfSpaceTrees(
        inputs: [.numericField(0)], trees: 10, height: 6, window: 32, ranges: nil, warmup: 16, margin: 0.1, seed: 3)

    /// Card A spends about 10, card B about 1,000. A 1,000 on card A is unusual for A; the same 1,000 on card B
    /// is its normal. One model over both cards would see two busy regions and judge neither.
    @Test(arguments: [trees, DetectorSpec.Kind.randomCutForest(inputs: [.numericField(0)], trees: 10, sampleSize: 32, shingleSize: 1, sampling: .reservoir, warmup: 16, seed: 3)])
    func eachKeyIsJudgedAgainstItsOwnHistory(kind: DetectorSpec.Kind) throws {
        var detector = EntityForestDetector(kind: kind, entity: 0, maxKeys: 100, ttlMs: .max / 4)
        var rng = SplitMix64(seed: 9)
        var t: Int64 = 1_000
        let empty = UnsafeBufferPointer<Double>(start: nil, count: 0)
        for _ in 0..<200 {
            t += 1_000
            _ = detector.process(Self.event(key: "card-a", amount: 10 + 4 * rng.uniform(), timeMs: t), features: empty)
            _ = detector.process(Self.event(key: "card-b", amount: 1_000 + 400 * rng.uniform(), timeMs: t), features: empty)
        }
        #expect(detector.keyCount == 2)
        var probe = detector
        let a = probe.process(Self.event(key: "card-a", amount: 1_100, timeMs: t + 1), features: empty)
        let unusualForA = try #require(a)
        probe = detector
        let b = probe.process(Self.event(key: "card-b", amount: 1_100, timeMs: t + 1), features: empty)
        let normalForB = try #require(b)
        probe = detector
        let c = probe.process(Self.event(key: "card-a", amount: 12, timeMs: t + 1), features: empty)
        let normalForA = try #require(c)
        #expect(unusualForA > normalForB, "1,100 on card A scores \(unusualForA), on card B \(normalForB)")
        #expect(unusualForA > normalForA)
        #expect(probe.contributions[0] + probe.lowContributions[0] >= 0)
    }

    @Test func aNewKeyIsColdUntilItsOwnModelWarms() {
        var detector = EntityForestDetector(kind: Self.trees, entity: 0, maxKeys: 100, ttlMs: .max / 4)
        let empty = UnsafeBufferPointer<Double>(start: nil, count: 0)
        var firstWarm: Int?
        for i in 0..<100 where firstWarm == nil {
            if detector.process(Self.event(key: "card-a", amount: Double(i % 7), timeMs: Int64(i) * 1000), features: empty) != nil { firstWarm = i }
        }
        // 16 events learn the ranges, then one window of 32 becomes the reference.
        #expect(firstWarm == 16 + 32 - 1, "event 15 completes the ranges and joins the first window; events 15...46 fill it")
        let coldB = detector.process(Self.event(key: "card-b", amount: 3, timeMs: 200_000), features: empty)
        #expect(coldB == nil, "card B has no history yet")
    }

    @Test func keysBeyondTheLimitEvictTheLeastRecentlySeen() {
        var detector = EntityForestDetector(kind: Self.trees, entity: 0, maxKeys: 3, ttlMs: .max / 4)
        let empty = UnsafeBufferPointer<Double>(start: nil, count: 0)
        for i in 0..<50 {
            _ = detector.process(Self.event(key: "card-\(i)", amount: 1, timeMs: Int64(i) * 1000), features: empty)
        }
        #expect(detector.keyCount == 3)
    }

    /// A stage with a per-merchant forest saves and restores bit-exactly: the restored copy scores the rest of
    /// the stream exactly as the original does.
    @Test func perKeyStateRoundTripsThroughTheStageState() throws {
        let specs = [DetectorSpec(name: "merchant_hst", kind: Self.trees, perEntity: .init(entity: 1, maxKeys: 50, ttlMs: .max / 4))]
        var stage = ScoringStage(specs: specs, rules: [], policy: AlertPolicy(), primaryEntity: 0)
        var rng = SplitMix64(seed: 4)
        func next(_ i: Int) -> Event {
            var event = Self.event(key: "card-\(i % 13)", amount: 50 + 50 * rng.uniform(), timeMs: Int64(i) * 500)
            event.entities[1] = EntityKey("m-\(i % 7)")!
            return event
        }
        let empty = UnsafeBufferPointer<Double>(start: nil, count: 0)
        for i in 0..<2_000 {
            var result = DetectionResult()
            stage.process(next(i), features: empty, result: &result)
        }
        let saved = stage.saveState()
        var restored = ScoringStage(specs: specs, rules: [], policy: AlertPolicy(), primaryEntity: 0)
        try restored.restoreState(saved)
        #expect(restored.saveState() == saved)
        var warm = 0
        for i in 2_000..<2_500 {
            let event = next(i)
            var a = DetectionResult()
            var b = DetectionResult()
            stage.process(event, features: empty, result: &a)
            restored.process(event, features: empty, result: &b)
            #expect(a.rawScores[0].bitPattern == b.rawScores[0].bitPattern)
            if a.warmDetectors & 1 != 0 { warm += 1 }
        }
        #expect(warm == 500, "every merchant's model is warm by then")
    }
}
