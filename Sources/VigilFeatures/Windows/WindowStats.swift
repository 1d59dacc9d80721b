/// Count, sum, mean, spread and extremes of the values in one window.
public struct WindowStats: Sendable, Equatable, BitwiseCopyable {
    public var count: Double = 0
    public var mean: Double = 0
    /// Sum of squared deviations from the mean (Welford's M2).
    public var m2: Double = 0
    public var min: Double = .infinity
    public var max: Double = -.infinity

    public init() {}

    public var sum: Double { count * mean }
    /// Population variance; 0 for fewer than two values.
    public var variance: Double { count > 1 ? Swift.max(0, m2 / count) : 0 }
    public var stddev: Double { variance.squareRoot() }

    /// Adds one value with weight 1 (Welford's update).
    @inline(__always)
    public mutating func add(_ value: Double) {
        count += 1
        let delta = value - mean
        mean += delta / count
        m2 += delta * (value - mean)
        if value < min { min = value }
        if value > max { max = value }
    }

    /// Combines two windows' statistics (Chan et al.'s parallel formula).
    @inline(__always)
    public mutating func merge(_ other: WindowStats) {
        guard other.count > 0 else { return }
        guard count > 0 else {
            self = other
            return
        }
        let total = count + other.count
        let delta = other.mean - mean
        mean += delta * other.count / total
        m2 += other.m2 + delta * delta * count * other.count / total
        count = total
        if other.min < min { min = other.min }
        if other.max > max { max = other.max }
    }

    /// The value of an aggregate over these statistics; NaN where it is undefined (the mean of nothing).
    public func value(of aggregate: Aggregate) -> Double {
        switch aggregate {
        case .count: count
        case .sum: sum
        case .mean: count > 0 ? mean : .nan
        case .min: count > 0 ? min : .nan
        case .max: count > 0 ? max : .nan
        case .variance: count > 0 ? variance : .nan
        case .stddev: count > 0 ? stddev : .nan
        default: .nan
        }
    }
}
