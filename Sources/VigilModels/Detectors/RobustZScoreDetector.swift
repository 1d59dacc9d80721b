public import VigilCore

/// A robust z-score of one numeric field, per entity key or over the whole stream:
/// `z = (x - median) / (1.4826 * MAD)` over the key's last `window` values (the median absolute deviation
/// scaled to match a normal distribution's standard deviation), so a few outliers do not mask the next one.
///
/// The raw score is `|z|` (calibration turns it into a percentile).
/// Each key keeps its last `window` values in increasing order, each with its age (how many of the key's values
/// came after it), so adding a value moves at most `window` entries and the median is read off in place instead
/// of sorting a copy per event; the deviations' median is found by halving how many of the smallest deviations
/// lie left of the median (the deviations rise walking out from it on either side).
///
/// A detector finds each key's slot in a key index of its own, or takes the slot from the caller
/// (`sharesKeys`): the workers' z-score per card reads the slot the card's features already looked up, which
/// saves a key index entry per card (80 bytes) and a lookup per event.
public struct RobustZScoreDetector: Sendable {
    public let field: Int
    /// The entity kind whose keys get separate baselines, or nil for one global baseline.
    public let entity: Int?
    public let window: Int
    /// Values needed before a key is scored (its warm-up); earlier events score 0.
    public let minSamples: Int
    /// The detector's own key index, or nil when the caller hands in each event's slot (`process(_:value:key:)`).
    private var index: EntityKeyIndex?
    /// Per key, `window` places: its values in increasing order (the first `counts[slot]` used).
    private var values = StateArray<Double>()
    /// Per key and place, the age of the value there: 0 for the newest, `window - 1` for the oldest of a full window.
    private var ages = StateArray<UInt16>()
    private var counts = StateArray<Int32>()

    /// - Parameter sharesKeys: take each event's slot from the caller's key index for `entity` instead of
    ///   keeping one (then `maxKeys` and `ttlMs` are the caller's index's and unused here).
    public init(
        field: Int, entity: Int?, window: Int = 32, minSamples: Int = 8, maxKeys: Int = 1_000_000, ttlMs: Int64 = 7 * 86_400_000,
        sharesKeys: Bool = false
    ) {
        precondition(!sharesKeys || entity != nil, "a global baseline has no keys to share")
        self.field = field
        self.entity = entity
        precondition(window <= Int(UInt16.max) + 1, "a value's age is 16 bits (the config allows at most 4096)")
        self.window = max(3, window)
        self.minSamples = max(2, min(minSamples, self.window))
        self.index = sharesKeys ? nil : EntityKeyIndex(maxKeys: entity == nil ? 1 : maxKeys, ttlMs: entity == nil ? .max / 4 : ttlMs)
    }

    /// True when the caller hands in each event's slot.
    public var sharesKeys: Bool { index == nil }

    /// The result for one event.
    public struct Result: Sendable {
        public var score: Double
        public var z: Double
        /// False until the key has `minSamples` values.
        public var isWarm: Bool
    }

    /// Scores the event's `field` against the key's baseline (before the event), then adds the value.
    public mutating func process(_ event: Event) -> Result {
        process(event, value: event.numeric[field])
    }

    /// `process(_:value:)` for an event held by value.
    public mutating func process(_ event: Event, value x: Double) -> Result {
        withUnsafePointer(to: event) { process($0, value: x) }
    }

    /// `process(_:value:key:)` for an event held by value.
    public mutating func process(_ event: Event, value x: Double, key: EntityKeyIndex.Lookup?) -> Result {
        withUnsafePointer(to: event) { process($0, value: x, key: key) }
    }

    /// Starts fetching the baseline of `event`'s key two events ahead: its table entry (as
    /// `EntityFeatureState.prefetchEntry`; `mutating` so that callers reach the detector in place). Nothing for
    /// a detector sharing keys: the caller's index fetches its own entries.
    public mutating func prefetchEntry(_ event: UnsafePointer<Event>) {
        guard let entity, let index, event.pointee.entities[entity].isPresent else { return }
        index.prefetchEntry(hash: event.pointee.entities[entity].hash)
    }

    /// Starts fetching the baseline of `event`'s key one event ahead: the key and the window of values.
    public mutating func prefetchState(_ event: UnsafePointer<Event>) {
        guard let entity, let index, event.pointee.entities[entity].isPresent, let slot = index.prefetchSlot(hash: event.pointee.entities[entity].hash) else { return }
        prefetchState(slot: slot)
    }

