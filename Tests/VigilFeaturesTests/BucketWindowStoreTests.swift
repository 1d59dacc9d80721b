import Testing
import VigilCore
@testable import VigilFeatures

/// Hopping windows read through the kept merge of their older buckets equal, bit for bit, the buckets merged
/// oldest first, whatever the order of reads and writes.
@Suite("Bucket window store")
struct BucketWindowStoreTests {
    /// The definition, kept apart from the store: a ring of `count` buckets per key, each with its values in
    /// arrival order; a value for a bucket whose place holds a newer one is refused.
    struct Reference {
        let hopMs: Int64
        let count: Int
        var rings: [[(id: Int64, values: [Double])]]

        init(hopMs: Int64, count: Int, slots: Int) {
            self.hopMs = hopMs
            self.count = count
            rings = Array(repeating: Array(repeating: (Int64.min, []), count: count), count: slots)
        }

        func place(_ id: Int64) -> Int { Int(((id % Int64(count)) + Int64(count)) % Int64(count)) }

        mutating func add(slot: Int, timeMs: Int64, value: Double) {
            let id = timeMs / hopMs
            let p = place(id)
            if rings[slot][p].id > id { return }
            if rings[slot][p].id < id { rings[slot][p] = (id, []) }
            rings[slot][p].values.append(value)
        }

        func stats(slot: Int, atMs t: Int64) -> WindowStats {
            let end = t / hopMs
            var result = WindowStats()
            for id in (end - Int64(count) + 1)...end where rings[slot][place(id)].id == id {
                var bucket = WindowStats()
                for value in rings[slot][place(id)].values { bucket.add(value) }
                result.merge(bucket)
            }
            return result
        }
    }

    private func bits(_ s: WindowStats) -> [UInt64] {
        [s.count, s.mean, s.m2, s.min, s.max].map(\.bitPattern)
    }

    /// With or without the extremes kept (then a read's minimum and maximum are those of nothing).
    @Test(arguments: [true, false])
    func readsEqualTheBucketsMergedOldestFirst(keepsExtremes: Bool) {
        let hop: Int64 = 60_000
        var store = BucketWindowStore(sizeMs: 24 * hop, hopMs: hop, field: 0, keepsExtremes: keepsExtremes)
        func bits(_ s: WindowStats) -> [UInt64] {
            var s = s
            if !keepsExtremes { (s.min, s.max) = (.infinity, -.infinity) }
            return self.bits(s)
        }
        let slots = 3
        store.ensure(slots: slots)
        var reference = Reference(hopMs: hop, count: 24, slots: slots)
        var rng = SplitMix64(seed: 11)
        var clock: [Int64] = Array(repeating: 1_000_000_000, count: slots)
        var mismatches = 0
        var reads = 0
        for step in 0..<20_000 {
            let slot = Int(rng.next() % UInt64(slots))
            // Mostly forward in small steps, sometimes a jump of hours, sometimes an event a few hops late.
            switch rng.next() % 20 {
            case 0: clock[slot] += Int64(rng.next() % UInt64(30 * hop))
            default: clock[slot] += Int64(rng.next() % UInt64(hop / 4))
            }
            let late = rng.next() % 10 == 0 ? Int64(rng.next() % UInt64(3 * hop)) : 0
            let t = clock[slot] - late
            let value = (rng.uniform() * 1000).rounded() / 8
            var numeric = InlineArray<16, Double>(repeating: .nan)
            numeric[0] = value
            // As features read it: before the event (a ratio; not every config has one), after it, and now and
            // then at another time.
            let readTimes = [t, clock[slot], t - Int64(rng.next() % UInt64(2 * hop))]
            if rng.next() % 2 == 0 {
                reads += 1
                if !bits(store.stats(slot: slot, atMs: t)).elementsEqual(bits(reference.stats(slot: slot, atMs: t))) { mismatches += 1 }
            }
            store.add(slot: slot, timeMs: t, numeric: numeric)
            reference.add(slot: slot, timeMs: t, value: value)
            for readAt in readTimes.shuffled(using: &rng) {
                reads += 1
                if !bits(store.stats(slot: slot, atMs: readAt)).elementsEqual(bits(reference.stats(slot: slot, atMs: readAt))) { mismatches += 1 }
            }
            if step % 5_000 == 4_999 {
                // A key that expired and was taken by a new one starts empty.
                store.reset(slot: slot)
                reference.rings[slot] = Array(repeating: (Int64.min, []), count: 24)
            }
        }
        #expect(reads > 65_000)
        #expect(mismatches == 0)
    }

