import VigilCore

/// The state of every feature of one entity kind: the key index and the window stores its features read.
struct EntityFeatureState: Sendable {
    enum Plan: Sendable {
        case sliding(lane: Int?, sizeMs: Int64, aggregate: Aggregate)
        case slidingRatio(lane: Int, field: Int, sizeMs: Int64)
        case bucket(store: Int, aggregate: Aggregate)
        case bucketRatio(store: Int, field: Int)
        case decayed(store: Int, aggregate: Aggregate)
        case decayedRatio(store: Int, field: Int)
        case distinct(store: Int)
        case firstSeen(store: Int, field: Int)
        case last(lane: Int)
        case timeSincePrevious
    }

    let entity: Int
    var index: EntityKeyIndex
    var sliding: SlidingEventStore?
    var buckets: [BucketWindowStore] = []
    var decayed: [DecayedStore] = []
    var categorical: [CategoricalStore] = []
    /// Numeric fields whose previous value `last` features read, and those values per slot.
    let lastFields: [Int]
    var lastValues = StateArray<Double>()
    var previousTimes = StateArray<Int64>()
    /// (output position, plan) for each feature of this entity.
    let features: [(position: Int, plan: Plan)]
    /// Bucket stores that features read after the event joins (each read once per event), and those reads.
    let bucketsReadAfter: [Int]
    var bucketStatsAfter: [WindowStats]

    init(entity: Int, table: EntityTableSpec, specs: [(position: Int, spec: FeatureSpec)]) {
        self.entity = entity
        index = EntityKeyIndex(maxKeys: table.maxKeys, ttlMs: table.ttlMs)
        var slidingFields: [Int] = []
        var longest: Int64 = 0
        var lastFields: [Int] = []
        for (_, spec) in specs {
            if case .sliding(let size) = spec.window, spec.aggregate != .distinct, spec.aggregate != .firstSeen {
                longest = max(longest, size)
                if case .numeric(let f) = spec.field, !slidingFields.contains(f) { slidingFields.append(f) }
                if spec.aggregate == .count { longest = max(longest, size) }
            }
            if spec.aggregate == .last, case .numeric(let f) = spec.field, !lastFields.contains(f) { lastFields.append(f) }
        }
        let needsSliding = specs.contains { item in
            if case .sliding = item.spec.window { return item.spec.aggregate != .distinct && item.spec.aggregate != .firstSeen }
            return false
        }
        if needsSliding {
            sliding = SlidingEventStore(capacity: table.maxEventsPerKey, fields: slidingFields, longestWindowMs: longest)
        }
        self.lastFields = lastFields

        var plans: [(Int, Plan)] = []
        var bucketKeys: [String] = []
        var decayedKeys: [String] = []
        var categoricalKeys: [String] = []
        for (position, spec) in specs {
            let numericField: Int? = if case .numeric(let f) = spec.field { f } else { nil }
            let plan: Plan
            switch (spec.aggregate, spec.window) {
            case (.timeSincePrevious, _):
                plan = .timeSincePrevious
            case (.last, _):
                plan = .last(lane: lastFields.firstIndex(of: numericField!)!)
            case (.distinct, .sliding(let size)), (.firstSeen, .sliding(let size)):
                guard case .categorical(let f) = spec.field else { fatalError("validated: categorical field") }
                let key = "\(size)/\(f)"
                var store = categoricalKeys.firstIndex(of: key)
                if store == nil {
                    categoricalKeys.append(key)
                    // A sketch only where a distinct count over the same values reads it.
                    let counts = specs.contains {
                        guard $0.spec.aggregate == .distinct, case .sliding(let otherSize) = $0.spec.window else { return false }
                        return otherSize == size && $0.spec.field == spec.field
                    }
                    categorical.append(CategoricalStore(sizeMs: size, field: f, exactCapacity: table.maxDistinctExact, countsDistinct: counts))
                    store = categorical.count - 1
                }
                plan = spec.aggregate == .distinct ? .distinct(store: store!) : .firstSeen(store: store!, field: f)
            case (_, .sliding(let size)):
                let lane = numericField.flatMap { f in slidingFields.firstIndex(of: f) }
                plan = spec.aggregate == .ratioToMean
                    ? .slidingRatio(lane: lane!, field: numericField!, sizeMs: size)
                    : .sliding(lane: lane, sizeMs: size, aggregate: spec.aggregate)
            case (_, .tumbling(let size)), (_, .hopping(let size, _)):
                var hop = size
                if case .hopping(_, let h) = spec.window { hop = h }
                let key = Self.bucketKey(spec)!
                var store = bucketKeys.firstIndex(of: key)
                if store == nil {
                    bucketKeys.append(key)
                    // Minimum and maximum are kept only if some feature over the same buckets reads them.
                    let extremes = specs.contains { ($0.spec.aggregate == .min || $0.spec.aggregate == .max) && Self.bucketKey($0.spec) == key }
                    buckets.append(BucketWindowStore(sizeMs: size, hopMs: hop, field: numericField, keepsExtremes: extremes))
                    store = buckets.count - 1
                }
                plan = spec.aggregate == .ratioToMean ? .bucketRatio(store: store!, field: numericField!) : .bucket(store: store!, aggregate: spec.aggregate)
            case (_, .decayed(let halfLife)):
                let key = "\(halfLife)/\(String(describing: numericField))"
                var store = decayedKeys.firstIndex(of: key)
                if store == nil {
                    decayedKeys.append(key)
                    decayed.append(DecayedStore(halfLifeMs: halfLife, field: numericField))
                    store = decayed.count - 1
                }
                plan = spec.aggregate == .ratioToMean ? .decayedRatio(store: store!, field: numericField!) : .decayed(store: store!, aggregate: spec.aggregate)
            case (_, .none):
                fatalError("validated: \(spec.aggregate) needs a window")
            }
            plans.append((position, plan))
        }
        self.features = plans
        var readAfter: [Int] = []
        for (_, plan) in plans { if case .bucket(let store, _) = plan, !readAfter.contains(store) { readAfter.append(store) } }
        bucketsReadAfter = readAfter
        bucketStatsAfter = Array(repeating: WindowStats(), count: buckets.count)
    }

