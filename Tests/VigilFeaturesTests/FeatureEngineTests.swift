import Testing
import VigilCore
import VigilFeatures

/// Events for entity 0 ("card") with one numeric field (amount) and one categorical (merchant).
private func event(_ card: String, at seconds: Double, amount: Double, merchant: String = "m", watermark: Int64 = .min, merchantKey: String? = nil) -> Event {
    var e = Event()
    e.timeMs = Int64(seconds * 1000)
    e.watermarkMs = watermark
    e.entities[0] = EntityKey(card)!
    if let merchantKey { e.entities[1] = EntityKey(merchantKey)! }
    e.numeric[0] = amount
    e.categorical[0] = FNV1a.hash(merchant)
    return e
}

private let tables = [EntityTableSpec(name: "card", maxEventsPerKey: 16), EntityTableSpec(name: "merchant")]

@Suite("Windowed features")
struct FeatureEngineTests {
    @Test func slidingWindowAggregatesMatchHandComputation() {
        let specs = [
            FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "sum", entity: 0, aggregate: .sum, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "mean", entity: 0, aggregate: .mean, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "min", entity: 0, aggregate: .min, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "max", entity: 0, aggregate: .max, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "var", entity: 0, aggregate: .variance, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
            FeatureSpec(name: "std", entity: 0, aggregate: .stddev, field: .numeric(0), window: .sliding(sizeMs: 10_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        _ = engine.process(event("a", at: 0, amount: 2))
        _ = engine.process(event("a", at: 4, amount: 4))
        let third = engine.process(event("a", at: 9, amount: 6))
        // Window (-1 s, 9 s]: 2, 4, 6 -> mean 4, population variance (4 + 0 + 4) / 3.
        #expect(third[0] == 3)
        #expect(third[1] == 12)
        #expect(third[2] == 4)
        #expect(third[3] == 2)
        #expect(third[4] == 6)
        #expect(abs(third[5] - 8.0 / 3) < 1e-12)
        #expect(abs(third[6] - (8.0 / 3).squareRoot()) < 1e-12)
        // At 12 s the window (2 s, 12 s] holds 4, 6, 10: the event at 0 s slid out.
        let fourth = engine.process(event("a", at: 12, amount: 10))
        #expect(fourth[0] == 3)
        #expect(fourth[1] == 20)
        #expect(fourth[3] == 4)
        // Another key has its own state.
        let other = engine.process(event("b", at: 12, amount: 1))
        #expect(other[0] == 1)
        #expect(other[1] == 1)
    }

    /// Bucket windows keep their minimum and maximum only for the features that read them: a hopping mean
    /// alone keeps count, mean and M2; a maximum over the same window makes that one store keep the extremes;
    /// a tumbling count keeps the count alone. The values are those of the events either way.
    @Test func bucketWindowsKeepWhatTheirFeaturesRead() {
        let hopping = WindowSpec.hopping(sizeMs: 60_000, hopMs: 20_000)
        let lean = [
            FeatureSpec(name: "mean", entity: 0, aggregate: .mean, field: .numeric(0), window: hopping),
            FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .tumbling(sizeMs: 60_000)),
        ]
        let full = lean + [FeatureSpec(name: "max", entity: 0, aggregate: .max, field: .numeric(0), window: hopping)]
        var a = FeatureEngine(specs: lean, tables: tables)
        var b = FeatureEngine(specs: full, tables: tables)
        let bytes = { (engine: FeatureEngine) in engine.bytesPerKeyByStore(entity: 0).filter { $0.store.contains("buckets") }.map(\.bytes) }
        #expect(bytes(a) == [4 * (8 + 3 * 8), 2 * (8 + 8)])
        #expect(bytes(b) == [4 * (8 + 5 * 8), 2 * (8 + 8)])
        var last: ([Double], [Double]) = ([], [])
        for (i, amount) in [3.0, 9, 4, 12, 1].enumerated() {
            last = (a.process(event("c", at: Double(i) * 7, amount: amount)), b.process(event("c", at: Double(i) * 7, amount: amount)))
        }
        // At 28 s the hopping window holds the five amounts; the tumbling minute the five events.
        #expect(last.0[0] == 29.0 / 5 && last.1[0] == 29.0 / 5)
        #expect(last.0[1] == 5 && last.1[1] == 5)
        #expect(last.1[2] == 12)
    }

    @Test func outOfOrderEventsAreInsertedInTimeOrderWithoutLookAhead() {
        let specs = [
            FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 5_000)),
            FeatureSpec(name: "sum", entity: 0, aggregate: .sum, field: .numeric(0), window: .sliding(sizeMs: 5_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        _ = engine.process(event("a", at: 10, amount: 1))
        _ = engine.process(event("a", at: 20, amount: 2))
        // Arrives after the 20 s event but happened at 17 s: its window (12 s, 17 s] sees only itself.
        let late = engine.process(event("a", at: 17, amount: 4))
        #expect(late == [1, 4])
        // At 21 s the window (16 s, 21 s] holds 17 s and 20 s.
        let next = engine.process(event("a", at: 21, amount: 8))
        #expect(next == [3, 14])
    }

    @Test func lateEventsAreScoredButDoNotReopenWindowsAndAreCounted() {
        let specs = [FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 60_000))]
        var engine = FeatureEngine(specs: specs, tables: tables)
        _ = engine.process(event("a", at: 100, amount: 1, watermark: 70_000))
        // 50 s is before the watermark of 70 s: scored against the state as it stands at 50 s, not added.
        let late = engine.process(event("a", at: 50, amount: 1, watermark: 70_000))
        #expect(late == [0])
        #expect(engine.lateEvents == 1)
        let after = engine.process(event("a", at: 101, amount: 1, watermark: 71_000))
        #expect(after == [2], "the late event was not added")
    }

    @Test func tumblingAndHoppingWindowsFollowTheirBuckets() {
        let specs = [
            FeatureSpec(name: "tumbling_sum", entity: 0, aggregate: .sum, field: .numeric(0), window: .tumbling(sizeMs: 10_000)),
            FeatureSpec(name: "hopping_sum", entity: 0, aggregate: .sum, field: .numeric(0), window: .hopping(sizeMs: 10_000, hopMs: 5_000)),
            FeatureSpec(name: "hopping_count", entity: 0, aggregate: .count, window: .hopping(sizeMs: 10_000, hopMs: 5_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        #expect(engine.process(event("a", at: 1, amount: 1)) == [1, 1, 1])
        #expect(engine.process(event("a", at: 6, amount: 2)) == [3, 3, 2])
        // 11 s: tumbling window [10, 20) holds only this event; hopping buckets [5,10) + [10,15) hold 2 and 4.
        #expect(engine.process(event("a", at: 11, amount: 4)) == [4, 6, 2])
        // 16 s: hopping buckets [10,15) + [15,20): 4 + 8.
        #expect(engine.process(event("a", at: 16, amount: 8)) == [12, 12, 2])
    }

    @Test func decayedWindowHalvesEachHalfLife() {
        let specs = [
            FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .decayed(halfLifeMs: 10_000)),
            FeatureSpec(name: "mean", entity: 0, aggregate: .mean, field: .numeric(0), window: .decayed(halfLifeMs: 10_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        _ = engine.process(event("a", at: 0, amount: 10))
        // After one half-life the first event weighs 0.5: count 1.5, mean (0.5 * 10 + 1 * 40) / 1.5 = 30.
        let second = engine.process(event("a", at: 10, amount: 40))
        #expect(abs(second[0] - 1.5) < 1e-12)
        #expect(abs(second[1] - 30) < 1e-9)
    }

    @Test func lookBackFeaturesUseThePreviousEvents() {
        let specs = [
            FeatureSpec(name: "since", entity: 0, aggregate: .timeSincePrevious, window: .none),
            FeatureSpec(name: "last", entity: 0, aggregate: .last, field: .numeric(0), window: .none),
            FeatureSpec(name: "ratio", entity: 0, aggregate: .ratioToMean, field: .numeric(0), window: .sliding(sizeMs: 60_000)),
            FeatureSpec(name: "new_merchant", entity: 0, aggregate: .firstSeen, field: .categorical(0), window: .sliding(sizeMs: 30_000)),
            FeatureSpec(name: "merchants", entity: 0, aggregate: .distinct, field: .categorical(0), window: .sliding(sizeMs: 30_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        let first = engine.process(event("a", at: 0, amount: 10, merchant: "x"))
        #expect(first[0].isNaN && first[1].isNaN && first[2].isNaN)
        #expect(first[3] == 1 && first[4] == 1)
        let second = engine.process(event("a", at: 5, amount: 30, merchant: "x"))
        #expect(second[0] == 5)
        #expect(second[1] == 10)
        #expect(second[2] == 3, "30 over the previous mean of 10")
        #expect(second[3] == 0 && second[4] == 1)
        let third = engine.process(event("a", at: 20, amount: 20, merchant: "y"))
        #expect(third[2] == 1, "20 over the previous mean of 20")
        #expect(third[3] == 1 && third[4] == 2)
        // 40 s: "x" was last seen at 5 s, outside (10 s, 40 s]: new again; distinct = y and x.
        let fourth = engine.process(event("a", at: 40, amount: 20, merchant: "x"))
        #expect(fourth[3] == 1 && fourth[4] == 2)
    }

    @Test func distinctCountSwitchesToHyperLogLogPastTheExactBound() {
        let specs = [FeatureSpec(name: "merchants", entity: 0, aggregate: .distinct, field: .categorical(0), window: .sliding(sizeMs: 86_400_000))]
        var engine = FeatureEngine(specs: specs, tables: [EntityTableSpec(name: "card", maxDistinctExact: 8)])
        var last = 0.0
        for i in 0..<8 { last = engine.process(event("a", at: Double(i), amount: 1, merchant: "m\(i)"))[0] }
        #expect(last == 8, "exact up to the bound")
        for i in 8..<2000 { last = engine.process(event("a", at: Double(i), amount: 1, merchant: "m\(i)"))[0] }
        // HyperLogLog with 128 registers: standard error about 9 %; allow three of them.
        #expect(abs(last - 2000) / 2000 < 0.27, "estimate \(last)")
    }

    @Test func severalEntitiesPerEventKeepSeparateState() {
        let specs = [
            FeatureSpec(name: "card_count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 60_000)),
            FeatureSpec(name: "merchant_count", entity: 1, aggregate: .count, window: .sliding(sizeMs: 60_000)),
        ]
        var engine = FeatureEngine(specs: specs, tables: tables)
        _ = engine.process(event("a", at: 1, amount: 1, merchantKey: "shop"))
        _ = engine.process(event("b", at: 2, amount: 1, merchantKey: "shop"))
        #expect(engine.process(event("a", at: 3, amount: 1, merchantKey: "shop")) == [2, 3])
        // A missing entity key gives NaN for that entity's features.
        let noMerchant = engine.process(event("a", at: 4, amount: 1))
        #expect(noMerchant[0] == 3 && noMerchant[1].isNaN)
    }

    @Test func keyCountIsBoundedByEvictionAndTTL() {
        let specs = [FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 60_000))]
        var engine = FeatureEngine(specs: specs, tables: [EntityTableSpec(name: "card", maxKeys: 100, ttlMs: 10_000)])
        for i in 0..<1000 { _ = engine.process(event("k\(i)", at: Double(i), amount: 1)) }
        #expect(engine.activeKeys[0].keys == 100)
        #expect(engine.evictions[0].evicted + engine.evictions[0].expired == 900)
        // A key not seen for longer than the TTL starts again from nothing.
        _ = engine.process(event("again", at: 2000, amount: 1))
        #expect(engine.process(event("again", at: 2001, amount: 1)) == [2])
        #expect(engine.process(event("again", at: 2020, amount: 1)) == [1], "expired after 10 s")
        #expect(engine.bytesPerKey[0].bytes > 0)
    }

    @Test func theBytesPerKeyBreakdownAddsUpToTheTotal() {
        let specs = [
            FeatureSpec(name: "count", entity: 0, aggregate: .count, window: .sliding(sizeMs: 60_000)),
            FeatureSpec(name: "mean", entity: 0, aggregate: .mean, field: .numeric(0), window: .hopping(sizeMs: 86_400_000, hopMs: 3_600_000)),
            FeatureSpec(name: "decayed", entity: 0, aggregate: .mean, field: .numeric(0), window: .decayed(halfLifeMs: 60_000)),
        ]
        let engine = FeatureEngine(specs: specs, tables: [EntityTableSpec(name: "card", maxKeys: 100, ttlMs: 10_000)])
        let parts = engine.bytesPerKeyByStore(entity: 0)
        #expect(parts.reduce(0) { $0 + $1.bytes } == engine.bytesPerKey[0].bytes)
        // The 24 buckets (id, count, mean and M2 each: no feature reads their extremes), and the merge of all but the
        // latest with the bucket it is for.
        #expect(parts.contains { $0.store == "24 buckets of 60 min, one field, with the merge of all but the latest" && $0.bytes == 25 * (8 + 3 * 8) })
        #expect(parts.contains { $0.store == "decayed aggregate" })
        #expect(engine.bytesPerKeyByStore(entity: 1).isEmpty, "an entity kind the engine does not own")
    }
}

