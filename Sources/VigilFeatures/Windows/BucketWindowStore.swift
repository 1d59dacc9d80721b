import VigilCore

/// Tumbling and hopping windows of one numeric field (or of event counts), per key, as a ring of time buckets.
///
/// Event time is cut into buckets of `hop` milliseconds; a key keeps the last `size / hop` buckets. A tumbling
/// window is the special case of one bucket per window (`hop == size`). Memory per key is fixed.
///
/// A window's statistics are the buckets' merged in time order; each key keeps the merge of the buckets before
/// the latest window's last one, so reading a window while its last bucket fills merges two values instead of
/// `size / hop` (the same arithmetic in the same order: results are bit for bit those of merging every bucket).
public struct BucketWindowStore: Sendable {
    public let sizeMs: Int64
    public let hopMs: Int64
    public let bucketCount: Int
    /// The numeric field read, or nil to count events.
    public let field: Int?
    var bucketIds = StateArray<Int64>()
    var stats = StateArray<WindowStats>()
    /// Per key: the last bucket of the window `folds` belongs to, or `.min` when there is none; and the merge of
    /// that window's other buckets, oldest first. Derived from the buckets, so not saved.
    var foldEnds = StateArray<Int64>()
    var folds = StateArray<WindowStats>()
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
        let grown = slots - have
        bucketIds.append(repeating: .min, count: grown * bucketCount)
        stats.append(repeating: WindowStats(), count: grown * bucketCount)
        foldEnds.append(repeating: .min, count: grown)
        folds.append(repeating: WindowStats(), count: grown)
    }

    public mutating func reset(slot: Int) {
        for b in 0..<bucketCount { bucketIds[slot * bucketCount + b] = .min }
        foldEnds[slot] = .min
    }

    @inline(__always)
    private func bucketId(_ t: Int64) -> Int64 {
        t >= 0 ? t / hopMs : (t - hopMs + 1) / hopMs
    }

    @inline(__always)
    private func index(_ slot: Int, _ id: Int64) -> Int {
        let r = id % Int64(bucketCount)
        return slot * bucketCount + Int(r < 0 ? r + Int64(bucketCount) : r)
    }

    /// Starts loading a slot's buckets and their merge (see `EntityFeatureState.prefetchState`). All the
    /// buckets, although a read whose merge is current needs only the last: prefetching only that one and the
    /// merge was slower, the merges of a new window then waiting on memory (BENCHMARKS.md).
    mutating func prefetch(slot: Int) {
        bucketIds.prefetch(slot * bucketCount, count: bucketCount)
        stats.prefetch(slot * bucketCount, count: bucketCount)
        foldEnds.prefetch(slot)
        folds.prefetch(slot)
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
        // Only the last bucket of the window the fold belongs to may change under it.
        if id != foldEnds[slot] { foldEnds[slot] = .min }
        if bucketIds[i] < id {
            bucketIds[i] = id
            stats[i] = WindowStats()
        }
        stats[i].add(value)
    }

    /// The window's statistics at time `t`: the buckets from `bucket(t) - bucketCount + 1` to `bucket(t)`,
    /// merged oldest first. `mutating` because it keeps the merge of all but the last for the next read.
    public mutating func stats(slot: Int, atMs t: Int64) -> WindowStats {
        let count = bucketCount
        let base = slot * count
        let end = bucketId(t)
        var result = WindowStats()
        if foldEnds[slot] == end {
            result = folds[slot]
        } else {
            var id = end - Int64(count) + 1
            // One ring position computed with division, the rest by stepping (two integer divisions per bucket
            // before; see BENCHMARKS.md for what this bought).
            var r = index(0, id)
            bucketIds.withUnsafeBufferPointer { ids in
                stats.withUnsafeBufferPointer { stats in
                    for _ in 0..<(count - 1) {
                        if ids[base + r] == id { result.merge(stats[base + r]) }
                        id += 1
                        r += 1
                        if r == count { r = 0 }
                    }
                }
            }
            foldEnds[slot] = end
            folds[slot] = result
        }
        let last = index(slot, end)
        if bucketIds[last] == end { result.merge(stats[last]) }
        return result
    }

    public var bytesPerKey: Int { bucketCount * (8 + MemoryLayout<WindowStats>.stride) + 8 + MemoryLayout<WindowStats>.stride }
}