    /// Which bucket store a feature over a tumbling or hopping window reads (features with the same window size,
    /// hop and field share one); nil for other windows.
    private static func bucketKey(_ spec: FeatureSpec) -> String? {
        let field: Int? = if case .numeric(let f) = spec.field { f } else { nil }
        switch spec.window {
        case .tumbling(let size): return "\(size)/\(size)/\(String(describing: field))"
        case .hopping(let size, let hop): return "\(size)/\(hop)/\(String(describing: field))"
        default: return nil
        }
    }

    /// Slots every store has room for: an event whose key's slot is below it grows nothing, as on all but a key
    /// table's growth (running every store's check on every event cost more than the rest of the look-ups). Zero
    /// after a restore, whose stores have the checkpoint's sizes (each store's growth skips what it has).
    var ensuredSlots = 0

    /// Grows every store to `slots`, past `ensuredSlots`. Kept out of line and checked by the caller: the call,
    /// which saved and restored six registers, was most of what an event paid for it.
    @inline(never)
    private mutating func grow(slots: Int) {
        ensuredSlots = slots
        sliding?.ensure(slots: slots)
        for i in buckets.indices { buckets[i].ensure(slots: slots) }
        for i in decayed.indices { decayed[i].ensure(slots: slots) }
        for i in categorical.indices { categorical[i].ensure(slots: slots) }
        if previousTimes.count < slots {
            let grown = slots - previousTimes.count
            previousTimes.append(repeating: .min, count: grown)
            lastValues.append(repeating: .nan, count: grown * lastFields.count)
        }
    }

    private mutating func reset(slot: Int) {
        sliding?.reset(slot: slot)
        for i in buckets.indices { buckets[i].reset(slot: slot) }
        for i in decayed.indices { decayed[i].reset(slot: slot) }
        for i in categorical.indices { categorical[i].reset(slot: slot) }
        previousTimes[slot] = .min
        for lane in 0..<lastFields.count { lastValues[slot * lastFields.count + lane] = .nan }
    }

    // The prefetch steps only read, but are `mutating` down to the stores so that every call reaches the state
    // in place: a non-mutating call on an array element or a captured variable copied the value and retained
    // its arrays, which cost more than the prefetch saved.

    /// The first of two steps that fetch an event's state before it is processed, for an event two places
    /// ahead: its key's table entry.
    mutating func prefetchEntry(_ event: UnsafePointer<Event>) {
        let key = event.pointee.entities[entity]
        if key.isPresent { index.prefetchEntry(hash: key.hash) }
    }

    /// The second step, one event ahead (the table entry is in cache by now): the key, its time and every
    /// store's state for the slot the entry names. Processing then finds them loaded instead of waiting on
    /// memory for each in turn; a wrong guess (a colliding entry, a new key) only wastes the loads. Returns
    /// that slot.
    mutating func prefetchState(_ event: UnsafePointer<Event>) -> Int? {
        let key = event.pointee.entities[entity]
        guard key.isPresent, let slot = index.prefetchSlot(hash: key.hash) else { return nil }
        previousTimes.prefetch(slot)
        if !lastFields.isEmpty { lastValues.prefetch(slot * lastFields.count, count: lastFields.count) }
        sliding?.prefetch(slot: slot)
        for i in buckets.indices { buckets[i].prefetch(slot: slot) }
        for i in decayed.indices { decayed[i].prefetch(slot: slot) }
        for i in categorical.indices { categorical[i].prefetch(slot: slot) }
        return slot
    }

