import Testing
import VigilCore
import VigilModels

private func event(card: String, amount: Double, at ms: Int64) -> Event {
    var e = Event()
    e.entities[0] = EntityKey(card)!
    e.numeric[0] = amount
    e.timeMs = ms
    return e
}

@Suite("Detectors and scoring")
struct DetectorTests {
    @Test func robustZScoreRanksAnIsolatedPointAboveAClusterPoint() {
        var detector = RobustZScoreDetector(field: 0, entity: 0, window: 16, minSamples: 4)
        let habits: [Double] = [10, 12, 11, 9, 10, 13, 11, 10]
        for (i, amount) in habits.enumerated() {
            let r = detector.process(event(card: "a", amount: amount, at: Int64(i)))
            #expect(r.isWarm == (i >= 4))
        }
        var probe = detector
        let typical = probe.process(event(card: "a", amount: 11, at: 100))
        let outlier = detector.process(event(card: "a", amount: 400, at: 100))
        #expect(outlier.score > 0.999)
        #expect(typical.score < 0.7)
        // Sorted 9 10 10 10 11 11 12 13: median 10.5; deviations .5 .5 .5 .5 .5 1.5 1.5 2.5: MAD 0.5.
        #expect(abs(outlier.z - (400 - 10.5) / (1.4826 * 0.5)) < 1e-9)
        // Another card has no baseline yet.
        #expect(!detector.process(event(card: "b", amount: 400, at: 100)).isWarm)
    }

    @Test func kllQuantilesStayWithinTheirErrorBound() {
        var sketch = KLLSketch(k: 200)
        var generator = SeededGenerator(seed: 42)
        let n = 1_000_000
        var values: [Double] = []
        values.reserveCapacity(n)
        for _ in 0..<n {
            let v = Double.random(in: 0..<1, using: &generator)
            values.append(v)
            sketch.add(v)
        }
        values.sort()
        for q in [0.01, 0.1, 0.5, 0.9, 0.99, 0.999] {
            let estimate = sketch.quantile(q)
            let trueRank = Double(countAtOrBelow(values, estimate)) / Double(n)
            // KLL's rank error is about 1.65 / k = 0.8 % for k = 200 with high probability.
            #expect(abs(trueRank - q) < 0.0125, "q \(q): rank \(trueRank)")
        }
        #expect(sketch.retained < 2_000)
        #expect(abs(sketch.rank(0.5) - 0.5) < 0.0125)
    }

    @Test func rulesAlertAndCooldownSuppressRepeatsPerEntity() throws {
        let expression = try RuleParser.parse("amount < 2") { $0 == "amount" ? .numericField(0) : nil }
        var engine = DetectionEngine(
            rules: [Rule(name: "tiny", source: "amount < 2", expression: expression)],
            zScores: [],
            policy: AlertPolicy(threshold: .score(0.99), cooldownMs: 60_000),
            primaryEntity: 0
        )
        let features: [Double] = []
        func run(_ e: Event) -> DetectionResult { features.withUnsafeBufferPointer { engine.process(e, features: $0) } }
        let first = run(event(card: "a", amount: 1, at: 0))
        #expect(first.alert && first.firedRules == 1 && first.score == 1)
        let repeated = run(event(card: "a", amount: 1, at: 30_000))
        #expect(!repeated.alert && repeated.suppressedByCooldown && repeated.firedRules == 1)
        #expect(run(event(card: "b", amount: 1, at: 30_000)).alert, "cooldown is per entity")
        #expect(run(event(card: "a", amount: 1, at: 61_000)).alert, "cooldown over")
        #expect(!run(event(card: "a", amount: 5, at: 200_000)).alert)
    }

    @Test func detectorScoresCombineAndExplainTheField() {
        var engine = DetectionEngine(
            rules: [],
            zScores: [.init(name: "amount_z", detector: RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 4))],
            policy: AlertPolicy(threshold: .score(0.999), cooldownMs: 0),
            primaryEntity: 0
        )
        let features: [Double] = []
        for (i, amount) in [10.0, 11, 9, 10, 12].enumerated() {
            let r = features.withUnsafeBufferPointer { engine.process(event(card: "a", amount: amount, at: Int64(i)), features: $0) }
            #expect(!r.alert)
        }
        let spike = features.withUnsafeBufferPointer { engine.process(event(card: "a", amount: 500, at: 10), features: $0) }
        #expect(spike.alert)
        #expect(spike.warmDetectors == 1)
        #expect(spike.score == spike.detectorScores[0])
        #expect(spike.explanation[0].source == .numericField(0))
        #expect(spike.explanation[0].value == 500)
        #expect(spike.explanation[0].contribution > 100)
    }
}

/// How many of the sorted values are at or below `value` (binary search).
private func countAtOrBelow(_ sorted: [Double], _ value: Double) -> Int {
    var low = 0
    var high = sorted.count
    while low < high {
        let mid = (low + high) / 2
        if sorted[mid] <= value { low = mid + 1 } else { high = mid }
    }
    return low
}

/// A deterministic generator (SplitMix64), so the test is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return FNV1a.mix(state)
    }
}
