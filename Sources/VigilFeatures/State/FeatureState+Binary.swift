public import VigilCore

// Feature state in Vigil's versioned binary format (VigilCore's BinaryWriter/BinaryReader).
//
// Stores are restored into stores built from the same config: each writes its shape (the parameters it was built
// with) before its arrays, and `restore(from:)` refuses state of another shape, so a snapshot taken under a different
// feature config is reported as incompatible instead of being misread.

extension SlidingEventStore {
    public func write(to w: inout BinaryWriter) {
        w.write(capacity); w.write(fields); w.write(longestWindowMs)
        w.write(times); w.write(values); w.write(starts); w.write(counts); w.write(truncated)
    }

    public mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt() == capacity, try r.readInts() == fields, try r.readInt64() == longestWindowMs else {
            throw StateError("sliding window store: saved with another shape")
        }
        let times = try r.readInt64s(), values = try r.readDoubles(), starts = try r.readInt32s(), counts = try r.readInt32s()
        let truncated = try r.readInt()
        guard starts.count == counts.count, times.count == starts.count * capacity, values.count == times.count * fields.count,
            counts.allSatisfy({ (0...Int32(capacity)).contains($0) }), starts.allSatisfy({ (0..<Int32(max(1, capacity))).contains($0) })
        else { throw StateError("sliding window store: inconsistent arrays") }
        (self.times, self.values, self.starts, self.counts, self.truncated) = (StateArray(times), StateArray(values), StateArray(starts), StateArray(counts), truncated)
    }
}

extension BucketWindowStore {
    /// Buckets converted between two widths at a time (a stack buffer).
    private static let conversionBuckets = 512

    /// Writes the store as it is kept: its width, then `width` numbers per bucket (`WindowStats`' fields in
    /// order, as many as the store keeps). Version 1 of the format held five numbers per bucket whatever the store
    /// kept; `restore` reads both.
    public func write(to w: inout BinaryWriter) {
        w.write(sizeMs); w.write(hopMs); w.write(field ?? -1)
        w.write(bucketIds)
        w.write(width)
        w.write(stats.count)
        stats.withUnsafeBufferPointer { w.write(contentsOf: $0) }
        w.write(tooOld)
    }

    /// Reads what `write` wrote, or a store of format version 1. Saved buckets of another width are converted:
    /// statistics no feature of this config reads are dropped; extremes a checkpoint lacks come back empty.
    public mutating func restore(from r: inout BinaryReader, version: UInt64) throws(StateError) {
        guard try r.readInt64() == sizeMs, try r.readInt64() == hopMs, try r.readInt() == (field ?? -1) else {
            throw StateError("bucket window store: saved with another shape")
        }
        let ids = try r.readInt64s()
        let savedWidth: Int
        if version >= 2 {
            savedWidth = try r.readInt()
            guard savedWidth == 1 || savedWidth == 3 || savedWidth == 5 else { throw StateError("bucket window store: \(savedWidth) numbers per bucket") }
            guard try r.readInt() == ids.count * savedWidth else { throw StateError("bucket window store: inconsistent arrays") }
        } else {
            savedWidth = 5
            guard try r.readInt() == ids.count else { throw StateError("bucket window store: inconsistent arrays") }
        }
        let n = ids.count
        // Version 1 wrote five numbers for counts too; since then a count store writes one, a field's three or five.
        guard n % bucketCount == 0, version < 2 || (savedWidth == 1) == (width == 1) else {
            throw StateError("bucket window store: inconsistent arrays")
        }
        var stats = StateArray<Double>(repeating: 0, count: n * width)
        let width = width
        try stats.withUnsafeMutableBufferPointer { numbers throws(StateError) in
            if savedWidth == width {
                try r.read(into: numbers)
                return
            }
            try withUnsafeTemporaryAllocation(of: Double.self, capacity: 5 * Self.conversionBuckets) { chunk throws(StateError) in
                var start = 0
                while start < n {
                    let count = Swift.min(Self.conversionBuckets, n - start)
                    try r.read(into: UnsafeMutableBufferPointer(rebasing: chunk[0..<savedWidth * count]))
                    for b in 0..<count {
                        let bucket = Self.load(chunk.baseAddress! + b * savedWidth, width: savedWidth)
                        Self.store(bucket, at: numbers.baseAddress! + (start + b) * width, width: width)
                    }
                    start += count
                }
            }
        }
        let tooOld = try r.readInt()
        (bucketIds, self.stats, self.tooOld) = (StateArray(ids), stats, tooOld)
        foldEnds = StateArray(repeating: .min, count: n / bucketCount)
        folds = StateArray()
        Self.appendEmpty(n / bucketCount, width: width, to: &folds)
    }
}

