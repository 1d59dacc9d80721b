import Synchronization
public import VigilFeatures

/// Keys and bytes of feature state per entity kind, published by the threads that own the state (the router
/// for secondary entities, each worker for its share of the primary entity) and summed by the metrics.
///
/// Each owner writes only its own slots with relaxed stores, so publishing costs a few stores and no lock.
public final class EntityStateGauges: Sendable {
    final class Slot: Sendable {
        let keys = Atomic<Int>(0)
        let bytes = Atomic<Int>(0)
        let evicted = Atomic<Int>(0)
        let expired = Atomic<Int>(0)
    }

    /// Entity kind names, by entity index.
    public let entityNames: [String]
    /// Slots by owner, then entity index.
    private let slots: [[Slot]]

    /// - Parameter owners: how many threads publish (router + workers).
    public init(entityNames: [String], owners: Int) {
        self.entityNames = entityNames
        slots = (0..<owners).map { _ in entityNames.map { _ in Slot() } }
    }

    /// Stores what `owner` holds; `usage` answers per entity index (nil when the owner holds none of it).
    @inline(__always)
    func publish(owner: Int, _ usage: (Int) -> EntityStateUsage?) {
        for entity in slots[owner].indices {
            guard let value = usage(entity) else { continue }
            let slot = slots[owner][entity]
            slot.keys.store(value.keys, ordering: .relaxed)
            slot.bytes.store(value.bytes, ordering: .relaxed)
            slot.evicted.store(value.evicted, ordering: .relaxed)
            slot.expired.store(value.expired, ordering: .relaxed)
        }
    }

    /// The totals over all owners, by entity index.
    public var totals: [EntityStateUsage] {
        entityNames.indices.map { entity in
            var total = EntityStateUsage(keys: 0, bytes: 0, evicted: 0, expired: 0)
            for owner in slots {
                total.keys += owner[entity].keys.load(ordering: .relaxed)
                total.bytes += owner[entity].bytes.load(ordering: .relaxed)
                total.evicted += owner[entity].evicted.load(ordering: .relaxed)
                total.expired += owner[entity].expired.load(ordering: .relaxed)
            }
            return total
        }
    }
}
