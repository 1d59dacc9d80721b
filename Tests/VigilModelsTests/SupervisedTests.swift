import Testing
import VigilCore
import VigilModels

@Suite("Supervised model")
struct SupervisedTests {
    @Test func ftrlWeightsAfterOneUpdateMatchTheHandComputation() {
        var model = FTRLProximal(dimensions: 1, alpha: 0.1, beta: 1, l1: 0, l2: 0)
        let x = [1.0]
        x.withUnsafeBufferPointer { model.learn($0, label: true) }
        // p = 0.5, g = -0.5, sigma = sqrt(0.25) / 0.1 = 5, z = -0.5, n = 0.25, w = 0.5 / ((1 + 0.5) / 0.1) = 1/30.
        #expect(abs(model.weight(0) - 1.0 / 30) < 1e-12)
        #expect(abs(model.weight(1) - 1.0 / 30) < 1e-12, "the bias sees the same gradient")
        x.withUnsafeBufferPointer { #expect($0.count == 1 && model.predict($0) > 0.5) }
    }

    @Test func l1KeepsSmallWeightsAtZero() {
        var model = FTRLProximal(dimensions: 2, alpha: 0.1, beta: 1, l1: 5, l2: 0)
        let x = [1.0, 0.0]
        for _ in 0..<3 { x.withUnsafeBufferPointer { model.learn($0, label: true) } }
        #expect(model.weight(0) == 0, "|z| is still under l1")
        #expect(model.weight(1) == 0, "an input that is always 0 never moves")
    }

    @Test func labelsJoinThroughABoundedCacheAndUnknownIdsAreCounted() {
        var cache = LabelJoinCache(capacity: 2, dimensions: 1)
        for (i, v) in [1.0, 2.0, 3.0].enumerated() { [v].withUnsafeBufferPointer { cache.remember(EventID("e\(i)")!, $0) } }
        var seen: [Double] = []
        let expired = cache.take(EventID("e0")!) { seen.append($0[0]) }
        let found = cache.take(EventID("e2")!) { seen.append($0[0]) }
        let again = cache.take(EventID("e2")!) { seen.append($0[0]) }
        #expect(!expired && found && !again)
        #expect(seen == [3])
        #expect(cache.joined == 1 && cache.unknown == 2)
    }

    @Test func theStageLearnsFromDelayedLabelsAndScoresOnceBothClassesAreSeen() {
        let specs = [DetectorSpec(name: "ftrl", kind: .supervised(inputs: [.numericField(0)], alpha: 0.5, beta: 1, l1: 0, l2: 0, cacheSize: 1000, minLabels: 5, warmup: 10))]
        var stage = ScoringStage(specs: specs, rules: [], policy: AlertPolicy(threshold: .score(0.99), calibrationWarmup: 10))
        let features: [Double] = []
        var generator = SplitMix64(seed: 2)
        var lastWarm = -1
        var pending: [(EventID, Bool)] = []
        var fraudScores: [Double] = [], legitScores: [Double] = []
        for i in 0..<2_000 {
            let fraud = generator.next() % 10 == 0
            var e = Event()
            e.id = EventID("e\(i)")!
            e.numeric[0] = fraud ? 0.8 + Double(generator.next() % 20) / 100 : Double(generator.next() % 60) / 100
            var result = DetectionResult()
            features.withUnsafeBufferPointer { stage.process(e, features: $0, result: &result) }
            if result.warmDetectors & 1 != 0 {
                if lastWarm < 0 { lastWarm = i }
                if i > 1_000 { if fraud { fraudScores.append(result.rawScores[0]) } else { legitScores.append(result.rawScores[0]) } }
            }
            pending.append((e.id, fraud))
            if pending.count > 20 {
                let (id, label) = pending.removeFirst()
                stage.learnLabel(eventID: id, label: label)
            }
        }
        #expect(lastWarm > 20, "cold until labels of both classes arrived")
        let metrics = BinaryClassificationMetrics(
            scores: fraudScores + legitScores,
            labels: fraudScores.map { _ in true } + legitScores.map { _ in false }
        )
        #expect(metrics.rocAUC > 0.95, "ROC-AUC \(metrics.rocAUC)")
        // The first 9 events came before the input ranges were learned (the 10th completes them), so their
        // labels had nothing to join to.
        let unknownBefore = stage.labelCounts.unknown
        #expect(unknownBefore == 9)
        #expect(stage.learnLabel(eventID: EventID("never-seen")!, label: true) == 0)
        #expect(stage.labelCounts.unknown == unknownBefore + 1)
    }
}
