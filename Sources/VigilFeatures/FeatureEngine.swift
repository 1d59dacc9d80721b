public import VigilCore

/// Computes the feature vector of each event from per-entity state, in event time.
///
/// One engine is owned by one thread. It can own every entity kind or a subset (the pipeline computes
/// secondary entities' features on one stage and the primary entity's on workers sharded by key), and writes
/// each feature at its index in `specs`, leaving other positions untouched.
public struct FeatureEngine: Sendable {
    public let specs: [FeatureSpec]
    var entities: [EntityFeatureState]
    /// Events seen after their partition's watermark: scored, but not added to any window.
    public internal(set) var lateEvents = 0

    /// - Parameters:
    ///   - specs: every feature, in output order.
    ///   - tables: one table spec per entity kind, by entity index.
    ///   - ownedEntities: the entity kinds this engine computes (all when nil).
    public init(specs: [FeatureSpec], tables: [EntityTableSpec], ownedEntities: Set<Int>? = nil) {
        self.specs = specs
        var entities: [EntityFeatureState] = []
        for (entity, table) in tables.enumerated() where ownedEntities?.contains(entity) ?? true {
            let mine = specs.enumerated().filter { $0.element.entity == entity }.map { (position: $0.offset, spec: $0.element) }
            guard !mine.isEmpty else { continue }
            entities.append(EntityFeatureState(entity: entity, table: table, specs: mine))
        }
        self.entities = entities
    }

    /// Starts fetching the state `process` will read for `event`, two events before it: see
    /// `prefetchState(for:)`, which follows one event later.
    public mutating func prefetchEntries(for event: Event) {
        withUnsafePointer(to: event) { prefetchEntries(for: $0) }
    }

    /// As `prefetchEntries(for:)`, reading the event where it lies.
    public mutating func prefetchEntries(for event: UnsafePointer<Event>) {
        for i in entities.indices { entities[i].prefetchEntry(event) }
    }

    /// Starts fetching the state `process` will read for `event`, one event before it.
    public mutating func prefetchState(for event: Event) {
        _ = withUnsafePointer(to: event) { prefetchState(for: $0, keyed: -1) }
    }

    /// As `prefetchState(for:)`, reading the event where it lies, and returns the slot the index of kind
    /// `keyed` expects the event's key at (a hint for fetching state kept under the same slots; wrong when that
    /// table entry holds another key), or nil.
    public mutating func prefetchState(for event: UnsafePointer<Event>, keyed: Int) -> Int? {
        var hint: Int?
        for i in entities.indices {
            let slot = entities[i].prefetchState(event)
            if entities[i].entity == keyed { hint = slot }
        }
        return hint
    }

    /// Computes the owned features of `event` into `output` (which has one element per spec) and updates state.
    public mutating func process(_ event: Event, into output: UnsafeMutableBufferPointer<Double>) {
        _ = withUnsafePointer(to: event) { process($0, into: output, keyed: -1) }
    }

    /// As `process(_:into:)`, reading the event where it lies (a ring slot: passing `slot.pointee.event` by value
    /// copies all of it first), and returns the lookup of the event's key of kind `keyed` in this engine's index
    /// (nil when the event has no such key or the engine does not own the kind), for state kept per key beside
    /// the features under the same slots (`keyIndex(entity:)`).
    public mutating func process(_ event: UnsafePointer<Event>, into output: UnsafeMutableBufferPointer<Double>, keyed: Int) -> EntityKeyIndex.Lookup? {
        if event.pointee.isLate { lateEvents += 1 }
        var keyedLookup: EntityKeyIndex.Lookup?
        for i in entities.indices {
            let lookup = entities[i].process(event, into: output)
            if entities[i].entity == keyed { keyedLookup = lookup }
        }
        return keyedLookup
    }

    /// The key index of an owned entity kind (nil otherwise): which key each slot holds.
    public func keyIndex(entity: Int) -> EntityKeyIndex? {
        entities.first { $0.entity == entity }?.index
    }

    /// Convenience for tests and tools: the full vector as an array.
    public mutating func process(_ event: Event) -> [Double] {
        var output = [Double](repeating: .nan, count: specs.count)
        output.withUnsafeMutableBufferPointer { process(event, into: $0) }
        return output
    }

    /// Keys held per entity kind.
    public var activeKeys: [(entity: Int, keys: Int)] { entities.map { ($0.entity, $0.index.count) } }

    /// Bytes of feature state per key, per entity kind.
    public var bytesPerKey: [(entity: Int, bytes: Int)] { entities.map { ($0.entity, $0.bytesPerKey) } }

    /// Where one key's bytes go, per store, for an entity kind this engine owns (empty otherwise).
    public func bytesPerKeyByStore(entity: Int) -> [(store: String, bytes: Int)] {
        entities.first { $0.entity == entity }?.bytesPerKeyByStore ?? []
    }

    /// Keys evicted for space and expired by TTL, per entity kind.
    public var evictions: [(entity: Int, evicted: Int, expired: Int)] {
        entities.map { ($0.entity, $0.index.evictedForSpace, $0.index.expired) }
    }

    /// What one owned entity kind holds now, without allocating (for gauges updated on the worker threads);
    /// nil when this engine does not own the kind.
    public func usage(entity: Int) -> EntityStateUsage? {
        for state in entities where state.entity == entity {
            let keys = state.index.count
            return EntityStateUsage(
                keys: keys, bytes: keys * state.bytesPerKey, evicted: state.index.evictedForSpace, expired: state.index.expired)
        }
        return nil
    }

    /// The key of entity kind `entity` held at a slot, for outputs (nil when not owned).
    public func key(entity: Int, slot: Int) -> EntityKey? {
        entities.first { $0.entity == entity }.map { $0.index.keys[slot] }
    }
}

/// Keys and feature-state bytes one entity kind holds, and how many keys left it.
public struct EntityStateUsage: Sendable, Equatable {
    /// Keys held now.
    public var keys: Int
    /// Bytes of feature state for those keys (slots of their window stores, key index entry).
    public var bytes: Int
    /// Keys evicted to make room (`state.<entity>.max_keys`) and expired by TTL, since the start.
    public var evicted: Int
    public var expired: Int

    public init(keys: Int, bytes: Int, evicted: Int, expired: Int) {
        self.keys = keys
        self.bytes = bytes
        self.evicted = evicted
        self.expired = expired
    }

    /// The sum of the usages of several owners of one entity kind; nil when none holds it.
    public static func total(_ usages: some Sequence<EntityStateUsage?>) -> EntityStateUsage? {
        var total: EntityStateUsage?
        for case let usage? in usages {
            var sum = total ?? EntityStateUsage(keys: 0, bytes: 0, evicted: 0, expired: 0)
            sum.keys += usage.keys
            sum.bytes += usage.bytes
            sum.evicted += usage.evicted
            sum.expired += usage.expired
            total = sum
        }
        return total
    }
}
