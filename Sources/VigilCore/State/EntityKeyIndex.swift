/// Interns entity keys into dense slot numbers with a bounded number of slots.
///
/// Open addressing with linear probing over 64-bit key hashes and backward-shift deletion; a slot remembers
/// its key (for outputs and collision checks) and its last event time (for TTL and eviction). When every slot
/// is taken, the least recently seen of a few sampled slots is evicted. Storage grows geometrically up to
/// `maxKeys` and is then reused: no allocation per event in steady state. Single-threaded.
public struct EntityKeyIndex: Sendable {
    public let maxKeys: Int
    public let ttlMs: Int64
    private var table: [Int32]  // slot + 1, or 0 for empty
    private var tableMask: Int
    public private(set) var keys = StateArray<EntityKey>()
    public private(set) var lastTimeMs = StateArray<Int64>()
    private var freeSlots: [Int32] = []
    private var evictionCursor = 0
    /// Keys evicted because the table was full, and because they expired.
    public private(set) var evictedForSpace = 0
    public private(set) var expired = 0

    public init(maxKeys: Int, ttlMs: Int64) {
        self.maxKeys = max(1, maxKeys)
        self.ttlMs = ttlMs
        var size = 16
        while size < self.maxKeys * 2 { size <<= 1 }
        table = Array(repeating: 0, count: Swift.min(size, 1 << 16))
        tableMask = table.count - 1
    }

    /// Keys held now.
    public var count: Int { keys.count - freeSlots.count }

    /// Slots allocated so far (the high-water mark); slot numbers are below it.
    public var slotCapacity: Int { keys.count }

    /// The outcome of `lookup`.
    public struct Lookup: Sendable {
        public var slot: Int
        /// True when the slot's state must be reset: a new key, an evicted slot reused, or an expired key.
        public var isFresh: Bool
        /// A slot whose key was evicted to make room (its state belonged to another key), if any.
        public var evictedSlot: Int?
    }

