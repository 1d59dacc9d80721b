/// When a combined score becomes an alert.
public struct AlertPolicy: Sendable, Equatable {
    public enum Threshold: Sendable, Equatable {
        /// Alert when the combined score is at or above this percentile of recent scores (99.9 = top 0.1 %).
        case percentile(Double)
        /// Alert when the combined score is at or above this value.
        case score(Double)
    }

    public enum Combination: String, Sendable, Equatable {
        case max, mean
        case weightedMean = "weighted_mean"
    }

    public var threshold: Threshold
    public var combination: Combination
    /// No second alert for the same primary entity within this event-time span.
    public var cooldownMs: Int64
    /// Scores seen before a percentile threshold is trusted.
    public var calibrationWarmup: Int

    public init(threshold: Threshold = .percentile(99.9), combination: Combination = .max, cooldownMs: Int64 = 600_000, calibrationWarmup: Int = 1000) {
        self.threshold = threshold
        self.combination = combination
        self.cooldownMs = cooldownMs
        self.calibrationWarmup = calibrationWarmup
    }
}

extension AlertPolicy.Threshold {
    /// The threshold as a calibrated score (0 ... 1): a percentile of 99.9 is 0.999.
    public var fraction: Double {
        switch self {
        case .percentile(let p): p / 100
        case .score(let s): s
        }
    }
}