    /// Computes this entity's features for `event` into `output` and, unless the event is late, adds the
    /// event to the state. Values that look back (first seen, time since previous, last, ratio to mean) are
    /// taken before the event is added; windowed aggregates after, so they include it. Returns the key's
    /// lookup (nil when the event has no key of this kind).
    mutating func process(_ event: UnsafePointer<Event>, into output: UnsafeMutableBufferPointer<Double>) -> EntityKeyIndex.Lookup? {
        let key = event.pointee.entities[entity]
        guard key.isPresent else {
            for (position, _) in features { output[position] = .nan }
            return nil
        }
        let t = event.pointee.timeMs
        let lookup = index.lookup(key, nowMs: t)
        if index.slotCapacity > ensuredSlots { grow(slots: index.slotCapacity) }
        let slot = lookup.slot
        if lookup.isFresh { reset(slot: slot) }

        // Look-back values, before the event joins the state.
        for (position, plan) in features {
            switch plan {
            case .timeSincePrevious:
                let previous = previousTimes[slot]
                output[position] = previous == .min ? .nan : Double(max(0, t - previous)) / 1000
            case .last(let lane):
                output[position] = lastValues[slot * lastFields.count + lane]
            case .firstSeen(let store, let field):
                output[position] = categorical.inPlace(store) { $0.wasSeen(slot: slot, hash: event.pointee.categorical[field], atMs: t) } ? 0 : 1
            case .slidingRatio(let lane, let field, let size):
                output[position] = ratio(event.pointee.numeric[field], sliding!.stats(slot: slot, lane: lane, atMs: t, sizeMs: size))
            case .bucketRatio(let store, let field):
                output[position] = ratio(event.pointee.numeric[field], buckets[store].stats(slot: slot, atMs: t))
            case .decayedRatio(let store, let field):
                output[position] = ratio(event.pointee.numeric[field], decayed[store].stats(slot: slot, atMs: t))
            default:
                break
            }
        }

        if !event.pointee.isLate {
            // One copy of the numbers for every store (each call would copy them out of the pointee).
            let numeric = event.pointee.numeric
            sliding?.insert(slot: slot, timeMs: t, numeric: numeric)
            for i in buckets.indices { buckets[i].add(slot: slot, timeMs: t, numeric: numeric) }
            for i in decayed.indices { decayed[i].add(slot: slot, timeMs: t, numeric: numeric) }
            for i in categorical.indices {
                categorical[i].add(slot: slot, hash: event.pointee.categorical[categorical[i].field], timeMs: t)
            }
            if t >= previousTimes[slot] {
                previousTimes[slot] = t
                for lane in 0..<lastFields.count {
                    let value = event.pointee.numeric[lastFields[lane]]
                    if !value.isNaN { lastValues[slot * lastFields.count + lane] = value }
                }
            }
        }

        for store in bucketsReadAfter { bucketStatsAfter[store] = buckets[store].stats(slot: slot, atMs: t) }
        for (position, plan) in features {
            switch plan {
            case .sliding(let lane, let size, let aggregate):
                output[position] = sliding!.value(of: aggregate, slot: slot, lane: lane, atMs: t, sizeMs: size)
            case .bucket(let store, let aggregate):
                output[position] = bucketStatsAfter[store].value(of: aggregate)
            case .decayed(let store, let aggregate):
                output[position] = decayed[store].stats(slot: slot, atMs: t).value(of: aggregate)
            case .distinct(let store):
                output[position] = categorical.inPlace(store) { $0.distinct(slot: slot, atMs: t) }
            default:
                break
            }
        }
        return lookup
    }

    private func ratio(_ value: Double, _ stats: WindowStats) -> Double {
        guard !value.isNaN, stats.count > 0, stats.mean != 0 else { return .nan }
        return value / stats.mean
    }

    /// Bytes of state per key of this entity (the sum of `bytesPerKeyByStore`, without building it: the workers
    /// read this for their gauges).
    var bytesPerKey: Int {
        EntityKeyIndex.bytesPerKey + 8 + 8 * lastFields.count + (sliding?.bytesPerKey ?? 0)
            + buckets.reduce(0) { $0 + $1.bytesPerKey } + decayed.reduce(0) { $0 + $1.bytesPerKey }
            + categorical.reduce(0) { $0 + $1.bytesPerKey }
    }

    /// Where a key's bytes go: one entry per store (what `bytesPerKey` adds up).
    var bytesPerKeyByStore: [(store: String, bytes: Int)] {
        var parts: [(store: String, bytes: Int)] = [("key index entry", EntityKeyIndex.bytesPerKey), ("previous event time", 8)]
        if !lastFields.isEmpty { parts.append(("last values (\(lastFields.count))", 8 * lastFields.count)) }
        if let sliding {
            parts.append(("recent events (\(sliding.capacity) x time + \(sliding.fields.count) fields)", sliding.bytesPerKey))
        }
        for store in buckets {
            parts.append(("\(store.bucketCount) buckets of \(store.hopMs / 60_000) min\(store.field == nil ? "" : ", one field"), with the merge of all but the latest", store.bytesPerKey))
        }
        for store in decayed { parts.append(("decayed aggregate", store.bytesPerKey)) }
        for store in categorical {
            let sketch = store.countsDistinct ? "; \(CategoricalStore.registerCount) sketch registers more for a key past them" : ""
            parts.append(("categorical values (\(store.exactCapacity) exact\(sketch))", store.bytesPerKey))
        }
        return parts
    }
}