    /// The slot of `key` at event time `nowMs`, creating it (evicting if full) when absent.
    public mutating func lookup(_ key: EntityKey, nowMs: Int64) -> Lookup {
        var index = Int(truncatingIfNeeded: key.hash) & tableMask
        while true {
            let entry = table[index]
            if entry == 0 { break }
            let slot = Int(entry - 1)
            if keys[slot].hash == key.hash, keys[slot] == key {
                let expiredKey = lastTimeMs[slot] < nowMs &- ttlMs
                if expiredKey { expired += 1 }
                if nowMs > lastTimeMs[slot] { lastTimeMs[slot] = nowMs }
                return Lookup(slot: slot, isFresh: expiredKey, evictedSlot: nil)
            }
            index = (index + 1) & tableMask
        }
        var evicted: Int?
        if count >= maxKeys {
            evicted = evictOne(nowMs: nowMs)
        }
        if (count + 1) * 2 > table.count { growTable() }
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = Int(free)
            keys[slot] = key
            lastTimeMs[slot] = nowMs
        } else {
            slot = keys.count
            keys.append(key)
            lastTimeMs.append(nowMs)
        }
        insert(hash: key.hash, slot: slot)
        return Lookup(slot: slot, isFresh: true, evictedSlot: evicted)
    }

    /// Starts loading the table entry `lookup` reads first for a key with `hash`: the first step of fetching
    /// an event's state ahead of time (the next is `prefetchSlot(hash:)`, once the entry is in cache).
    public func prefetchEntry(hash: UInt64) {
        table.prefetch(Int(truncatingIfNeeded: hash) & tableMask)
    }

    /// Starts loading the key and time of the slot the first table entry for `hash` points at, and returns that
    /// slot: a hint for prefetching the key's state, right unless that entry holds another key (then only a
    /// prefetch is wasted); nil for an empty entry (a new key).
    public func prefetchSlot(hash: UInt64) -> Int? {
        let entry = table[Int(truncatingIfNeeded: hash) & tableMask]
        guard entry != 0 else { return nil }
        let slot = Int(entry - 1)
        // A key is 64 bytes and need not start a cache line: `prefetch` takes both lines it may touch.
        keys.prefetch(slot)
        lastTimeMs.prefetch(slot)
        return slot
    }

    /// The slot of `key` without creating one.
    public func find(_ key: EntityKey) -> Int? {
        var index = Int(truncatingIfNeeded: key.hash) & tableMask
        while table[index] != 0 {
            let slot = Int(table[index] - 1)
            if keys[slot] == key { return slot }
            index = (index + 1) & tableMask
        }
        return nil
    }

    /// Evicts the least recently seen key among eight sampled slots; returns its slot, which is free afterwards.
    /// Called only when every slot is taken, so every sampled slot holds a key.
    private mutating func evictOne(nowMs: Int64) -> Int {
        var victim = -1
        var oldest = Int64.max
        var probes = 0
        while probes < 8 {
            let slot = evictionCursor % keys.count
            evictionCursor = (evictionCursor + 1) % keys.count
            probes += 1
            if lastTimeMs[slot] < oldest {
                oldest = lastTimeMs[slot]
                victim = slot
            }
        }
        if victim < 0 { victim = evictionCursor }
        if oldest < nowMs &- ttlMs { expired += 1 } else { evictedForSpace += 1 }
        remove(slot: victim)
        return victim
    }

    /// Frees a slot and removes its key from the table (backward-shift deletion keeps probe chains intact).
    public mutating func remove(slot: Int) {
        let hash = keys[slot].hash
        var index = Int(truncatingIfNeeded: hash) & tableMask
        while table[index] != 0 && Int(table[index] - 1) != slot {
            index = (index + 1) & tableMask
        }
        guard table[index] != 0 else { return }
        table[index] = 0
        var next = (index + 1) & tableMask
        while table[next] != 0 {
            let movedSlot = Int(table[next] - 1)
            let home = Int(truncatingIfNeeded: keys[movedSlot].hash) & tableMask
            // Move the entry back if its home is not in the cyclic range (index, next].
            let distanceToHole = (next - home) & tableMask
            let distanceToNext = (next - index) & tableMask
            if distanceToHole >= distanceToNext {
                table[index] = table[next]
                table[next] = 0
                index = next
            }
            next = (next + 1) & tableMask
        }
        keys[slot] = EntityKey()
        freeSlots.append(Int32(slot))
    }

    private mutating func insert(hash: UInt64, slot: Int) {
        var index = Int(truncatingIfNeeded: hash) & tableMask
        while table[index] != 0 { index = (index + 1) & tableMask }
        table[index] = Int32(slot + 1)
    }

    /// Doubles the table and inserts every held key again, reading the keys in slot order (a sequential read):
    /// walking the old table instead read them in hash order, a cache miss per key (3.5-3.8 ms against 1.6-1.7 ms
    /// at 131,072 keys, see BENCHMARKS.md).
    private mutating func growTable() {
        table = Array(repeating: 0, count: table.count * 2)
        tableMask = table.count - 1
        var isFree = [Bool](repeating: false, count: freeSlots.isEmpty ? 0 : keys.count)
        for slot in freeSlots { isFree[Int(slot)] = true }
        keys.withUnsafeBufferPointer { keys in
            for slot in keys.indices where isFree.isEmpty || !isFree[slot] {
                insert(hash: keys[slot].hash, slot: slot)
            }
        }
    }

    /// Bytes held per key by the index itself (key, time and table entries).
    public static var bytesPerKey: Int { MemoryLayout<EntityKey>.stride + 8 + 2 * 4 }
}

extension EntityKeyIndex: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(maxKeys)
        w.write(ttlMs)
        w.write(table)
        w.write(keys.count)
        for key in keys { key.withBytes { w.write(Array($0)) } }
        w.write(lastTimeMs)
        w.write(freeSlots)
        w.write(evictionCursor)
        w.write(evictedForSpace)
        w.write(expired)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        maxKeys = try r.readInt()
        ttlMs = try r.readInt64()
        table = try r.readInt32s()
        guard table.count > 0, table.count & (table.count - 1) == 0 else { throw StateError("key index: bad table size") }
        tableMask = table.count - 1
        let count = try r.readInt()
        guard count >= 0, count <= table.count else { throw StateError("key index: bad key count") }
        keys = StateArray()
        for _ in 0..<count {
            let bytes = try r.readBytes()
            if bytes.isEmpty {
                keys.append(EntityKey())
            } else {
                guard let key = bytes.withUnsafeBytes({ EntityKey($0) }) else { throw StateError("key index: key too long") }
                keys.append(key)
            }
        }
        lastTimeMs = StateArray(try r.readInt64s())
        freeSlots = try r.readInt32s()
        evictionCursor = try r.readInt()
        evictedForSpace = try r.readInt()
        expired = try r.readInt()
        guard lastTimeMs.count == keys.count else { throw StateError("key index: inconsistent arrays") }
    }
}
