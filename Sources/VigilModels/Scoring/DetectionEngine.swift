public import VigilCore

/// One worker's detectors, rules and alert policy: turns an event and its feature vector into a
/// `DetectionResult`. Owned by one thread.
public struct DetectionEngine: Sendable {
    public struct ZScoreEntry: Sendable {
        public var name: String
        public var weight: Double
        public var detector: RobustZScoreDetector
        public init(name: String, weight: Double = 1, detector: RobustZScoreDetector) {
            self.name = name
            self.weight = weight
            self.detector = detector
        }
    }

    public private(set) var rules: [Rule]
    private var zScores: [ZScoreEntry]
    public private(set) var policy: AlertPolicy
    /// The entity kind alerts are keyed and cooled down by.
    public let primaryEntity: Int
    private var sketch = KLLSketch()
    private var cooldownIndex: EntityKeyIndex
    private var lastAlertMs: [Int64] = []

    public init(rules: [Rule], zScores: [ZScoreEntry], policy: AlertPolicy, primaryEntity: Int, maxKeys: Int = 1_000_000) {
        precondition(zScores.count <= DetectionResult.maxDetectors, "validated by the config loader")
        precondition(rules.count <= 64, "validated by the config loader")
        self.rules = rules
        self.zScores = zScores
        self.policy = policy
        self.primaryEntity = primaryEntity
        self.cooldownIndex = EntityKeyIndex(maxKeys: maxKeys, ttlMs: max(policy.cooldownMs, 1))
    }

    /// Detector names by index, as results report them.
    public var detectorNames: [String] { zScores.map(\.name) }

    /// Scores one event. `features` is the event's full feature vector.
    public mutating func process(_ event: Event, features: UnsafeBufferPointer<Double>) -> DetectionResult {
        var result = DetectionResult()
        var ruleScore = 0.0
        for (i, rule) in rules.enumerated() where rule.expression.holds(features: features, event: event) {
            result.firedRules |= 1 << UInt64(i)
            ruleScore = max(ruleScore, rule.score)
        }

        var combined = 0.0
        var weightTotal = 0.0
        var warmCount = 0
        var explained = 0
        for i in zScores.indices {
            let r = zScores[i].detector.process(event)
            result.detectorScores[i] = r.score
            guard r.isWarm else { continue }
            result.warmDetectors |= 1 << UInt8(i)
            warmCount += 1
            switch policy.combination {
            case .max: combined = max(combined, r.score)
            case .mean: combined += r.score
            case .weightedMean: combined += r.score * zScores[i].weight
            }
            weightTotal += zScores[i].weight
            // Keep the strongest |z| first: insertion into the fixed-size explanation (no allocation).
            let field = zScores[i].detector.field
            let item = ExplanationItem(source: .numericField(field), value: event.numeric[field], contribution: r.z)
            var slot = min(explained, DetectionResult.maxExplanation - 1)
            if explained < DetectionResult.maxExplanation || abs(r.z) > abs(result.explanation[slot].contribution) {
                while slot > 0, abs(result.explanation[slot - 1].contribution) < abs(r.z) {
                    result.explanation[slot] = result.explanation[slot - 1]
                    slot -= 1
                }
                result.explanation[slot] = item
                explained = min(explained + 1, DetectionResult.maxExplanation)
            }
        }
        if warmCount > 0 {
            if policy.combination == .mean { combined /= Double(warmCount) }
            if policy.combination == .weightedMean, weightTotal > 0 { combined /= weightTotal }
        }

        result.score = max(ruleScore, combined)
        var detectorsAlert = false
        switch policy.threshold {
        case .score(let threshold):
            detectorsAlert = warmCount > 0 && combined >= threshold
            if sketch.count >= policy.calibrationWarmup { result.percentile = 100 * sketch.rank(result.score) }
        case .percentile(let p):
            if sketch.count >= policy.calibrationWarmup {
                result.percentile = 100 * sketch.rank(result.score)
                detectorsAlert = warmCount > 0 && combined > 0 && 100 * sketch.rank(combined) >= p
            }
        }
        if warmCount > 0 { sketch.add(combined) }

        if result.firedRules != 0 || detectorsAlert {
            result.alert = true
            let key = event.entities[primaryEntity]
            if key.isPresent, policy.cooldownMs > 0 {
                let lookup = cooldownIndex.lookup(key, nowMs: event.timeMs)
                if lastAlertMs.count < cooldownIndex.slotCapacity {
                    lastAlertMs.append(contentsOf: repeatElement(.min, count: cooldownIndex.slotCapacity - lastAlertMs.count))
                }
                if lookup.isFresh { lastAlertMs[lookup.slot] = .min }
                let last = lastAlertMs[lookup.slot]
                if last != .min, event.timeMs < last + policy.cooldownMs, event.timeMs >= last {
                    result.alert = false
                    result.suppressedByCooldown = true
                } else {
                    lastAlertMs[lookup.slot] = event.timeMs
                }
            }
        }
        return result
    }

    /// Replaces rules, weights and the policy in place (hot reload); detector state is kept.
    public mutating func reconfigure(rules: [Rule], weights: [String: Double], policy: AlertPolicy) {
        self.rules = rules
        for i in zScores.indices { if let w = weights[zScores[i].name] { zScores[i].weight = w } }
        self.policy = policy
    }
}
