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

    @inline(__always)
    private func position(_ slot: Int, _ i: Int) -> Int {
        slot * capacity + (Int(starts[slot]) + i) % capacity
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
            starts[slot] = Int32((Int(starts[slot]) + 1) % capacity)
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

    /// Statistics of one lane (or of event counts when `lane` is nil) over events in `(t - size, t]`.
    /// NaN values are skipped for value statistics.
    public func stats(slot: Int, lane: Int?, atMs t: Int64, sizeMs: Int64) -> WindowStats {
        var stats = WindowStats()
        var i = Int(counts[slot]) - 1
        while i >= 0 {
            let p = position(slot, i)
            let time = times[p]
            if time <= t &- sizeMs { break }
            if time <= t {
                if let lane {
                    let value = values[p * fields.count + lane]
                    if !value.isNaN { stats.add(value) }
                } else {
                    stats.add(0)
                }
            }
            i -= 1
        }
        return stats
    }

    /// The lane of a numeric field, if stored.
    public func lane(ofField field: Int) -> Int? { fields.firstIndex(of: field) }

    /// Bytes per key.
    public var bytesPerKey: Int { capacity * 8 * (1 + fields.count) + 8 }
}
