/// What the detectors, rules and alert policy concluded about one event. Fixed size: crosses rings by copy.
public struct DetectionResult: Sendable {
    public static let maxDetectors = 8
    public static let maxExplanation = 4

    /// Each detector's raw score, by detector index (its own scale).
    public var rawScores: InlineArray<8, Double>
    /// Each detector's calibrated score: the raw score's percentile among that detector's earlier scores,
    /// 0 ... 1; NaN before calibration warms up.
    public var detectorScores: InlineArray<8, Double>
    /// A per-detector detail for explanations (the z-score of a robust z-score detector).
    public var details: InlineArray<8, Double>
    /// Bit `i` set when detector `i` was past its warm-up for this event.
    public var warmDetectors: UInt8
    /// Bit `i` set when detector `i` runs in shadow and its calibrated score reached the alert threshold: an alert
    /// it would have raised (before cooldown), had it been live.
    public var shadowAlerts: UInt8
    /// Bit `i` set when rule `i` fired.
    public var firedRules: UInt64
    /// The combined score, 0 ... 1, higher is more anomalous.
    public var score: Double
    /// The combined score's percentile among recent scores (0 ... 100), NaN before calibration warms up.
    public var percentile: Double
    public var alert: Bool
    /// True when an alert was due but the entity was still in its cooldown.
    public var suppressedByCooldown: Bool
    /// Top contributors, strongest first; unused entries have source `.none`.
    public var explanation: InlineArray<4, ExplanationItem>
    /// The strongest inputs of the per-key forest detectors that ran on the workers (two per detector, in
    /// detector order), for the explanation the ordered stage picks.
    public var workerReasons: InlineArray<4, ExplanationItem>

    public init() {
        rawScores = InlineArray(repeating: .nan)
        detectorScores = InlineArray(repeating: .nan)
        details = InlineArray(repeating: .nan)
        warmDetectors = 0
        shadowAlerts = 0
        firedRules = 0
        score = 0
        percentile = .nan
        alert = false
        suppressedByCooldown = false
        explanation = InlineArray(repeating: ExplanationItem())
        workerReasons = InlineArray(repeating: ExplanationItem())
    }
}