extension DecayedStore {
    public func write(to w: inout BinaryWriter) {
        w.write(halfLifeMs); w.write(field ?? -1)
        w.write(lastTimes); w.write(weights); w.write(means); w.write(m2s)
    }

    public mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt64() == halfLifeMs, try r.readInt() == (field ?? -1) else { throw StateError("decayed store: saved with another shape") }
        let lastTimes = try r.readInt64s(), weights = try r.readDoubles(), means = try r.readDoubles(), m2s = try r.readDoubles()
        guard weights.count == lastTimes.count, means.count == lastTimes.count, m2s.count == lastTimes.count else {
            throw StateError("decayed store: inconsistent arrays")
        }
        (self.lastTimes, self.weights, self.means, self.m2s) = (StateArray(lastTimes), StateArray(weights), StateArray(means), StateArray(m2s))
    }
}

extension CategoricalStore {
    /// Writes the exact values, then the sketches as they are kept: per slot the number of its register block
    /// (-1 for none; no entries for a store no distinct count reads) and the blocks. Version 1 of the format held
    /// `registerCount` bytes for every slot; `restore` reads both.
    public func write(to w: inout BinaryWriter) {
        w.write(sizeMs); w.write(field); w.write(exactCapacity)
        w.write(hashes); w.write(lastSeen); w.write(overflowed)
        w.write(sketches)
        w.write(registers.count)
        registers.withUnsafeBufferPointer { w.write(contentsOf: $0) }
    }

    /// Reads what `write` wrote, or a store of format version 1. A store no distinct count reads drops saved
    /// sketches; one that counts gives keys past their exact values without a saved sketch an empty one.
    public mutating func restore(from r: inout BinaryReader, version: UInt64) throws(StateError) {
        guard try r.readInt64() == sizeMs, try r.readInt() == field, try r.readInt() == exactCapacity else {
            throw StateError("categorical store: saved with another shape")
        }
        let hashes = try r.readUInt64s(), lastSeen = try r.readInt64s(), overflowed = try r.readBools()
        let slots = overflowed.count
        guard hashes.count == slots * exactCapacity, lastSeen.count == hashes.count else {
            throw StateError("categorical store: inconsistent arrays")
        }
        var sketches = StateArray<Int32>()
        var registers = StateArray<UInt8>()
        if countsDistinct {
            sketches.append(repeating: -1, count: slots)
            registers.reserveCapacity(slots * Self.registerCount)
        }
        // Hands a slot the next block, holding `block`'s registers (zeros when nil).
        func handOut(_ slot: Int, _ block: UnsafeRawBufferPointer?) {
            sketches[slot] = Int32(registers.count / Self.registerCount)
            if let block {
                registers.append(contentsOf: block.assumingMemoryBound(to: UInt8.self))
            } else {
                registers.append(repeating: 0, count: Self.registerCount)
            }
        }
        if version >= 2 {
            let saved = try r.readInt32s()
            let blocks = try r.readInt()
            guard saved.isEmpty || saved.count == slots, blocks >= 0, blocks % Self.registerCount == 0,
                saved.allSatisfy({ $0 >= -1 && Int($0) < blocks / Self.registerCount })
            else { throw StateError("categorical store: inconsistent sketches") }
            try r.readBytes(count: blocks) { bytes in
                guard countsDistinct else { return }
                for slot in 0..<slots {
                    let block = saved.isEmpty ? -1 : Int(saved[slot])
                    if block >= 0 {
                        handOut(slot, UnsafeRawBufferPointer(rebasing: bytes[block * Self.registerCount..<(block + 1) * Self.registerCount]))
                    } else if overflowed[slot] {
                        handOut(slot, nil)
                    }
                }
            }
        } else {
            guard try r.readInt() == slots * Self.registerCount else { throw StateError("categorical store: inconsistent arrays") }
            for slot in 0..<slots {
                // Only a key that switched has registers in use (the others' are zero).
                let keep = countsDistinct && overflowed[slot]
                try r.readBytes(count: Self.registerCount) { block in
                    if keep { handOut(slot, block) }
                }
            }
        }
        (self.hashes, self.lastSeen, self.overflowed) = (StateArray(hashes), StateArray(lastSeen), StateArray(overflowed))
        (self.sketches, self.registers) = (sketches, registers)
    }
}

