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
    /// Buckets converted between the format and a store without extremes at a time (a stack buffer).
    private static let conversionBuckets = 512

    /// The format holds five numbers per bucket (count, mean, M2, minimum, maximum: `WindowStats`' fields in
    /// order), whatever the store keeps: a store without some writes them as the statistics it reads (mean and M2
    /// 0 for counts, empty extremes), and drops them when it reads a checkpoint that has them (no feature of its
    /// config reads them).
    public func write(to w: inout BinaryWriter) {
        w.write(sizeMs); w.write(hopMs); w.write(field ?? -1)
        w.write(bucketIds)
        let n = bucketIds.count
        w.write(n)
        stats.withUnsafeBufferPointer { numbers in
            if width == 5 {
                w.write(contentsOf: numbers)
                return
            }
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 5 * Self.conversionBuckets) { chunk in
                var start = 0
                while start < n {
                    let count = Swift.min(Self.conversionBuckets, n - start)
                    for b in 0..<count {
                        let stats = Self.load(numbers.baseAddress! + (start + b) * width, width: width)
                        let to = b * 5
                        (chunk[to], chunk[to + 1], chunk[to + 2]) = (stats.count, stats.mean, stats.m2)
                        (chunk[to + 3], chunk[to + 4]) = (stats.min, stats.max)
                    }
                    w.write(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<5 * count]))
                    start += count
                }
            }
        }
        w.write(tooOld)
    }

    public mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt64() == sizeMs, try r.readInt64() == hopMs, try r.readInt() == (field ?? -1) else {
            throw StateError("bucket window store: saved with another shape")
        }
        let ids = try r.readInt64s()
        let n = try r.readInt()
        guard n == ids.count, n % bucketCount == 0 else { throw StateError("bucket window store: inconsistent arrays") }
        var stats = StateArray<Double>(repeating: 0, count: n * width)
        let width = width
        try stats.withUnsafeMutableBufferPointer { numbers throws(StateError) in
            if width == 5 {
                try r.read(into: numbers)
                return
            }
            try withUnsafeTemporaryAllocation(of: Double.self, capacity: 5 * Self.conversionBuckets) { chunk throws(StateError) in
                var start = 0
                while start < n {
                    let count = Swift.min(Self.conversionBuckets, n - start)
                    try r.read(into: UnsafeMutableBufferPointer(rebasing: chunk[0..<5 * count]))
                    for b in 0..<count {
                        for k in 0..<width { numbers[(start + b) * width + k] = chunk[b * 5 + k] }
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
    /// The format holds every slot's registers (`registerCount` bytes; zeros for a slot without a sketch), as
    /// when every key had them: a store keeps only the sketches of keys that switched to one, and none when no
    /// distinct count reads it.
    public func write(to w: inout BinaryWriter) {
        w.write(sizeMs); w.write(field); w.write(exactCapacity)
        w.write(hashes); w.write(lastSeen); w.write(overflowed)
        let slots = overflowed.count
        w.write(slots * Self.registerCount)
        let zeros = [UInt8](repeating: 0, count: Self.registerCount)
        registers.withUnsafeBufferPointer { registers in
            zeros.withUnsafeBufferPointer { zeros in
                for slot in 0..<slots {
                    let sketch = countsDistinct ? Int(sketches[slot]) : -1
                    w.write(contentsOf: sketch < 0 ? zeros : UnsafeBufferPointer(rebasing: registers[sketch * Self.registerCount..<(sketch + 1) * Self.registerCount]))
                }
            }
        }
    }

    public mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt64() == sizeMs, try r.readInt() == field, try r.readInt() == exactCapacity else {
            throw StateError("categorical store: saved with another shape")
        }
        let hashes = try r.readUInt64s(), lastSeen = try r.readInt64s(), overflowed = try r.readBools()
        let slots = overflowed.count
        guard hashes.count == slots * exactCapacity, lastSeen.count == hashes.count, try r.readInt() == slots * Self.registerCount else {
            throw StateError("categorical store: inconsistent arrays")
        }
        var sketches = StateArray<Int32>()
        var registers = StateArray<UInt8>()
        if countsDistinct {
            sketches.append(repeating: -1, count: slots)
            registers.reserveCapacity(slots * Self.registerCount)
        }
        for slot in 0..<slots {
            // Only a key that switched has registers in use (the others' are zero).
            let keep = countsDistinct && overflowed[slot]
            if keep { sketches[slot] = Int32(registers.count / Self.registerCount) }
            try r.readBytes(count: Self.registerCount) { block in
                guard keep else { return }
                registers.append(contentsOf: block.assumingMemoryBound(to: UInt8.self))
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

    mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt() == entity else { throw StateError("entity state: saved for another entity") }
        var copy = self
        copy.index = try EntityKeyIndex(from: &r)
        guard try r.readBool() == (sliding != nil) else { throw StateError("entity state: sliding windows differ") }
        try copy.sliding?.restore(from: &r)
        guard try r.readInt() == buckets.count else { throw StateError("entity state: bucket windows differ") }
        for i in copy.buckets.indices { try copy.buckets[i].restore(from: &r) }
        guard try r.readInt() == decayed.count else { throw StateError("entity state: decayed windows differ") }
        for i in copy.decayed.indices { try copy.decayed[i].restore(from: &r) }
        guard try r.readInt() == categorical.count else { throw StateError("entity state: categorical windows differ") }
        for i in copy.categorical.indices { try copy.categorical[i].restore(from: &r) }
        guard try r.readInts() == lastFields else { throw StateError("entity state: 'last' fields differ") }
        copy.lastValues = StateArray(try r.readDoubles())
        copy.previousTimes = StateArray(try r.readInt64s())
        guard copy.lastValues.count == copy.previousTimes.count * lastFields.count else { throw StateError("entity state: inconsistent arrays") }
        self = copy
    }
}

extension FeatureEngine: EnvelopedState {
    public static let stateKind = "feature-engine"
    /// The version of the feature engine's serialised state; bumped on any layout change.
    public static let stateVersion: UInt64 = 1

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
        for i in restored.indices { try restored[i].restore(from: &r) }
        guard r.isAtEnd else { throw StateError("trailing bytes in feature-engine state") }
        entities = restored
        lateEvents = late
    }
}
