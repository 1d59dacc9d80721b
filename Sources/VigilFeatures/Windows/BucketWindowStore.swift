import VigilCore

/// Tumbling and hopping windows of one numeric field (or of event counts), per key, as a ring of time buckets.
///
/// Event time is cut into buckets of `hop` milliseconds; a key keeps the last `size / hop` buckets. A tumbling
/// window is the special case of one bucket per window (`hop == size`). Memory per key is fixed.
///
/// A window's statistics are the buckets' merged in time order; each key keeps the merge of the buckets before
/// the latest window's last one, so reading a window while its last bucket fills merges two values instead of
/// `size / hop` (the same arithmetic in the same order: results are bit for bit those of merging every bucket).
///
/// A bucket's statistics are kept as `width` numbers, `WindowStats`' fields in order as far as they are read: the
/// count alone for a store of event counts; count, mean and M2 for a field (what sums, means, spreads and ratios
/// read); then minimum and maximum only when a feature reads them (`keepsExtremes`). For the usual hopping mean,
/// spread and ratio a bucket takes 32 bytes with its id instead of 48, for a count 16.
public struct BucketWindowStore: Sendable {
    public let sizeMs: Int64
    public let hopMs: Int64
    public let bucketCount: Int
    /// The numeric field read, or nil to count events.
    public let field: Int?
    /// Whether the buckets keep their values' minimum and maximum.
    public let keepsExtremes: Bool
    /// Numbers per bucket: 1 for counts, 3 for a field, 5 with the extremes.
    let width: Int
    var bucketIds = StateArray<Int64>()
    /// Every bucket's statistics, `width` numbers each (`WindowStats`' fields in order).
    var stats = StateArray<Double>()
    /// Per key: the last bucket of the window `folds` belongs to, or `.min` when there is none; and the merge of
    /// that window's other buckets, oldest first (`width` numbers). Derived from the buckets, so not saved.
    var foldEnds = StateArray<Int64>()
    var folds = StateArray<Double>()
    /// Events whose bucket had already been reused by a newer one (too far out of order), not added.
    public internal(set) var tooOld = 0
    /// The bucket of the last time looked up: a stream's consecutive events mostly fall in one bucket, which then
    /// costs no division (finding a bucket took two, an id and a ring position, per `add` and per `stats`).
    /// Derived from the times alone, so not saved.
    private var recent = RecentBucket()

    /// A bucket's id, ring position and span of time.
    struct RecentBucket {
        var id: Int64 = 0
        var position = 0
        /// First millisecond of the bucket, and the one past its last: an empty span until the first lookup.
        var startMs = Int64.max
        var endMs = Int64.min
    }

    public init(sizeMs: Int64, hopMs: Int64, field: Int?, keepsExtremes: Bool = true) {
        self.sizeMs = sizeMs
        self.hopMs = max(1, hopMs)
        self.bucketCount = Int(max(1, sizeMs / max(1, hopMs)))
        self.field = field
        self.keepsExtremes = keepsExtremes
        width = field == nil ? 1 : keepsExtremes ? 5 : 3
    }

    public mutating func ensure(slots: Int) {
        let have = bucketIds.count / bucketCount
        guard have < slots else { return }
        let grown = slots - have
        bucketIds.append(repeating: .min, count: grown * bucketCount)
        Self.appendEmpty(grown * bucketCount, width: width, to: &stats)
        foldEnds.append(repeating: .min, count: grown)
        Self.appendEmpty(grown, width: width, to: &folds)
    }

    /// Appends `count` empty statistics (`WindowStats()`) of `width` numbers.
    static func appendEmpty(_ count: Int, width: Int, to table: inout StateArray<Double>) {
        let start = table.count
        table.append(repeating: 0, count: count * width)
        guard width == 5 else { return }
        table.withUnsafeMutableBufferPointer { numbers in
            for i in 0..<count {
                numbers[start + i * 5 + 3] = .infinity
                numbers[start + i * 5 + 4] = -.infinity
            }
        }
    }

    /// The statistics at `numbers` (`width` of them). Of counts alone, mean and M2 are those of zeros: 0.
    @inline(__always)
    static func load(_ numbers: UnsafePointer<Double>, width: Int) -> WindowStats {
        var stats = WindowStats()
        stats.count = numbers[0]
        guard width > 1 else { return stats }
        stats.mean = numbers[1]
        stats.m2 = numbers[2]
        if width == 5 {
            stats.min = numbers[3]
            stats.max = numbers[4]
        }
        return stats
    }

    /// Writes `stats` at `numbers` (`width` of them).
    @inline(__always)
    static func store(_ stats: WindowStats, at numbers: UnsafeMutablePointer<Double>, width: Int) {
        numbers[0] = stats.count
        guard width > 1 else { return }
        numbers[1] = stats.mean
        numbers[2] = stats.m2
        if width == 5 {
            numbers[3] = stats.min
            numbers[4] = stats.max
        }
    }

