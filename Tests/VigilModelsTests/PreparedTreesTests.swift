import Testing
import VigilCore
import VigilModels

@Suite("Ordered stage: half-space trees scored ahead")
struct PreparedTreesTests {
    private let specs = [
        DetectorSpec(
            name: "hst",
            kind: .halfSpaceTrees(
                inputs: [.numericField(0), .feature(0)], trees: 15, height: 8, window: 40, ranges: nil, warmup: 60, margin: 0.1, seed: 5)),
        DetectorSpec(name: "amount_z", kind: .robustZScore(input: .numericField(0), entity: nil, window: 16, minSamples: 4)),
    ]
    private var policy: AlertPolicy { AlertPolicy(threshold: .percentile(98), cooldownMs: 0, calibrationWarmup: 50) }

    /// Events with an ordinary amount, now and then a spike, and one feature.
    private func stream(count: Int) -> [(event: Event, features: [Double])] {
        var generator = SplitMix64(seed: 21)
        return (0..<count).map { i in
            let spike = i % 97 == 0
            let amount = spike ? 400 + Double(generator.next() % 100) : 20 + Double(generator.next() % 1000) / 50
            return (cardEvent(card: "c\(i % 13)", amount: amount, at: Int64(i) * 1000), [Double(generator.next() % 10)])
        }
    }

    private func same(_ a: DetectionResult, _ b: DetectionResult) -> Bool {
        (0..<specs.count).allSatisfy { a.rawScores[$0].bitPattern == b.rawScores[$0].bitPattern && a.detectorScores[$0].bitPattern == b.detectorScores[$0].bitPattern }
            && a.warmDetectors == b.warmDetectors && a.score.bitPattern == b.score.bitPattern && a.alert == b.alert
            && (0..<DetectionResult.maxExplanation).allSatisfy { same(a.explanation[$0], b.explanation[$0]) }
    }

    private func same(_ a: ExplanationItem, _ b: ExplanationItem) -> Bool {
        a.source == b.source && a.value.bitPattern == b.value.bitPattern && a.contribution.bitPattern == b.contribution.bitPattern && a.detector == b.detector
    }

    /// Through the warm-up of the input ranges, window ends and alerts with explanations, events whose trees
    /// were scored ahead in runs of uneven length get exactly the results of events scored one by one.
    @Test func eventsScoredAheadInRunsGetTheResultsOfEventsScoredOneByOne() {
        let events = stream(count: 1_500)
        var single = ScoringStage(specs: specs, rules: [], policy: policy)
        var ahead = single
        var expected: [DetectionResult] = []
        for (event, features) in events {
            var result = DetectionResult()
            features.withUnsafeBufferPointer { single.process(event, features: $0, result: &result) }
            expected.append(result)
        }
        var mismatches = 0
        var start = 0
        var runLength = 1
        while start < events.count {
            let count = min(runLength, events.count - start, ahead.treesRunLimit)
            let run = Array(events[start..<start + count])
            withUnsafeTemporaryAllocation(of: Event.self, capacity: count) { stored in
                _ = stored.initialize(from: run.map(\.event))
                let featureRows = run.map(\.features)
                featureRows.withUnsafeBufferPointer { rows in
                    ahead.prepareTrees(count: count) { e in
                        (UnsafePointer(stored.baseAddress! + e), rows[e].withUnsafeBufferPointer { $0 })
                    }
                }
            }
            for (e, (event, features)) in run.enumerated() {
                var result = DetectionResult()
                features.withUnsafeBufferPointer { ahead.process(event, features: $0, result: &result) }
                if !same(result, expected[start + e]) { mismatches += 1 }
            }
            start += count
            runLength = runLength % 64 + 9
        }
        #expect(mismatches == 0)
        #expect(expected.contains { $0.alert && $0.explanation[0].detector == 0 }, "the trees explained alerts")
        let sameState = ahead.saveState() == single.saveState()
        #expect(sameState, "the same learned state")
    }
}
