extension ScoreCalibrator {
    /// Narrows a search of the calibrator's sorted snapshot to a few entries: the snapshot's value range cut into
    /// equal buckets, and per bucket boundary the first entry at or above it. A score's bucket then bounds where
    /// its place can be, so the search is over that bucket's entries, not the whole snapshot (about ten dependent
    /// steps for a few hundred entries; the calibrators' searches were the ordered stage's largest cost after the
    /// half-space trees).
    ///
    /// The answer is the whole search's, exactly: it is checked against its neighbours, and where the bucket's
    /// arithmetic rounded the other way the whole snapshot is searched instead.
    struct SnapshotIndex: Sendable {
        /// Buckets per index (the snapshot holds a few hundred entries).
        static let buckets = 1024
        private var lowest = 0.0
        /// Buckets per unit of score; 0 when there is no index (an empty snapshot, one value, or a range that
        /// does not divide into finite buckets).
        private var scale = 0.0
        /// `starts[b]`: the first entry not below bucket `b`'s lower boundary; `starts[buckets]` is the count.
        private var starts: [Int32] = []

        /// Indexes `values` (sorted).
        mutating func rebuild(for values: [Double]) {
            scale = 0
            guard let first = values.first, let last = values.last, first.isFinite, last.isFinite, last > first else { return }
            let scale = Double(Self.buckets) / (last - first)
            guard scale.isFinite, scale > 0 else { return }
            if starts.count != Self.buckets + 1 { starts = Array(repeating: 0, count: Self.buckets + 1) }
            // One sweep over the boundaries and the entries together (both increase).
            values.withUnsafeBufferPointer { values in
                var from = 0
                for b in 0..<Self.buckets {
                    let boundary = first + Double(b) / scale
                    while from < values.count, values[from] < boundary { from += 1 }
                    starts[b] = Int32(from)
                }
            }
            starts[Self.buckets] = Int32(values.count)
            lowest = first
            self.scale = scale
        }

        /// The first index of the sorted `values` (the indexed snapshot) whose value satisfies `predicate`, which
        /// is `>= raw` or `> raw`: false up to some index, true from there on.
        @inline(__always)
        func firstIndex(in values: UnsafeBufferPointer<Double>, of raw: Double, where predicate: (Double) -> Bool) -> Int {
            let position = (raw - lowest) * scale
            guard scale > 0, position >= 0, position < Double(Self.buckets) else {
                return ScoreCalibrator.firstIndex(in: values, where: predicate)
            }
            let bucket = Int(position)
            let (start, end) = starts.withUnsafeBufferPointer { (Int($0[bucket]), Int($0[bucket + 1])) }
            let found = ScoreCalibrator.firstIndex(in: values, from: start, to: end, where: predicate)
            // The place found must have no entry satisfying the predicate before it and one at it (or the end).
            let holds = (found == 0 || !predicate(values[found - 1])) && (found == values.count || predicate(values[found]))
            return holds ? found : ScoreCalibrator.firstIndex(in: values, where: predicate)
        }
    }
}
