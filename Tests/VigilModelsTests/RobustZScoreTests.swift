import Testing
import VigilCore
import VigilModels

@Suite("Robust z-score")
struct RobustZScoreTests {
    /// The z-score as its definition states it: both medians taken by sorting.
    private func reference(_ x: Double, window: [Double]) -> Double {
        let sorted = window.sorted()
        func median(_ s: [Double]) -> Double { s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        let m = median(sorted)
        let deviations = sorted.map { abs($0 - m) }.sorted()
        var spread = 1.4826 * median(deviations)
        if spread == 0 { spread = 1.2533 * deviations.reduce(0, +) / Double(deviations.count) }
        if spread == 0 { return x == m ? 0 : (x > m ? .infinity : -.infinity) }
        return (x - m) / spread
    }

    /// The deviations' median found by walking out from the median gives the z-score of sorting them, bit for
    /// bit: odd and even counts while a key warms up, ties, values mostly equal (the mean-deviation fallback)
    /// and all equal.
    @Test(arguments: [0, 1, 2, 3])
    func zScoresEqualTheDefinitionBitForBit(kind: Int) {
        let window = 32
        var detector = RobustZScoreDetector(field: 0, entity: 0, window: window, minSamples: 2)
        var generator = SplitMix64(seed: UInt64(40 + kind))
        var history: [String: [Double]] = [:]
        var mismatches = 0
        var compared = 0
        for i in 0..<4_000 {
            let card = "c\(generator.next() % 9)"
            let x: Double = switch kind {
            case 0: 10 + Double(generator.next() % 10_000) / 100
            case 1: Double(generator.next() % 6)
            case 2: generator.next() % 5 == 0 ? Double(generator.next() % 1000) : 42
            default: 7
            }
            let result = detector.process(cardEvent(card: card, amount: x, at: Int64(i) * 1000))
            let past = history[card, default: []]
            if past.count >= 2 {
                compared += 1
                if result.z.bitPattern != reference(x, window: past).bitPattern { mismatches += 1 }
            }
            history[card] = Array((past + [x]).suffix(window))
        }
        #expect(compared > 3_900)
        #expect(mismatches == 0)
    }

    /// Windows beyond 256 values (a value's age then needs more than a byte), with late events, which are scored
    /// but not added: still the definition's z-score bit for bit.
    @Test func longWindowsAndLateEventsEqualTheDefinition() {
        let window = 300
        var detector = RobustZScoreDetector(field: 0, entity: 0, window: window, minSamples: 2)
        var generator = SplitMix64(seed: 77)
        var history: [Double] = []
        var mismatches = 0
        for i in 0..<2_000 {
            let x = Double(generator.next() % 400) / 4
            var event = cardEvent(card: "c", amount: x, at: Int64(i) * 1000)
            let late = generator.next() % 10 == 0
            if late { event.watermarkMs = event.timeMs + 1 }
            let result = detector.process(event)
            if history.count >= 2, result.z.bitPattern != reference(x, window: history).bitPattern { mismatches += 1 }
            if !late { history = Array((history + [x]).suffix(window)) }
        }
        #expect(mismatches == 0)
    }

    /// A detector saved mid-stream (each key's values in arrival order) and restored continues exactly like the
    /// original: the oldest value of every full window is the one dropped next.
    @Test func aRestoredDetectorDropsTheSameOldestValues() throws {
        var original = RobustZScoreDetector(field: 0, entity: 0, window: 5, minSamples: 2)
        var generator = SplitMix64(seed: 78)
        func next(_ i: Int) -> Event { cardEvent(card: "c\(generator.next() % 4)", amount: Double(generator.next() % 7), at: Int64(i) * 1000) }
        for i in 0..<1_000 { _ = original.process(next(i)) }
        var writer = BinaryWriter()
        original.write(to: &writer)
        var reader = BinaryReader(writer.bytes)
        var restored = try RobustZScoreDetector(from: &reader)
        var differences = 0
        for i in 1_000..<3_000 {
            let event = next(i)
            if original.process(event).z.bitPattern != restored.process(event).z.bitPattern { differences += 1 }
        }
        #expect(differences == 0)
    }

    /// A detector taking its slots from the caller's key index scores exactly like one keeping its own index with
    /// the same bounds, through evictions for space, expiries and reused slots.
    @Test func aDetectorSharingKeysScoresLikeOneWithItsOwnIndex() {
        let (maxKeys, ttlMs) = (12, Int64(40_000))
        var own = RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 3, maxKeys: maxKeys, ttlMs: ttlMs)
        var shared = RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 3, sharesKeys: true)
        var keys = EntityKeyIndex(maxKeys: maxKeys, ttlMs: ttlMs)
        var generator = SplitMix64(seed: 79)
        var (differences, warm, time) = (0, 0, Int64(0))
        for _ in 0..<20_000 {
            // Ten busy cards and ten rare ones; now and then a quiet minute, past the keys' TTL.
            time += generator.next() % 500 == 0 ? 60_000 : 250
            let card = generator.next() % 5 == 0 ? 10 + generator.next() % 10 : generator.next() % 10
            let event = cardEvent(card: "c\(card)", amount: Double(generator.next() % 1000) / 10, at: time)
            let a = own.process(event)
            let b = shared.process(event, value: event.numeric[0], key: keys.lookup(event.entities[0], nowMs: event.timeMs))
            if a.z.bitPattern != b.z.bitPattern || a.isWarm != b.isWarm { differences += 1 }
            if a.isWarm { warm += 1 }
        }
        #expect(keys.evictedForSpace > 100 && keys.expired > 10, "evicted \(keys.evictedForSpace), expired \(keys.expired)")
        #expect(warm > 5_000, "\(warm) warm")
        #expect(differences == 0)
        #expect(shared.bytesPerKey == own.bytesPerKey - EntityKeyIndex.bytesPerKey)
    }

    /// A slot handed to a new key starts an empty baseline even on an event without the value: the evicted
    /// key's values never score the new key.
    @Test func aReusedSlotStartsOverOnAnEventWithoutTheValue() {
        var shared = RobustZScoreDetector(field: 0, entity: 0, window: 8, minSamples: 3, sharesKeys: true)
        var keys = EntityKeyIndex(maxKeys: 1, ttlMs: .max / 4)
        func run(_ card: String, _ amount: Double, at ms: Int64) -> RobustZScoreDetector.Result {
            let event = cardEvent(card: card, amount: amount, at: ms)
            return shared.process(event, value: amount, key: keys.lookup(event.entities[0], nowMs: ms))
        }
        for i in 0..<6 { _ = run("a", Double(i), at: Int64(i)) }
        #expect(run("a", 3, at: 6).isWarm)
        let missing = run("b", .nan, at: 7)
        #expect(!missing.isWarm && keys.evictedForSpace == 1)
        #expect(!run("b", 3, at: 8).isWarm, "b's slot held a's values")
    }

    /// A detector saved with its own index and moved to another index's slots (`sharingKeys(of:)`, how an older
    /// checkpoint is read into a scorer sharing the features' keys) continues like the original; keys the other
    /// index does not hold start over. Its shared form round-trips through `writeSharingKeys`.
    @Test func baselinesMoveToTheSlotsOfASharedIndex() throws {
        var own = RobustZScoreDetector(field: 0, entity: 0, window: 6, minSamples: 2)
        var generator = SplitMix64(seed: 80)
        func next(_ i: Int) -> Event { cardEvent(card: "c\(generator.next() % 9)", amount: Double(generator.next() % 40), at: Int64(i) * 1000) }
        for i in 0..<2_000 { _ = own.process(next(i)) }
        // Another index holding the cards in another order (so other slots), without card c0.
        var keys = EntityKeyIndex(maxKeys: 100, ttlMs: .max / 4)
        for card in (1..<9).reversed() { _ = keys.lookup(EntityKey("c\(card)")!, nowMs: 2_000_000) }
        var writer = BinaryWriter()
        own.write(to: &writer)
        var reader = BinaryReader(writer.bytes)
        var moved = try RobustZScoreDetector(from: &reader).sharingKeys(of: keys)
        #expect(moved.sharesKeys)

        var sharedWriter = BinaryWriter()
        moved.writeSharingKeys(to: &sharedWriter)
        var sharedReader = BinaryReader(sharedWriter.bytes)
        var reread = try RobustZScoreDetector(sharingKeysFrom: &sharedReader)
        #expect(sharedReader.isAtEnd)

        var (differences, startedOver) = (0, 0)
        for i in 2_000..<4_000 {
            let event = next(i)
            let lookup = keys.lookup(event.entities[0], nowMs: event.timeMs)
            let a = own.process(event)
            let b = moved.process(event, value: event.numeric[0], key: lookup)
            let c = reread.process(event, value: event.numeric[0], key: lookup)
            if b.z.bitPattern != c.z.bitPattern { differences += 1 }
            if event.entities[0] == EntityKey("c0")! {
                if !b.isWarm { startedOver += 1 }
            } else if a.z.bitPattern != b.z.bitPattern {
                differences += 1
            }
        }
        #expect(differences == 0)
        #expect(startedOver == 2, "c0's first two events after the move warm a new baseline")
    }
}
