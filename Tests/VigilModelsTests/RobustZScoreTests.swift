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
}