    /// The statistics of bucket `i` (slot-major, as `bucketIds`).
    func bucket(_ i: Int) -> WindowStats {
        stats.withUnsafeBufferPointer { Self.load($0.baseAddress! + i * width, width: width) }
    }

    public mutating func reset(slot: Int) {
        for b in 0..<bucketCount { bucketIds[slot * bucketCount + b] = .min }
        foldEnds[slot] = .min
    }

    /// The id of the bucket holding time `t` (`floor(t / hop)`) and its position in a key's ring.
    @inline(__always)
    private mutating func bucket(at t: Int64) -> (id: Int64, position: Int) {
        if t >= recent.startMs && t < recent.endMs { return (recent.id, recent.position) }
        return locate(t)
    }

    @inline(never)
    private mutating func locate(_ t: Int64) -> (id: Int64, position: Int) {
        // Rounded down, also before 1970; without the overflow `(t - hop + 1) / hop` had near the range's start.
        let id = t / hopMs &- (t % hopMs < 0 ? 1 : 0)
        let r = Int(id % Int64(bucketCount))
        let position = r < 0 ? r + bucketCount : r
        // A span that does not fit in 64 bits (times near the ends of the range) is not kept.
        let (start, overflow) = id.multipliedReportingOverflow(by: hopMs)
        let (end, overflowEnd) = start.addingReportingOverflow(hopMs)
        recent = overflow || overflowEnd ? RecentBucket() : RecentBucket(id: id, position: position, startMs: start, endMs: end)
        return (id, position)
    }

    /// Starts loading a slot's buckets and their merge (see `EntityFeatureState.prefetchState`). All the
    /// buckets, although a read whose merge is current needs only the last: prefetching only that one and the
    /// merge was slower, the merges of a new window then waiting on memory (BENCHMARKS.md).
    mutating func prefetch(slot: Int) {
        bucketIds.prefetch(slot * bucketCount, count: bucketCount)
        stats.prefetch(slot * bucketCount * width, count: bucketCount * width)
        foldEnds.prefetch(slot)
        folds.prefetch(slot * width, count: width)
    }

    /// Adds an event's value (or a count of one) to its bucket.
    public mutating func add(slot: Int, timeMs: Int64, numeric: InlineArray<16, Double>) {
        var value = 0.0
        if let field {
            value = numeric[field]
            if value.isNaN { return }
        }
        let (id, position) = bucket(at: timeMs)
        let i = slot * bucketCount + position
        if bucketIds[i] > id {
            tooOld += 1
            return
        }
        // Only the last bucket of the window the fold belongs to may change under it.
        if id != foldEnds[slot] { foldEnds[slot] = .min }
        let fresh = bucketIds[i] < id
        if fresh { bucketIds[i] = id }
        let width = width
        stats.withUnsafeMutableBufferPointer { numbers in
            let at = numbers.baseAddress! + i * width
            var bucket = fresh ? WindowStats() : Self.load(at, width: width)
            bucket.add(value)
            Self.store(bucket, at: at, width: width)
        }
    }

    /// The window's statistics at time `t`: the buckets from `bucket(t) - bucketCount + 1` to `bucket(t)`,
    /// merged oldest first. `mutating` because it keeps the merge of all but the last for the next read.
    public mutating func stats(slot: Int, atMs t: Int64) -> WindowStats {
        let (count, width) = (bucketCount, width)
        let base = slot * count
        let (end, endPosition) = bucket(at: t)
        var result = WindowStats()
        if foldEnds[slot] == end {
            result = folds.withUnsafeBufferPointer { Self.load($0.baseAddress! + slot * width, width: width) }
        } else {
            var id = end &- Int64(count) &+ 1
            // Ring positions by stepping from the oldest bucket's, the one after the last's (two integer
            // divisions per bucket before; see BENCHMARKS.md for what this bought).
            var r = endPosition + 1 == count ? 0 : endPosition + 1
            bucketIds.withUnsafeBufferPointer { ids in
                stats.withUnsafeBufferPointer { stats in
                    for _ in 0..<(count - 1) {
                        if ids[base + r] == id { result.merge(Self.load(stats.baseAddress! + (base + r) * width, width: width)) }
                        id &+= 1
                        r += 1
                        if r == count { r = 0 }
                    }
                }
            }
            foldEnds[slot] = end
            folds.withUnsafeMutableBufferPointer { Self.store(result, at: $0.baseAddress! + slot * width, width: width) }
        }
        let last = base + endPosition
        if bucketIds[last] == end { result.merge(bucket(last)) }
        return result
    }

    public var bytesPerKey: Int { (bucketCount + 1) * (8 + 8 * width) }
}
