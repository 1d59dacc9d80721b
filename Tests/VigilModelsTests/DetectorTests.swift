import Testing
import VigilCore
import VigilModels

@Suite("Detectors and scoring")
struct DetectorTests {
    @Test func robustZScoreRanksAnIsolatedPointAboveAClusterPoint() {
        var detector = RobustZScoreDetector(field: 0, entity: 0, window: 16, minSamples: 4)
        let habits: [Double] = [10, 12, 11, 9, 10, 13, 11, 10]
        for (i, amount) in habits.enumerated() {
            let r = detector.process(cardEvent(card: "a", amount: amount, at: Int64(i)))
            #expect(r.isWarm == (i >= 4))
        }
        var probe = detector
        let typical = probe.process(cardEvent(card: "a", amount: 11, at: 100))
        let outlier = detector.process(cardEvent(card: "a", amount: 400, at: 100))
        #expect(outlier.score > 100)
        #expect(typical.score < 1)
        // Sorted 9 10 10 10 11 11 12 13: median 10.5; deviations .5 .5 .5 .5 .5 1.5 1.5 2.5: MAD 0.5.
        #expect(abs(outlier.z - (400 - 10.5) / (1.4826 * 0.5)) < 1e-9)
        // Another card has no baseline yet.
        #expect(!detector.process(cardEvent(card: "b", amount: 400, at: 100)).isWarm)
    }

    @Test func kllQuantilesStayWithinTheirErrorBound() {
        var sketch = KLLSketch(k: 200)
        var generator = SplitMix64(seed: 42)
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
        var stage = ScoringStage(
            specs: [],
            rules: [Rule(name: "tiny", source: "amount < 2", expression: expression)],
            policy: AlertPolicy(threshold: .score(0.99), cooldownMs: 60_000)
        )
        let features: [Double] = []
        func run(_ e: Event) -> DetectionResult {
            var result = DetectionResult()
            features.withUnsafeBufferPointer { stage.process(e, features: $0, result: &result) }
            return result
        }
        let first = run(cardEvent(card: "a", amount: 1, at: 0))
        #expect(first.alert && first.firedRules == 1 && first.score == 1)
        let repeated = run(cardEvent(card: "a", amount: 1, at: 30_000))
        #expect(!repeated.alert && repeated.suppressedByCooldown && repeated.firedRules == 1)
        #expect(run(cardEvent(card: "b", amount: 1, at: 30_000)).alert, "cooldown is per entity")
        #expect(run(cardEvent(card: "a", amount: 1, at: 61_000)).alert, "cooldown over")
        #expect(!run(cardEvent(card: "a", amount: 5, at: 200_000)).alert)
    }

    @Test func perEntityScoresAreCalibratedCombinedAndExplained() {
        let specs = [DetectorSpec(name: "amount_z", kind: .robustZScore(input: .numericField(0), entity: 0, window: 8, minSamples: 4))]
        var detectors = EntityDetectors(specs: specs, maxKeys: 100, ttlMs: .max / 4)
        var stage = ScoringStage(specs: specs, rules: [], policy: AlertPolicy(threshold: .percentile(99), cooldownMs: 0, calibrationWarmup: 20))
        let features: [Double] = []
        func run(_ e: Event) -> DetectionResult {
            var result = DetectionResult()
            features.withUnsafeBufferPointer {
                detectors.process(e, features: $0, primaryKey: nil, into: &result)
                stage.process(e, features: $0, result: &result)
            }
            return result
        }
        var generator = SplitMix64(seed: 3)
        var alerts = 0
        for i in 0..<1000 {
            let r = run(cardEvent(card: "c\(i % 10)", amount: 10 + Double(generator.next() % 100) / 50, at: Int64(i)))
            if i >= 200, r.alert { alerts += 1 }
        }
        // A 99th-percentile threshold alerts on about 1 % of ordinary events once calibrated.
        #expect(alerts <= 24, "\(alerts) alerts in 800 ordinary events")
        let spike = run(cardEvent(card: "c3", amount: 500, at: 1000))
        #expect(spike.alert)
        #expect(spike.warmDetectors == 1)
        #expect(spike.detectorScores[0] > 0.99, "the spike is above every earlier score")
        #expect(spike.score == spike.detectorScores[0])
        #expect(spike.percentile >= 99)
        #expect(spike.explanation[0].source == .numericField(0))
        #expect(spike.explanation[0].value == 500)
        #expect(spike.explanation[0].contribution > 100)
    }

    @Test func calibratorMapsScoresToPercentilesOfEarlierScores() {
        var calibrator = ScoreCalibrator(warmup: 100, refreshEvery: 10)
        #expect(calibrator.percentile(of: 1).isNaN, "not warm yet")
        for i in 0..<10_000 { calibrator.add(Double(i % 1000)) }
        #expect(abs(calibrator.percentile(of: 500) - 0.5) < 0.02)
        #expect(calibrator.percentile(of: 5000) == 1)
        // A value tied with a tenth of all scores sits in the middle of their ranks.
        var tied = ScoreCalibrator(warmup: 10, refreshEvery: 1)
        for i in 0..<1000 { tied.add(i % 10 == 0 ? 7 : Double(i % 10)) }
        #expect(abs(tied.percentile(of: 7) - tied.percentile(of: 7.0000001) + 0.1) < 0.02 || tied.percentile(of: 7) < 0.9)
        #expect(calibrator.percentile(of: -1) == 0)
    }

