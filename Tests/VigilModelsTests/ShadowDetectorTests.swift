import Testing
import VigilCore
import VigilModels

@Suite("Shadow detectors")
struct ShadowDetectorTests {
    private func zScore(_ name: String, shadow: Bool) -> DetectorSpec {
        DetectorSpec(name: name, kind: .robustZScore(input: .numericField(0), entity: nil, window: 16, minSamples: 4), shadow: shadow)
    }

    /// Ordinary amounts, then a spike: returns the spike's result.
    private func spike(through stage: inout ScoringStage) -> DetectionResult {
        let features: [Double] = []
        var generator = SplitMix64(seed: 5)
        var result = DetectionResult()
        for i in 0..<400 {
            result = DetectionResult()
            let e = cardEvent(card: "c\(i % 7)", amount: 10 + Double(generator.next() % 100) / 50, at: Int64(i) * 1000)
            features.withUnsafeBufferPointer { stage.process(e, features: $0, result: &result) }
        }
        result = DetectionResult()
        features.withUnsafeBufferPointer { stage.process(cardEvent(card: "c1", amount: 900, at: 500_000), features: $0, result: &result) }
        return result
    }

    private var policy: AlertPolicy { AlertPolicy(threshold: .percentile(99), cooldownMs: 0, calibrationWarmup: 50) }

    @Test func aShadowDetectorIsScoredButNeverAlerts() {
        var stage = ScoringStage(specs: [zScore("candidate", shadow: true)], rules: [], policy: policy)
        let result = spike(through: &stage)
        #expect(result.warmDetectors == 1 && result.detectorScores[0] > 0.99, "scored and calibrated like any detector")
        #expect(!result.alert && !result.suppressedByCooldown)
        #expect(result.score == 0, "it takes no part in the combined score")
        #expect(result.shadowAlerts == 1, "an alert it would have raised")
    }

    @Test func theLiveDetectorAlertsAndExplainsAloneBesideItsShadow() {
        var stage = ScoringStage(specs: [zScore("candidate", shadow: true), zScore("live", shadow: false)], rules: [], policy: policy)
        let result = spike(through: &stage)
        #expect(result.alert)
        #expect(result.detectorScores[0] > 0.99 && result.detectorScores[1] > 0.99)
        let explaining = (0..<DetectionResult.maxExplanation).map { result.explanation[$0] }.filter { $0.source != .none }
        #expect(!explaining.isEmpty && explaining.allSatisfy { $0.detector == 1 }, "only the live detector explains the alert")
    }

    /// The live detector watches another field, which stays ordinary; the amount spike only the candidate sees
    /// alerts once the candidate is switched on, from its first event, with the calibration it learned in shadow.
    @Test func switchingAShadowOnByReloadAlertsFromTheNextEvent() {
        let live = DetectorSpec(name: "live", kind: .robustZScore(input: .numericField(1), entity: nil, window: 16, minSamples: 4))
        var stage = ScoringStage(specs: [zScore("candidate", shadow: true), live], rules: [], policy: policy)
        let features: [Double] = []
        var generator = SplitMix64(seed: 8)
        func run(amount: Double, at ms: Int64) -> DetectionResult {
            var e = cardEvent(card: "c\(ms % 7)", amount: amount, at: ms)
            e.numeric[1] = 3 + Double(generator.next() % 100) / 50
            var result = DetectionResult()
            features.withUnsafeBufferPointer { stage.process(e, features: $0, result: &result) }
            return result
        }
        for i in 0..<400 { _ = run(amount: 10 + Double(generator.next() % 100) / 50, at: Int64(i) * 1000) }
        let inShadow = run(amount: 900, at: 500_000)
        #expect(inShadow.detectorScores[0] > 0.99 && !inShadow.alert, "seen by the shadow only")
        stage.reconfigure(rules: [], weights: [:], shadow: ["candidate": false], policy: policy)
        let switchedOn = run(amount: 1_500, at: 600_000)
        #expect(switchedOn.alert, "calibrated on the events it scored in shadow")
        #expect(switchedOn.explanation[0].detector == 0)
    }
}
