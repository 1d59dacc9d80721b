public import VigilCore

/// A robust z-score of one numeric field, per entity key or over the whole stream:
/// `z = (x - median) / (1.4826 * MAD)` over the key's last `window` values (the median absolute deviation
/// scaled to match a normal distribution's standard deviation), so a few outliers do not mask the next one.
///
/// The raw score is `|z|` (calibration turns it into a percentile).
/// Each key keeps `window` doubles; scoring sorts a copy of them in a stack buffer for the median (no
/// allocation) and walks out from it for the deviations' median.
public struct RobustZScoreDetector: Sendable {
    public let field: Int
    /// The entity kind whose keys get separate baselines, or nil for one global baseline.
    public let entity: Int?
    public let window: Int
    /// Values needed before a key is scored (its warm-up); earlier events score 0.
    public let minSamples: Int
    private var index: EntityKeyIndex
    private var values: [Double] = []
    private var counts: [Int32] = []
    private var next: [Int32] = []

    public init(field: Int, entity: Int?, window: Int = 32, minSamples: Int = 8, maxKeys: Int = 1_000_000, ttlMs: Int64 = 7 * 86_400_000) {
        self.field = field
        self.entity = entity
        self.window = max(3, window)
        self.minSamples = max(2, min(minSamples, self.window))
        self.index = EntityKeyIndex(maxKeys: entity == nil ? 1 : maxKeys, ttlMs: entity == nil ? .max / 4 : ttlMs)
    }

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

    /// Starts fetching the baseline of `event`'s key two events ahead: its table entry (as
    /// `EntityFeatureState.prefetchEntry`; `mutating` so that callers reach the detector in place).
    public mutating func prefetchEntry(_ event: Event) {
        guard let entity, event.entities[entity].isPresent else { return }
        index.prefetchEntry(hash: event.entities[entity].hash)
    }

    /// Starts fetching the baseline of `event`'s key one event ahead: the key and the window of values.
    public mutating func prefetchState(_ event: Event) {
        guard let entity, event.entities[entity].isPresent, let slot = index.prefetchSlot(hash: event.entities[entity].hash) else { return }
        counts.prefetch(slot)
        next.prefetch(slot)
        values.prefetch(slot * window, count: window)
    }

    /// Scores `x` for the event's key against the key's baseline (before the event), then adds `x`.
    public mutating func process(_ event: Event, value x: Double) -> Result {
        let key = entity.map { event.entities[$0] } ?? EntityKey()
        if x.isNaN || (entity != nil && !key.isPresent) { return Result(score: 0, z: .nan, isWarm: false) }
        let lookup = index.lookup(key, nowMs: event.timeMs)
        let slot = lookup.slot
        ensure(slots: index.slotCapacity)
        if lookup.isFresh {
            counts[slot] = 0
            next[slot] = 0
        }
        let n = Int(counts[slot])
        var result = Result(score: 0, z: .nan, isWarm: n >= minSamples)
        if result.isWarm {
            result.z = zScore(x, slot: slot, count: n)
            result.score = Swift.abs(result.z)
        }
        if !event.isLate {
            values[slot * window + Int(next[slot])] = x
            next[slot] = Int32((Int(next[slot]) + 1) % window)
            if n < window { counts[slot] = Int32(n + 1) }
        }
        return result
    }

    private func zScore(_ x: Double, slot: Int, count n: Int) -> Double {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { sorted in
            for i in 0..<n { sorted[i] = values[slot * window + i] }
            sorted.sortWithoutAllocating(by: <)
            let median = Self.median(sorted)
            // The deviations |v - median| in increasing order, without sorting them: they fall walking left from
            // the last value not above the median and walking right from the next, so the two walks merge.
            var left = n / 2
            while left >= 0, sorted[left] > median { left -= 1 }
            var right = left + 1
            func nextDeviation() -> Double {
                let fromLeft = left >= 0 ? Swift.abs(sorted[left] - median) : .infinity
                let fromRight = right < n ? Swift.abs(sorted[right] - median) : .infinity
                if fromLeft <= fromRight {
                    left -= 1
                    return fromLeft
                }
                right += 1
                return fromRight
            }
            // The deviations' median: the middle one, or the mean of the middle two.
            var total = 0.0
            var lower = 0.0
            var middle = 0.0
            for k in 0...(n / 2) {
                let deviation = nextDeviation()
                total += deviation
                if k == n / 2 - 1 { lower = deviation }
                if k == n / 2 { middle = deviation }
            }
            var spread = 1.4826 * (n % 2 == 1 ? middle : (lower + middle) / 2)
            if spread == 0 {
                // More than half the values are equal: fall back to the mean absolute deviation, summed in
                // increasing order (as over sorted deviations, so the sum rounds the same).
                for _ in (n / 2 + 1)..<n { total += nextDeviation() }
                spread = 1.2533 * total / Double(n)
            }
            if spread == 0 { return x == median ? 0 : (x > median ? .infinity : -.infinity) }
            return (x - median) / spread
        }
    }

    private static func median(_ sorted: UnsafeMutableBufferPointer<Double>) -> Double {
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    private mutating func ensure(slots: Int) {
        guard counts.count < slots else { return }
        let grown = max(slots, counts.count * 2) - counts.count
        values.append(contentsOf: repeatElement(0, count: grown * window))
        counts.append(contentsOf: repeatElement(0, count: grown))
        next.append(contentsOf: repeatElement(0, count: grown))
    }

    public var bytesPerKey: Int { window * 8 + 8 + EntityKeyIndex.bytesPerKey }
}

extension RobustZScoreDetector: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(field); w.write(entity ?? -1); w.write(window); w.write(minSamples)
        index.write(to: &w)
        w.write(values); w.write(counts); w.write(next)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        field = try r.readInt()
        let e = try r.readInt()
        entity = e < 0 ? nil : e
        window = try r.readInt(); minSamples = try r.readInt()
        index = try EntityKeyIndex(from: &r)
        values = try r.readDoubles(); counts = try r.readInt32s(); next = try r.readInt32s()
        guard window >= 3, counts.count == next.count, values.count == counts.count * window else { throw StateError("z-score: inconsistent arrays") }
    }
}