    /// With fewer scores than the sketch compacts (every score kept, weight 1), a percentile is the mid-rank
    /// counted directly: the fraction below plus half the fraction equal, for scores present (ties of 1 to
    /// 40), absent, below the least and above the greatest, over snapshots of every size up to 400.
    @Test func calibratorPercentilesAreMidRanks() {
        var calibrator = ScoreCalibrator(warmup: 1, refreshEvery: 1, k: 1_000)
        var generator = SplitMix64(seed: 3)
        var seen: [Double] = []
        var worst = 0.0
        for _ in 0..<400 {
            let score = Double(generator.next() % 40) / 4
            calibrator.add(score)
            seen.append(score)
            for probe in [-1.0, 0, 0.1, 2.25, 2.3, 5, 9.75, 11] + seen.suffix(3) {
                let below = Double(seen.filter { $0 < probe }.count)
                let equal = Double(seen.filter { $0 == probe }.count)
                worst = max(worst, abs(calibrator.percentile(of: probe) - (below + equal / 2) / Double(seen.count)))
            }
        }
        #expect(worst < 1e-12)
    }

    /// Per-entity detectors saved in the first format (each z-score with its own key index) restore into
    /// detectors sharing the caller's key index, whose slots differ, and score on exactly as the saved ones do.
    @Test func aFirstFormatCheckpointRestoresIntoDetectorsSharingKeys() throws {
        let specs = [DetectorSpec(name: "amount_z", kind: .robustZScore(input: .numericField(0), entity: 0, window: 8, minSamples: 4))]
        var own = RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 4, maxKeys: 100, ttlMs: .max / 4)
        var generator = SplitMix64(seed: 81)
        func next(_ i: Int) -> Event { cardEvent(card: "c\(generator.next() % 30)", amount: Double(generator.next() % 500) / 10, at: Int64(i)) }
        for i in 0..<3_000 { _ = own.process(next(i)) }
        let firstFormat = BinaryWriter.envelope(kind: EntityDetectors.stateKind, version: 1) { w in
            w.write(1)
            w.write(0)
            own.write(to: &w)
            w.write(0)
        }
        var keys = EntityKeyIndex(maxKeys: 100, ttlMs: .max / 4)
        for card in (0..<30).reversed() { _ = keys.lookup(EntityKey("c\(card)")!, nowMs: 3_000) }

        var shared = EntityDetectors(specs: specs, maxKeys: 100, ttlMs: .max / 4, sharesPrimaryKeys: true)
        var field = BinaryWriter()
        field.write(firstFormat)
        var reader = BinaryReader(field.bytes)
        #expect(throws: StateError.self) { try shared.restoreState(firstFormat) }
        try shared.restoreState(from: &reader, primaryKeys: keys)

        var differences = 0
        for i in 3_000..<5_000 {
            let event = next(i)
            var result = DetectionResult()
            [Double]().withUnsafeBufferPointer {
                shared.process(event, features: $0, primaryKey: keys.lookup(event.entities[0], nowMs: event.timeMs), into: &result)
            }
            let expected = own.process(event)
            if expected.isWarm != (result.warmDetectors == 1) || (expected.isWarm && expected.score.bitPattern != result.rawScores[0].bitPattern) {
                differences += 1
            }
        }
        #expect(differences == 0)
        var restoredAgain = EntityDetectors(specs: specs, maxKeys: 100, ttlMs: .max / 4, sharesPrimaryKeys: true)
        try restoredAgain.restoreState(shared.saveState())
        #expect(restoredAgain.saveState() == shared.saveState(), "the shared form round-trips without the caller's keys")
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


@Suite("Evaluation metrics")
struct EvaluationMetricsTests {
    @Test func rocAndPrAreasMatchHandComputedValues() {
        // Scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): 3 of 4 positive-negative pairs ordered right.
        let m = BinaryClassificationMetrics(scores: [0.9, 0.8, 0.7, 0.1], labels: [true, false, true, false])
        #expect(m.rocAUC == 0.75)
        // Average precision: recall 0.5 at precision 1, then recall 1 at precision 2/3.
        #expect(abs(m.prAUC - (0.5 * 1 + 0.5 * 2.0 / 3)) < 1e-12)
    }

    @Test func tiesCountHalfAndPerfectOrderingScoresOne() {
        #expect(BinaryClassificationMetrics(scores: [1, 1, 1, 1], labels: [true, false, true, false]).rocAUC == 0.5)
        let perfect = BinaryClassificationMetrics(scores: [0.1, 0.2, 0.9, 0.95], labels: [false, false, true, true])
        #expect(perfect.rocAUC == 1 && perfect.prAUC == 1)
        #expect(BinaryClassificationMetrics(scores: [0.3], labels: [true]).rocAUC.isNaN)
    }

    @Test func decisionsGivePrecisionAndRecall() {
        var d = DecisionMetrics()
        for (decision, label) in [(true, true), (true, false), (false, true), (false, false), (true, true)] { d.add(decision: decision, label: label) }
        #expect(d.precision == 2.0 / 3)
        #expect(d.recall == 2.0 / 3)
    }
}
