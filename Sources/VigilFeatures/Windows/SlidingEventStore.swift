import VigilCore

/// The most recent events of each key, in event-time order, for exact sliding windows.
///
/// Per slot: a ring of `capacity` event times and the values of the numeric fields that sliding features read.
/// A sliding aggregate scans back from the newest event to the window's start, so every window length shares
/// one copy of the events and any aggregate is exact over the events kept.
public struct SlidingEventStore: Sendable {
    public let capacity: Int
    /// Numeric field indices stored, in the order of `values`' lanes.
    public let fields: [Int]
    var times = StateArray<Int64>()
    var values = StateArray<Double>()
    var starts = StateArray<Int32>()
    var counts = StateArray<Int32>()
    /// Events dropped from a full ring while still inside the longest window (sliding values then cover only
    /// the `capacity` most recent events).
    public internal(set) var truncated = 0
    let longestWindowMs: Int64

    public init(capacity: Int, fields: [Int], longestWindowMs: Int64) {
        self.capacity = max(1, capacity)
        self.fields = fields
        self.longestWindowMs = longestWindowMs
    }

    /// Makes room for slots `0..<slots`.
    public mutating func ensure(slots: Int) {
        guard starts.count < slots else { return }
        let grown = slots - starts.count
        times.append(repeating: 0, count: grown * capacity)
        values.append(repeating: 0, count: grown * capacity * fields.count)
        starts.append(repeating: 0, count: grown)
        counts.append(repeating: 0, count: grown)
    }

    public mutating func reset(slot: Int) {
        starts[slot] = 0
        counts[slot] = 0
    }

    /// Where the slot's `i`-th oldest event is, for `i` in `0...capacity` (one past the ring's end wraps once): a
    /// compare instead of a division, which every step of a scan paid.
    @inline(__always)
    private func position(_ slot: Int, _ i: Int) -> Int {
        slot * capacity + wrapped(Int(starts[slot]) + i)
    }

    /// A ring offset below `2 * capacity` brought into the ring.
    @inline(__always)
    private func wrapped(_ offset: Int) -> Int {
        offset >= capacity ? offset - capacity : offset
    }

    /// Starts loading a slot's state (see `EntityFeatureState.prefetchState`).
    mutating func prefetch(slot: Int) {
        starts.prefetch(slot)
        counts.prefetch(slot)
        times.prefetch(slot * capacity, count: capacity)
        values.prefetch(slot * capacity * fields.count, count: capacity * fields.count)
    }

    /// Inserts an event in time order (an out-of-order event shifts newer ones), dropping the oldest when full.
    public mutating func insert(slot: Int, timeMs: Int64, numeric: InlineArray<16, Double>) {
        var n = Int(counts[slot])
        if n == capacity {
            if times[position(slot, 0)] > timeMs &- longestWindowMs { truncated += 1 }
            starts[slot] = Int32(wrapped(Int(starts[slot]) + 1))
            n -= 1
        }
        var i = n
        while i > 0, times[position(slot, i - 1)] > timeMs {
            let from = position(slot, i - 1)
            let to = position(slot, i)
            times[to] = times[from]
            for lane in 0..<fields.count { values[to * fields.count + lane] = values[from * fields.count + lane] }
            i -= 1
        }
        let at = position(slot, i)
        times[at] = timeMs
        for lane in 0..<fields.count { values[at * fields.count + lane] = numeric[fields[lane]] }
        counts[slot] = Int32(n + 1)
    }

    /// Statistics of one lane over events in `(t - size, t]`; NaN values are skipped.
    public func stats(slot: Int, lane: Int, atMs t: Int64, sizeMs: Int64) -> WindowStats {
        var stats = WindowStats()
        forEachEvent(slot: slot, atMs: t, sizeMs: sizeMs) { p in
            let value = values[p * fields.count + lane]
            if !value.isNaN { stats.add(value) }
        }
        return stats
    }

    /// `aggregate` of one lane over events in `(t - size, t]`, as `stats(...).value(of:)`, or the number of those
    /// events when `lane` is nil (a count is the one sliding aggregate without a field). Counts and sums are added
    /// up directly: a sum is the plain sum of the values instead of the count times their running mean. Welford's
    /// update divides once per value, a chain of some 20 cycles a step through windows of dozens of events, for
    /// figures these two never read.
    public func value(of aggregate: Aggregate, slot: Int, lane: Int?, atMs t: Int64, sizeMs: Int64) -> Double {
        guard let lane else {
            var count = 0
            forEachEvent(slot: slot, atMs: t, sizeMs: sizeMs) { _ in count += 1 }
            return Double(count)
        }
        guard aggregate == .sum else { return stats(slot: slot, lane: lane, atMs: t, sizeMs: sizeMs).value(of: aggregate) }
        var sum = 0.0
        forEachEvent(slot: slot, atMs: t, sizeMs: sizeMs) { p in
            let value = values[p * fields.count + lane]
            if !value.isNaN { sum += value }
        }
        return sum
    }

    /// Calls `body` with the position of each of the slot's events in `(t - size, t]`, newest first.
    @inline(__always)
    private func forEachEvent(slot: Int, atMs t: Int64, sizeMs: Int64, _ body: (Int) -> Void) {
        let count = Int(counts[slot])
        guard count > 0 else { return }
        // From the newest event back: its ring offset steps down and wraps to the ring's end once.
        let base = slot * capacity
        var offset = wrapped(Int(starts[slot]) + count - 1)
        for _ in 0..<count {
            let p = base + offset
            let time = times[p]
            if time <= t &- sizeMs { break }
            if time <= t { body(p) }
            offset = offset == 0 ? capacity - 1 : offset - 1
        }
    }

    /// The lane of a numeric field, if stored.
    public func lane(ofField field: Int) -> Int? { fields.firstIndex(of: field) }

    /// Bytes per key.
    public var bytesPerKey: Int { capacity * 8 * (1 + fields.count) + 8 }
}
