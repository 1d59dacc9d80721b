/// One reason in an alert's explanation: a feature or field, its value, and how much it contributed.
public struct ExplanationItem: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case none
        case feature(Int)
        case numericField(Int)
    }

    public var source: Source
    public var value: Double
    /// Detector-specific: a z-score for the robust z-score detector.
    public var contribution: Double

    public init(source: Source = .none, value: Double = .nan, contribution: Double = 0) {
        self.source = source
        self.value = value
        self.contribution = contribution
    }
}