    /// A bucket holds the times from `id * hop` to the next bucket's first: before 1970 too (ids round down), and
    /// at the ends of the range, whichever bucket was looked up last (the store keeps the last one's span).
    @Test func bucketsSpanTheirHopWhateverTheLookupBefore() {
        let hop: Int64 = 1_000
        var store = BucketWindowStore(sizeMs: hop, hopMs: hop, field: nil)
        store.ensure(slots: 1)
        let none = InlineArray<16, Double>(repeating: .nan)
        // Per time: the times that share its bucket and those that do not.
        let cases: [(t: Int64, same: [Int64], other: [Int64])] = [
            (-1, [-hop, -hop / 2], [0, -hop - 1, hop]),
            (0, [hop - 1, 1], [-1, hop]),
            (-hop, [-1], [-hop - 1, 0]),
            (5 * hop + 1, [5 * hop, 6 * hop - 1], [5 * hop - 1, 6 * hop]),
            (.max, [.max - 1], [.max - 2 * hop]),
            (.min, [.min + 1], [.min + 2 * hop]),
        ]
        for (t, same, other) in cases {
            store.reset(slot: 0)
            store.add(slot: 0, timeMs: t, numeric: none)
            // Each read after a lookup of another bucket, and again right after its own.
            for readAt in same {
                _ = store.stats(slot: 0, atMs: readAt &+ 3 * hop)
                #expect(store.stats(slot: 0, atMs: readAt).count == 1, "read at \(readAt) of an event at \(t)")
                #expect(store.stats(slot: 0, atMs: readAt).count == 1, "read at \(readAt) of an event at \(t)")
            }
            for readAt in other {
                #expect(store.stats(slot: 0, atMs: readAt).count == 0, "read at \(readAt) of an event at \(t)")
                #expect(store.stats(slot: 0, atMs: t).count == 1, "read at \(t) of an event at \(t)")
            }
        }
    }

    @Test func aRestoredStoreReadsAsTheSavedOne() throws {
        let hop: Int64 = 300_000
        var store = BucketWindowStore(sizeMs: 12 * hop, hopMs: hop, field: nil)
        store.ensure(slots: 1)
        var numeric = InlineArray<16, Double>(repeating: 0)
        numeric[0] = 1
        for i in 0..<100 { store.add(slot: 0, timeMs: Int64(i) * 37_000, numeric: numeric) }
        let before = store.stats(slot: 0, atMs: 99 * 37_000)
        var w = BinaryWriter()
        store.write(to: &w)
        var restored = BucketWindowStore(sizeMs: 12 * hop, hopMs: hop, field: nil)
        var r = BinaryReader(w.bytes)
        try restored.restore(from: &r, version: 2)
        #expect(r.isAtEnd)
        #expect(restored.stats(slot: 0, atMs: 99 * 37_000) == before)
        store.add(slot: 0, timeMs: 99 * 37_000, numeric: numeric)
        restored.add(slot: 0, timeMs: 99 * 37_000, numeric: numeric)
        #expect(restored.stats(slot: 0, atMs: 99 * 37_000) == store.stats(slot: 0, atMs: 99 * 37_000))
        // Buckets 1 ... 12 of five minutes: the events at 333 s ... 3,663 s, and the one added twice at the end.
        #expect(store.stats(slot: 0, atMs: 99 * 37_000).count == 92)
    }

    /// A store writes the numbers it keeps (format version 2: three per bucket without extremes, five with), and
    /// reads checkpoints of other widths: version 1's five numbers per bucket, a lean store's checkpoint into one
    /// with extremes (they come back empty) and the reverse (they are dropped); every count, mean and M2 the same.
    @Test func aStoreWritesTheNumbersItKeepsAndReadsOtherWidths() throws {
        var full = BucketWindowStore(sizeMs: 4 * 60_000, hopMs: 60_000, field: 0)
        var lean = BucketWindowStore(sizeMs: 4 * 60_000, hopMs: 60_000, field: 0, keepsExtremes: false)
        full.ensure(slots: 700)
        lean.ensure(slots: 700)
        var numeric = InlineArray<16, Double>(repeating: 0)
        for i in 0..<5_000 {
            numeric[0] = Double(i % 17) * 1.25 - 3
            full.add(slot: i % 700, timeMs: Int64(i) * 10, numeric: numeric)
            lean.add(slot: i % 700, timeMs: Int64(i) * 10, numeric: numeric)
        }
        #expect(lean.bytesPerKey == 5 * (8 + 24) && full.bytesPerKey == 5 * (8 + 40))
        #expect((0..<700 * 4).contains { full.bucket($0).count > 1 && full.bucket($0).min < full.bucket($0).max }, "real statistics")
        // 2,800 buckets: more than one chunk of the conversion.
        #expect(lean.stateBytes.count == full.stateBytes.count - 2 * 8 * 2_800)

        func restored(_ saved: [UInt8], version: UInt64, keepsExtremes: Bool) throws -> BucketWindowStore {
            var store = BucketWindowStore(sizeMs: 4 * 60_000, hopMs: 60_000, field: 0, keepsExtremes: keepsExtremes)
            var r = BinaryReader(saved)
            try store.restore(from: &r, version: version)
            #expect(r.isAtEnd)
            return store
        }
        for (saved, version) in [(full.stateBytes, UInt64(2)), (full.firstFormat, 1), (lean.stateBytes, 2)] {
            let intoLean = try restored(saved, version: version, keepsExtremes: false)
            #expect(intoLean.stats == lean.stats && intoLean.bucketIds == lean.bucketIds)
        }
        let fullAgain = try restored(full.firstFormat, version: 1, keepsExtremes: true)
        #expect(fullAgain.stats == full.stats)
        var fromLean = try restored(lean.stateBytes, version: 2, keepsExtremes: true)
        for slot in [0, 350, 699] {
            let a: WindowStats = fromLean.stats(slot: slot, atMs: 49_000)
            let b: WindowStats = full.stats(slot: slot, atMs: 49_000)
            #expect(a.count == b.count && a.mean == b.mean && a.m2 == b.m2 && a.count > 0)
            #expect(a.min == Double.infinity && a.max == -Double.infinity, "extremes the checkpoint lacks come back empty")
        }
    }

