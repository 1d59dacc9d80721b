/// A field of the event schema that a feature reads.
public enum FieldReference: Sendable, Hashable {
    case none
    case numeric(Int)
    case categorical(Int)
}

/// One named feature: an aggregate of a field over a window, per entity.
public struct FeatureSpec: Sendable, Hashable {
    public var name: String
    /// Index of the entity kind in the schema (card = 0, merchant = 1, ...).
    public var entity: Int
    public var aggregate: Aggregate
    public var field: FieldReference
    public var window: WindowSpec

    public init(name: String, entity: Int, aggregate: Aggregate, field: FieldReference = .none, window: WindowSpec) {
        self.name = name
        self.entity = entity
        self.aggregate = aggregate
        self.field = field
        self.window = window
    }
}

/// Limits of one entity kind's state table.
public struct EntityTableSpec: Sendable, Hashable {
    public var name: String
    /// Keys kept at most; beyond it the least recently seen key is evicted.
    public var maxKeys: Int
    /// Keys not seen for this long (in event time) are forgotten.
    public var ttlMs: Int64
    /// Events per key kept for sliding windows; sliding aggregates are exact over the most recent this many.
    public var maxEventsPerKey: Int
    /// Distinct values per key counted exactly before switching to HyperLogLog.
    public var maxDistinctExact: Int

    public init(name: String, maxKeys: Int = 1_000_000, ttlMs: Int64 = 7 * 86_400_000, maxEventsPerKey: Int = 64, maxDistinctExact: Int = 16) {
        self.name = name
        self.maxKeys = maxKeys
        self.ttlMs = ttlMs
        self.maxEventsPerKey = maxEventsPerKey
        self.maxDistinctExact = maxDistinctExact
    }
}
