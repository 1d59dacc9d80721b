/// Tumbling and hopping windows of one numeric field (or of event counts), per key, as a ring of time buckets.
///
/// Event time is cut into buckets of `hop` milliseconds; a key keeps the last `size / hop` buckets. A tumbling
/// window is the special case of one bucket per window (`hop == size`). Memory per key is fixed.
public struct BucketWindowStore: Sendable {
    public let sizeMs: Int64
    public let hopMs: Int64
    public let bucketCount: Int
    /// The numeric field read, or nil to count events.
    public let field: Int?
    var bucketIds: [Int64] = []
    var stats: [WindowStats] = []
    /// Events whose bucket had already been reused by a newer one (too far out of order), not added.
    public internal(set) var tooOld = 0

    public init(sizeMs: Int64, hopMs: Int64, field: Int?) {
        self.sizeMs = sizeMs
        self.hopMs = max(1, hopMs)
        self.bucketCount = Int(max(1, sizeMs / max(1, hopMs)))
        self.field = field
    }

    public mutating func ensure(slots: Int) {
        let have = bucketIds.count / bucketCount
        guard have < slots else { return }
        let grown = max(slots, have * 2)
        bucketIds.append(contentsOf: repeatElement(Int64.min, count: (grown - have) * bucketCount))
        stats.append(contentsOf: repeatElement(WindowStats(), count: (grown - have) * bucketCount))
    }

    public mutating func reset(slot: Int) {
        for b in 0..<bucketCount { bucketIds[slot * bucketCount + b] = .min }
    }

    @inline(__always)
    private func bucketId(_ t: Int64) -> Int64 {
        t >= 0 ? t / hopMs : (t - hopMs + 1) / hopMs
    }

    @inline(__always)
    private func index(_ slot: Int, _ id: Int64) -> Int {
        slot * bucketCount + Int(((id % Int64(bucketCount)) + Int64(bucketCount)) % Int64(bucketCount))
    }

    /// Starts loading a slot's buckets (see `EntityFeatureState.prefetchState`).
    mutating func prefetch(slot: Int) {
        bucketIds.prefetch(slot * bucketCount, count: bucketCount)
        stats.prefetch(slot * bucketCount, count: bucketCount)
    }

    /// Adds an event's value (or a count of one) to its bucket.
    public mutating func add(slot: Int, timeMs: Int64, numeric: InlineArray<16, Double>) {
        var value = 0.0
        if let field {
            value = numeric[field]
            if value.isNaN { return }
        }
        let id = bucketId(timeMs)
        let i = index(slot, id)
        if bucketIds[i] > id {
            tooOld += 1
            return
        }
        if bucketIds[i] < id {
            bucketIds[i] = id
            stats[i] = WindowStats()
        }
        stats[i].add(value)
    }

    /// The window's statistics at time `t`: the buckets from `bucket(t) - bucketCount + 1` to `bucket(t)`.
    public func stats(slot: Int, atMs t: Int64) -> WindowStats {
        let count = bucketCount
        let base = slot * count
        var id = bucketId(t) - Int64(count) + 1
        // One ring position computed with division, the rest by stepping (two integer divisions per bucket
        // before; see BENCHMARKS.md for what this bought).
        var r = index(0, id)
        var result = WindowStats()
        bucketIds.withUnsafeBufferPointer { ids in
            stats.withUnsafeBufferPointer { stats in
                for _ in 0..<count {
                    if ids[base + r] == id { result.merge(stats[base + r]) }
                    id += 1
                    r += 1
                    if r == count { r = 0 }
                }
            }
        }
        return result
    }

    public var bytesPerKey: Int { bucketCount * (8 + MemoryLayout<WindowStats>.stride) }
}