    /// Starts fetching the window of values at `slot` (for a detector sharing keys: the slot the caller's index
    /// expects the next event's key at).
    public mutating func prefetchState(slot: Int) {
        guard slot < counts.count else { return }
        counts.prefetch(slot)
        values.prefetch(slot * window, count: window)
        ages.prefetch(slot * window, count: window)
    }

    /// Scores `x` for the event's key against the key's baseline (before the event), then adds `x`.
    public mutating func process(_ event: UnsafePointer<Event>, value x: Double) -> Result {
        precondition(index != nil, "a detector sharing keys is handed each event's slot")
        let key = entity.map { event.pointee.entities[$0] } ?? EntityKey()
        if x.isNaN || (entity != nil && !key.isPresent) { return Result(score: 0, z: .nan, isWarm: false) }
        let lookup = index!.lookup(key, nowMs: event.pointee.timeMs)
        ensure(slots: index!.slotCapacity)
        if lookup.isFresh { counts[lookup.slot] = 0 }
        return scoreAndAdd(event, value: x, slot: lookup.slot)
    }

    /// Scores `x` for a detector sharing keys: `key` is the lookup of the event's key in the caller's index (nil
    /// when the event has none). A fresh slot (a new, expired or evicted key's) starts an empty baseline even when
    /// `x` is missing, so no baseline outlives its key.
    public mutating func process(_ event: UnsafePointer<Event>, value x: Double, key: EntityKeyIndex.Lookup?) -> Result {
        precondition(index == nil, "a detector with its own key index looks its keys up")
        guard let key else { return Result(score: 0, z: .nan, isWarm: false) }
        ensure(slots: key.slot + 1)
        if key.isFresh { counts[key.slot] = 0 }
        if x.isNaN { return Result(score: 0, z: .nan, isWarm: false) }
        return scoreAndAdd(event, value: x, slot: key.slot)
    }

    /// Scores `x` against the baseline at `slot` (already emptied if its key is new), then adds it unless the
    /// event is late.
    private mutating func scoreAndAdd(_ event: UnsafePointer<Event>, value x: Double, slot: Int) -> Result {
        let n = Int(counts[slot])
        var result = Result(score: 0, z: .nan, isWarm: n >= minSamples)
        if result.isWarm {
            result.z = zScore(x, slot: slot, count: n)
            result.score = Swift.abs(result.z)
        }
        if !event.pointee.isLate { add(x, slot: slot, count: n) }
        return result
    }

    /// Adds `x` to a key's `n` values, dropping the oldest when the window is full; the values stay in order.
    /// One pass: only the entries between the freed place (the oldest's, or the end) and `x`'s place move.
    private mutating func add(_ x: Double, slot: Int, count n: Int) {
        let (base, window) = (slot * window, window)
        precondition(base + window <= values.count && base + window <= ages.count)
        values.withUnsafeMutableBufferPointer { values in
            ages.withUnsafeMutableBufferPointer { ages in
                // The key's places through pointers: indexing the buffers checked every `base + i` for
                // overflow, which kept the ages' increment from being a few vector additions.
                let (values, ages) = (values.baseAddress! + base, ages.baseAddress! + base)
                var hole = n
                if n == window {
                    hole = 0
                    while ages[hole] != UInt16(window - 1) { hole &+= 1 }
                }
                for i in 0..<n { ages[i] &+= 1 }
                // After the values equal to it, so equal values keep their order of arrival.
                var place = 0
                var high = n
                while place < high {
                    let middle = (place &+ high) / 2
                    if values[middle] <= x { place = middle &+ 1 } else { high = middle }
                }
                if place <= hole {
                    var i = hole
                    while i > place {
                        values[i] = values[i &- 1]
                        ages[i] = ages[i &- 1]
                        i &-= 1
                    }
                } else {
                    place -= 1
                    for i in hole..<place {
                        values[i] = values[i &+ 1]
                        ages[i] = ages[i &+ 1]
                    }
                }
                values[place] = x
                ages[place] = 0
            }
        }
        counts[slot] = Int32(Swift.min(n + 1, window))
    }

