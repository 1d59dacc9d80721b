import Testing
import VigilCore
@testable import VigilFeatures

/// Sliding windows read from the per-key rings equal their definition over the events kept, whatever the
/// order of arrival and however often the rings wrap.
@Suite("Sliding event store")
struct SlidingEventStoreTests {
    /// The definition, kept apart from the store: per key at most `capacity` events sorted by time, arrival order
    /// among equal times; a full key drops its oldest event to make room for the next, whatever that one's time.
    struct Reference {
        let capacity: Int
        var events: [[(time: Int64, value: Double)]]

        mutating func insert(slot: Int, timeMs: Int64, value: Double) {
            var kept = events[slot]
            if kept.count == capacity { kept.removeFirst() }
            let at = kept.lastIndex { $0.time <= timeMs }.map { $0 + 1 } ?? 0
            kept.insert((timeMs, value), at: at)
            events[slot] = kept
        }

        /// The events in `(t - size, t]`, newest first: the order the store reads them in.
        func window(slot: Int, atMs t: Int64, sizeMs: Int64) -> [Double] {
            events[slot].reversed().filter { $0.time > t - sizeMs && $0.time <= t }.map(\.value)
        }
    }

    @Test func countsAndSumsEqualTheirDefinitionAndOtherAggregatesTheStatistics() {
        let (capacity, slots) = (7, 3)
        var store = SlidingEventStore(capacity: capacity, fields: [0], longestWindowMs: 60_000)
        store.ensure(slots: slots)
        var reference = Reference(capacity: capacity, events: Array(repeating: [], count: slots))
        var rng = SplitMix64(seed: 41)
        var numeric = InlineArray<16, Double>(repeating: 0)
        var (checked, wrapped) = (0, 0)
        var now: Int64 = 1_000_000
        for step in 0..<4_000 {
            let slot = Int(rng.next() % UInt64(slots))
            now += Int64(rng.next() % 3_000)
            // Every fourth event arrives up to 20 s out of order; every tenth has no value.
            let time = step % 4 == 0 ? now - Int64(rng.next() % 20_000) : now
            let value = step % 10 == 0 ? Double.nan : Double(rng.next() % 100_000) / 7
            numeric[0] = value
            store.insert(slot: slot, timeMs: time, numeric: numeric)
            reference.insert(slot: slot, timeMs: time, value: value)
            if Int(store.starts[slot]) + Int(store.counts[slot]) > capacity { wrapped += 1 }
            for size: Int64 in [5_000, 20_000, 60_000] {
                let values = reference.window(slot: slot, atMs: now, sizeMs: size)
                let count = store.value(of: .count, slot: slot, lane: nil, atMs: now, sizeMs: size)
                #expect(count == Double(values.count))
                let present = values.filter { !$0.isNaN }
                let sum = store.value(of: .sum, slot: slot, lane: 0, atMs: now, sizeMs: size)
                #expect(sum.bitPattern == present.reduce(0, +).bitPattern)
                var stats = WindowStats()
                for value in present { stats.add(value) }
                for aggregate: Aggregate in [.mean, .min, .max, .stddev] {
                    let read = store.value(of: aggregate, slot: slot, lane: 0, atMs: now, sizeMs: size)
                    #expect(read.bitPattern == stats.value(of: aggregate).bitPattern)
                }
                checked += 1
            }
        }
        // The rings wrapped (the wrap-around reads ran) and windows were read both partly and wholly full.
        #expect(wrapped > 1_000 && checked == 12_000)
    }
}
