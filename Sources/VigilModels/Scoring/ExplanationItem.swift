/// One reason in an alert's explanation: a feature or field, its value, and how much it contributed.
public struct ExplanationItem: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case none
        case feature(Int)
        case numericField(Int)
    }

    public var source: Source
    public var value: Double
    /// Detector-specific: the z-score for the robust z-score detector, the input's share of the anomaly score
    /// for half-space trees.
    public var contribution: Double
    /// The detector (by index) the reason comes from.
    public var detector: Int8

    public init(source: Source = .none, value: Double = .nan, contribution: Double = 0, detector: Int8 = -1) {
        self.source = source
        self.value = value
        self.contribution = contribution
        self.detector = detector
    }
}