    private func zScore(_ x: Double, slot: Int, count n: Int) -> Double {
        values.withUnsafeBufferPointer { values in
            let sorted = UnsafeBufferPointer(rebasing: values[slot * window..<slot * window + n])
            let median = Self.median(sorted)
            // The deviations |v - median| in increasing order, without sorting them: they rise walking left from
            // the last value not above the median and walking right from the next.
            var last = n / 2
            while last >= 0, sorted[last] > median { last -= 1 }
            // The deviations' median: the middle one, or the mean of the middle two.
            let (lower, middle) = Self.middleDeviations(sorted, median: median, last: last)
            var spread = 1.4826 * (n % 2 == 1 ? middle : (lower + middle) / 2)
            if spread == 0 {
                // More than half the values are equal: fall back to the mean absolute deviation.
                spread = 1.2533 * Self.deviationSum(sorted, median: median, last: last) / Double(n)
            }
            if spread == 0 { return x == median ? 0 : (x > median ? .infinity : -.infinity) }
            return (x - median) / spread
        }
    }

    /// The deviations from `median` numbered `n / 2 - 1` and `n / 2` in increasing order (`n` is `sorted.count`,
    /// at least 2), where the deviations of `sorted[...last]` rise walking left and those of `sorted[(last + 1)...]`
    /// walking right. Found by halving how many of the first `n / 2 + 1` come from the left, not by merging the
    /// two walks step by step: each merge step was a branch on the data, mispredicted about every other time.
    private static func middleDeviations(_ sorted: UnsafeBufferPointer<Double>, median: Double, last: Int) -> (lower: Double, middle: Double) {
        let (leftCount, rightCount) = (last + 1, sorted.count - last - 1)
        // The i-th deviation walking left or right; none (-infinity before the first, infinity past the last).
        func left(_ i: Int) -> Double {
            i < 0 ? -.infinity : i >= leftCount ? .infinity : Swift.abs(sorted[last - i] - median)
        }
        func right(_ j: Int) -> Double {
            j < 0 ? -.infinity : j >= rightCount ? .infinity : Swift.abs(sorted[last + 1 + j] - median)
        }
        // The first `taken` deviations are `i` from the left and `taken - i` from the right for the least `i`
        // whose next left one is not below the last right one taken.
        let taken = sorted.count / 2 + 1
        var (low, high) = (Swift.max(0, taken - rightCount), Swift.min(taken, leftCount))
        while low < high {
            let i = (low + high) / 2
            if left(i) < right(taken - i - 1) { low = i + 1 } else { high = i }
        }
        let (i, j) = (low, taken - low)
        // The largest of those taken is the middle deviation; the largest of the rest, the one before it.
        if left(i - 1) >= right(j - 1) {
            return (Swift.max(left(i - 2), right(j - 1)), left(i - 1))
        }
        return (Swift.max(left(i - 1), right(j - 2)), right(j - 1))
    }

    /// The sum of all deviations from `median`, added in increasing order (merging the two walks of
    /// `middleDeviations`), so that it rounds as the sum of the sorted deviations does.
    private static func deviationSum(_ sorted: UnsafeBufferPointer<Double>, median: Double, last: Int) -> Double {
        var (left, right) = (last, last + 1)
        var total = 0.0
        for _ in 0..<sorted.count {
            let fromLeft = left >= 0 ? Swift.abs(sorted[left] - median) : .infinity
            let fromRight = right < sorted.count ? Swift.abs(sorted[right] - median) : .infinity
            if fromLeft <= fromRight {
                total += fromLeft
                left -= 1
            } else {
                total += fromRight
                right += 1
            }
        }
        return total
    }

    private static func median(_ sorted: UnsafeBufferPointer<Double>) -> Double {
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    private mutating func ensure(slots: Int) {
        guard counts.count < slots else { return }
        let grown = slots - counts.count
        values.append(repeating: 0, count: grown * window)
        ages.append(repeating: 0, count: grown * window)
        counts.append(repeating: 0, count: grown)
    }

    /// Bytes held per key: the window of values and ages, the count, and the key index entry when it is this
    /// detector's own.
    public var bytesPerKey: Int { window * (8 + 2) + 4 + (sharesKeys ? 0 : EntityKeyIndex.bytesPerKey) }
}

extension RobustZScoreDetector: BinaryStateRepresentable {
    /// Writes a detector with its own key index: settings, the index, then the baselines.
    public func write(to w: inout BinaryWriter) {
        precondition(index != nil, "a detector sharing keys writes `writeSharingKeys(to:)`")
        writeSettings(to: &w)
        index!.write(to: &w)
        writeBaselines(to: &w)
    }

