public import VigilCore

/// Maps a detector's raw scores to percentiles of the scores it produced so far, so every detector speaks the
/// same language ("this event is in the top 0.1 %") whatever its raw scale.
///
/// A KLL sketch holds the distribution. Ranks are read from a sorted snapshot of the sketch (values and
/// cumulative weights), refreshed every `refreshEvery` scores, so calibrating costs one search of the snapshot
/// (two when the score equals some in it), narrowed first by a bucket index over the snapshot's value range.
public struct ScoreCalibrator: Sendable {
    private var sketch: KLLSketch
    private var snapshotValues: [Double] = []
    private var snapshotRanks: [Double] = []
    /// The bucket index of the snapshot (`SnapshotIndex`); rebuilt with it, not part of the state.
    private var index = SnapshotIndex()
    private var sinceRefresh = 0
    /// `refresh`'s working arrays (the sorted items' weights and the merge's room), kept between refreshes so that
    /// refreshing allocates nothing once the sketch has reached its size. Not part of the state.
    private var sortedWeights: [Double] = []
    private var scratchValues: [Double] = []
    private var scratchWeights: [Double] = []
    public let refreshEvery: Int
    /// Scores needed before percentiles are trusted.
    public let warmup: Int

    public init(warmup: Int = 1000, refreshEvery: Int = 1000, k: Int = 200, seed: UInt64 = 0x5eed) {
        self.warmup = warmup
        self.refreshEvery = max(1, refreshEvery)
        sketch = KLLSketch(k: k, seed: seed)
        snapshotValues.reserveCapacity(4 * k)
        snapshotRanks.reserveCapacity(4 * k)
    }

    /// Scores seen so far.
    public var count: Int { sketch.count }

    public var isWarm: Bool { sketch.count >= warmup }

    /// The mid-rank of `raw` among earlier scores (0 ... 1): the fraction below it plus half the fraction
    /// equal to it, so a score tied with many others (a saturated maximum) is not "the top" of them all.
    /// NaN before `warmup` scores.
    public func percentile(of raw: Double) -> Double {
        guard isWarm, !snapshotValues.isEmpty, !raw.isNaN else { return .nan }
        return snapshotValues.withUnsafeBufferPointer { values in
            let below = index.firstIndex(in: values, of: raw) { $0 >= raw }
            // Past the scores below `raw`, those equal to it, if any (usually none: one search, not two).
            let atOrBelow = below < values.count && values[below] == raw ? index.firstIndex(in: values, of: raw) { $0 > raw } : below
            let lower = below == 0 ? 0 : snapshotRanks[below - 1]
            let upper = atOrBelow == 0 ? 0 : snapshotRanks[atOrBelow - 1]
            return (lower + upper) / 2
        }
    }

    /// The first index of the sorted `values` whose value satisfies `predicate` (false up to some index, true
    /// from there on). The search halves a range by choosing its base with a conditional move, not a branch:
    /// where the score falls is not predictable, and a mispredicted branch per step cost more than the loads.
    @inline(__always)
    static func firstIndex(in values: UnsafeBufferPointer<Double>, from start: Int = 0, to end: Int? = nil, where predicate: (Double) -> Bool) -> Int {
        var base = start
        var length = (end ?? values.count) - start
        guard length > 0 else { return start }
        while length > 1 {
            let half = length / 2
            base = predicate(values[base + half - 1]) ? base : base + half
            length -= half
        }
        return predicate(values[base]) ? base : base + 1
    }

    /// Adds a score to the distribution.
    public mutating func add(_ raw: Double) {
        guard !raw.isNaN else { return }
        sketch.add(raw)
        sinceRefresh += 1
        // Refresh often while the history is short (every tenth of it), then every `refreshEvery` scores.
        if snapshotValues.isEmpty ? sketch.count >= warmup : sinceRefresh >= min(refreshEvery, max(1, sketch.count / 10)) {
            refresh()
        }
    }

    private mutating func refresh() {
        sinceRefresh = 0
        // The items by value (ties in level order), then their weights turned into cumulative fractions.
        sketch.sortedWeighted(values: &snapshotValues, weights: &sortedWeights, scratchValues: &scratchValues, scratchWeights: &scratchWeights)
        var total = 0.0
        for weight in sortedWeights { total += weight }
        var cumulative = 0.0
        snapshotRanks.removeAll(keepingCapacity: true)
        for weight in sortedWeights {
            cumulative += weight
            snapshotRanks.append(cumulative / total)
        }
        index.rebuild(for: snapshotValues)
    }
}

extension ScoreCalibrator: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        sketch.write(to: &w)
        w.write(snapshotValues); w.write(snapshotRanks); w.write(sinceRefresh); w.write(refreshEvery); w.write(warmup)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        sketch = try KLLSketch(from: &r)
        snapshotValues = try r.readDoubles(); snapshotRanks = try r.readDoubles()
        sinceRefresh = try r.readInt(); refreshEvery = try r.readInt(); warmup = try r.readInt()
        guard snapshotValues.count == snapshotRanks.count, refreshEvery > 0 else { throw StateError("calibrator: inconsistent") }
        index.rebuild(for: snapshotValues)
    }
}