    /// A store of event counts keeps the count alone; it reads the five numbers a bucket has in the format
    /// (mean, M2 and extremes of the zeros it added, as checkpoints of 2026-11-27 and before hold them).
    @Test func aCountStoreKeepsTheCountAlone() throws {
        var store = BucketWindowStore(sizeMs: 3 * 60_000, hopMs: 60_000, field: nil)
        store.ensure(slots: 2)
        #expect(store.bytesPerKey == 4 * (8 + 8) && store.stats.count == 6)
        var w = BinaryWriter()
        w.write(Int64(3 * 60_000)); w.write(Int64(60_000)); w.write(-1 as Int)
        // Slot 0: bucket 9 (ring place 9 % 3 = 0); slot 1: buckets 9, 7, 8 in places 0, 1, 2.
        w.write([Int64(9), .min, .min, 9, 7, 8] as [Int64])
        w.write(6)
        for count in [4.0, 0, 0, 3, 1, 2] {
            let (low, high): (Double, Double) = count > 0 ? (0, 0) : (.infinity, -.infinity)
            for value in [count, 0, 0, low, high] { w.write(value) }
        }
        w.write(0)
        var r = BinaryReader(w.bytes)
        try store.restore(from: &r, version: 1)
        #expect(store.stats(slot: 0, atMs: 9 * 60_000).count == 4)
        #expect(store.stats(slot: 1, atMs: 9 * 60_000 + 5).count == 6)
        #expect(store.stats(slot: 1, atMs: 9 * 60_000 + 5).mean == 0)
        var numeric = InlineArray<16, Double>(repeating: .nan)
        numeric[0] = 5
        store.add(slot: 1, timeMs: 9 * 60_000 + 7, numeric: numeric)
        #expect(store.stats(slot: 1, atMs: 9 * 60_000 + 7).count == 7)
        // Written as it is kept: one number per bucket.
        var again = BucketWindowStore(sizeMs: 3 * 60_000, hopMs: 60_000, field: nil)
        r = BinaryReader(store.stateBytes)
        try again.restore(from: &r, version: 2)
        #expect(again.stats == store.stats && store.stateBytes.count == w.bytes.count - 6 * 4 * 8 + 8)
    }

    /// A store initialises exactly the slots asked for: a new key's buckets are written when its slot is first
    /// wanted, not 1,024 keys' worth at once (each such step stalled the owning thread for milliseconds).
    @Test func growsExactlyToTheSlotsAsked() {
        var store = BucketWindowStore(sizeMs: 86_400_000, hopMs: 3_600_000, field: 0)
        store.ensure(slots: 1)
        #expect(store.bucketIds.count == 24 && store.foldEnds.count == 1)
        store.ensure(slots: 1_025)
        #expect(store.bucketIds.count == 1_025 * 24 && store.stats.count == 1_025 * 24 * 5 && store.folds.count == 1_025 * 5)
        store.ensure(slots: 10)
        #expect(store.foldEnds.count == 1_025)
        #expect(store.bucketIds.allSatisfy { $0 == .min })
    }
}

extension BucketWindowStore {
    /// The store's checkpoint bytes.
    fileprivate var stateBytes: [UInt8] {
        var w = BinaryWriter()
        write(to: &w)
        return w.bytes
    }
}

extension BucketWindowStore {
    /// The store as format version 1 held it: five numbers per bucket (count, mean, M2, minimum, maximum).
    fileprivate var firstFormat: [UInt8] {
        var w = BinaryWriter()
        w.write(sizeMs); w.write(hopMs); w.write(field ?? -1)
        w.write(bucketIds)
        w.write(bucketIds.count)
        for b in 0..<bucketIds.count {
            let stats = bucket(b)
            for value in [stats.count, stats.mean, stats.m2, stats.min, stats.max] { w.write(value) }
        }
        w.write(tooOld)
        return w.bytes
    }
}
