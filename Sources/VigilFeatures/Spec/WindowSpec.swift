/// How a feature's window moves through event time.
public enum WindowSpec: Sendable, Hashable, CustomStringConvertible {
    /// Exactly the entity's events in `(t - size, t]` (up to the entity's `maxEventsPerKey` most recent).
    case sliding(sizeMs: Int64)
    /// Fixed, non-overlapping windows `[k * size, (k + 1) * size)`; the value is that of the window holding `t`.
    case tumbling(sizeMs: Int64)
    /// Windows of `size` starting every `hop`: the value covers the buckets from `bucket(t) - size + hop` to
    /// the current one, so it moves in steps of `hop`.
    case hopping(sizeMs: Int64, hopMs: Int64)
    /// Every event ever seen, weighted by `2^(-age / halfLife)`.
    case decayed(halfLifeMs: Int64)
    /// No window: the aggregate looks at the previous event only (`last`, `time_since_previous`).
    case none

    public var description: String {
        switch self {
        case .sliding(let size): "sliding \(size) ms"
        case .tumbling(let size): "tumbling \(size) ms"
        case .hopping(let size, let hop): "hopping \(size) ms every \(hop) ms"
        case .decayed(let halfLife): "decayed, half-life \(halfLife) ms"
        case .none: "none"
        }
    }
}