    /// Writes a detector sharing keys: settings and the baselines, whose slots are the caller's index's.
    public func writeSharingKeys(to w: inout BinaryWriter) {
        precondition(index == nil, "a detector with its own key index writes `write(to:)`")
        writeSettings(to: &w)
        writeBaselines(to: &w)
    }

    private func writeSettings(to w: inout BinaryWriter) {
        w.write(field); w.write(entity ?? -1); w.write(window); w.write(minSamples)
    }

    /// Each key's values in order of arrival (a ring from `next`), the form before values were kept sorted, so
    /// checkpoints read either way.
    private func writeBaselines(to w: inout BinaryWriter) {
        var ring = [Double](repeating: 0, count: values.count)
        var next = [Int32](repeating: 0, count: counts.count)
        for slot in counts.indices {
            let (base, n) = (slot * window, Int(counts[slot]))
            for i in 0..<n { ring[base + n - 1 - Int(ages[base + i])] = values[base + i] }
            next[slot] = Int32(n % window)
        }
        w.write(ring); w.write(counts); w.write(next)
    }

    /// Reads what `write(to:)` wrote.
    public init(from r: inout BinaryReader) throws(StateError) {
        try self.init(settingsFrom: &r)
        index = try EntityKeyIndex(from: &r)
        try readBaselines(from: &r)
    }

    /// Reads what `writeSharingKeys(to:)` wrote.
    public init(sharingKeysFrom r: inout BinaryReader) throws(StateError) {
        try self.init(settingsFrom: &r)
        guard entity != nil else { throw StateError("z-score: a global baseline saved as sharing keys") }
        try readBaselines(from: &r)
    }

    private init(settingsFrom r: inout BinaryReader) throws(StateError) {
        field = try r.readInt()
        let e = try r.readInt()
        entity = e < 0 ? nil : e
        window = try r.readInt(); minSamples = try r.readInt()
        guard window >= 3, window <= Int(UInt16.max) + 1 else { throw StateError("z-score: window \(window) out of range") }
    }

    private mutating func readBaselines(from r: inout BinaryReader) throws(StateError) {
        let ring = try r.readDoubles()
        counts = StateArray(try r.readInt32s())
        let next = try r.readInt32s()
        guard counts.count == next.count, ring.count == counts.count * window else {
            throw StateError("z-score: inconsistent arrays")
        }
        values = StateArray(ring)
        ages = StateArray(repeating: 0, count: ring.count)
        for slot in counts.indices {
            let (base, n, newest) = (slot * window, Int(counts[slot]), Int(next[slot]) - 1)
            guard n >= 0, n <= window, newest >= -1, newest < window else { throw StateError("z-score: a window's count or position is out of range") }
            let arrivals = (0..<n).map { p in (value: ring[base + p], age: n < window ? n - 1 - p : (newest - p + window) % window) }
            for (i, entry) in arrivals.sorted(by: { $0.value < $1.value || ($0.value == $1.value && $0.age > $1.age) }).enumerated() {
                values[base + i] = entry.value
                ages[base + i] = UInt16(entry.age)
            }
        }
    }

    /// This detector's baselines moved to the slots `keys` holds their keys at, as a detector sharing `keys`:
    /// how a checkpoint written while the detector kept its own index is read into one that shares the
    /// features' index. Baselines of keys `keys` does not hold are dropped (their keys have no state there).
    public func sharingKeys(of keys: EntityKeyIndex) -> RobustZScoreDetector {
        guard let index else { return self }
        var shared = self
        shared.index = nil
        shared.values = StateArray(repeating: 0, count: keys.slotCapacity * window)
        shared.ages = StateArray(repeating: 0, count: keys.slotCapacity * window)
        shared.counts = StateArray(repeating: 0, count: keys.slotCapacity)
        for slot in 0..<Swift.min(index.slotCapacity, counts.count) where index.keys[slot].isPresent && counts[slot] > 0 {
            guard let target = keys.find(index.keys[slot]) else { continue }
            for i in 0..<window {
                shared.values[target * window + i] = values[slot * window + i]
                shared.ages[target * window + i] = ages[slot * window + i]
            }
            shared.counts[target] = counts[slot]
        }
        return shared
    }
}
