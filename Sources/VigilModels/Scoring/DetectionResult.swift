/// What the detectors, rules and alert policy concluded about one event. Fixed size: crosses rings by copy.
public struct DetectionResult: Sendable {
    public static let maxDetectors = 8
    public static let maxExplanation = 4

    /// Score of each detector, by detector index (0 ... 1).
    public var detectorScores: InlineArray<8, Double>
    /// Bit `i` set when detector `i` was past its warm-up for this event.
    public var warmDetectors: UInt8
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

    public init() {
        detectorScores = InlineArray(repeating: .nan)
        warmDetectors = 0
        firedRules = 0
        score = 0
        percentile = .nan
        alert = false
        suppressedByCooldown = false
        explanation = InlineArray(repeating: ExplanationItem())
    }
}
