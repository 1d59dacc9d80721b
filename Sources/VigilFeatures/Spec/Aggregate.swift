/// What a feature computes over its window.
public enum Aggregate: String, Sendable, Hashable, CaseIterable {
    case count
    case sum
    case mean
    case min
    case max
    case variance
    case stddev
    /// Distinct values of a categorical field: exact up to the entity's `maxDistinctExact`, then HyperLogLog.
    case distinct
    /// The numeric field's value in the entity's previous event (NaN for the first).
    case last
    /// Seconds since the entity's previous event (NaN for the first).
    case timeSincePrevious = "time_since_previous"
    /// The event's value divided by the window's mean before this event (NaN when the window is empty or 0).
    case ratioToMean = "ratio_to_mean"
    /// 1 when the event's categorical value was not seen for this entity within the window, else 0.
    case firstSeen = "first_seen"

    /// Whether the aggregate reads a numeric field, a categorical field, or none.
    public enum FieldKind: Sendable { case numeric, categorical, none, optionalNumeric }

    public var fieldKind: FieldKind {
        switch self {
        case .count: .none
        case .sum, .mean, .min, .max, .variance, .stddev, .last, .ratioToMean: .numeric
        case .distinct, .firstSeen: .categorical
        case .timeSincePrevious: .none
        }
    }

    /// Whether the aggregate needs a window and which kinds it accepts.
    public func accepts(_ window: WindowSpec) -> Bool {
        switch (self, window) {
        case (.last, .none), (.timeSincePrevious, .none): true
        case (.last, _), (.timeSincePrevious, _): false
        case (_, .none): false
        case (.distinct, .sliding), (.firstSeen, .sliding): true
        case (.distinct, _), (.firstSeen, _): false
        case (.min, .decayed), (.max, .decayed): false
        default: true
        }
    }
}