extension EntityFeatureState {
    func write(to w: inout BinaryWriter) {
        w.write(entity)
        index.write(to: &w)
        w.write(sliding != nil)
        sliding?.write(to: &w)
        w.write(buckets.count)
        for store in buckets { store.write(to: &w) }
        w.write(decayed.count)
        for store in decayed { store.write(to: &w) }
        w.write(categorical.count)
        for store in categorical { store.write(to: &w) }
        w.write(lastFields)
        w.write(lastValues)
        w.write(previousTimes)
    }

    mutating func restore(from r: inout BinaryReader, version: UInt64) throws(StateError) {
        guard try r.readInt() == entity else { throw StateError("entity state: saved for another entity") }
        var copy = self
        copy.index = try EntityKeyIndex(from: &r)
        guard try r.readBool() == (sliding != nil) else { throw StateError("entity state: sliding windows differ") }
        try copy.sliding?.restore(from: &r)
        guard try r.readInt() == buckets.count else { throw StateError("entity state: bucket windows differ") }
        for i in copy.buckets.indices { try copy.buckets[i].restore(from: &r, version: version) }
        guard try r.readInt() == decayed.count else { throw StateError("entity state: decayed windows differ") }
        for i in copy.decayed.indices { try copy.decayed[i].restore(from: &r) }
        guard try r.readInt() == categorical.count else { throw StateError("entity state: categorical windows differ") }
        for i in copy.categorical.indices { try copy.categorical[i].restore(from: &r, version: version) }
        guard try r.readInts() == lastFields else { throw StateError("entity state: 'last' fields differ") }
        copy.lastValues = StateArray(try r.readDoubles())
        copy.previousTimes = StateArray(try r.readInt64s())
        guard copy.lastValues.count == copy.previousTimes.count * lastFields.count else { throw StateError("entity state: inconsistent arrays") }
        copy.ensuredSlots = 0
        self = copy
    }
}

extension FeatureEngine: EnvelopedState {
    public static let stateKind = "feature-engine"
    /// The version of the feature engine's serialised state; bumped on any layout change. Version 2 writes bucket
    /// windows and sketches as the stores keep them (version 1: five numbers per bucket, registers for every slot).
    public static let stateVersion: UInt64 = 2

    /// Every key's window state.
    public func writeState(to w: inout BinaryWriter) {
        w.write(specs.count)
        w.write(lateEvents)
        w.write(entities.count)
        for state in entities { state.write(to: &w) }
    }

    /// Reads what `writeState` wrote into an engine built from the same feature config; on any error the engine is
    /// left as it was.
    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        guard try r.readInt() == specs.count else { throw StateError("saved with \(specs.count) features configured differently") }
        let late = try r.readInt()
        guard try r.readInt() == entities.count else { throw StateError("saved for other entity kinds") }
        var restored = entities
        for i in restored.indices { try restored[i].restore(from: &r, version: version) }
        guard r.isAtEnd else { throw StateError("trailing bytes in feature-engine state") }
        entities = restored
        lateEvents = late
    }
}
