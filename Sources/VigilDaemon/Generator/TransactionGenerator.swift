import Foundation
import VigilCore

/// A seeded synthetic card-transaction stream with injected fraud and a `label` field.
///
/// About 20,000 cards with habits (a home country and currency, a typical amount, a handful of favourite
/// merchants) buy from about 2,000 merchants; amounts are log-normal around each card's typical amount, with
/// a heavy tail. Three fraud patterns are injected at the requested rate, each labelled 1:
/// - card testing: a burst of 5 to 14 tiny amounts (0.50 to 2.99) at random merchants within two minutes;
/// - account takeover: 1 to 3 large amounts (10x to 40x the card's typical) at new merchants abroad;
/// - velocity spike: 12 to 24 ordinary-looking purchases within four minutes.
/// Event times advance at `eventsPerSecond` from `startMs`, with up to `jitterMs` of disorder.
public struct TransactionGenerator: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64 = 1
        public var cards = 20_000
        public var merchants = 2_000
        public var fraudRate = 0.01
        public var eventsPerSecond = 1_000.0
        public var startMs: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
        public var jitterMs: Int64 = 2_000
        public var idPrefix = "e"

        public init() {}
    }

    private struct Card {
        var country: Int
        var typicalAmount: Double
        var favourites: [Int]
    }

    /// The injected fraud patterns.
    public enum FraudPattern: String, Sendable, CaseIterable {
        case cardTesting = "card_testing"
        case accountTakeover = "account_takeover"
        case velocitySpike = "velocity_spike"
    }

    /// One generated transaction.
    public struct Transaction: Sendable {
        /// The card id, the input topic's key.
        public var key: String
        public var eventID: String
        public var json: String
        /// 1 for a fraudulent transaction.
        public var label: Int
        /// The pattern a fraudulent transaction belongs to (ground truth for tests; not in the JSON).
        public var pattern: FraudPattern?
    }

    private struct Pending {
        var timeMs: Int64
        var card: Int
        var merchant: Int
        var amount: Double
        var country: Int
        var pattern: FraudPattern?
    }

    public static let countries = ["FR", "DE", "GB", "US", "ES", "IT", "NL", "BR", "JP", "IN"]
    static let currencies = ["EUR", "EUR", "GBP", "USD", "EUR", "EUR", "EUR", "BRL", "JPY", "INR"]

    public let options: Options
    private var rng: SplitMix64
    private var cards: [Card] = []
    private var pending: [Pending] = []
    private var sequence = 0
    private var clockMs: Double

    public init(options: Options) {
        self.options = options
        rng = SplitMix64(seed: options.seed)
        clockMs = Double(options.startMs)
        for _ in 0..<options.cards {
            let country = rng.next() % 10 < 8 ? Int(rng.next() % 4) : Int(rng.next() % 10)
            let typical = exp(log(35.0) + 0.8 * rng.gaussian())
            let favourites = (0..<4).map { _ in Int(rng.next() % UInt64(options.merchants)) }
            cards.append(Card(country: country, typicalAmount: typical, favourites: favourites))
        }
    }

    /// The next transaction; its JSON has no trailing newline.
    public mutating func next() -> Transaction {
        let step = 1000.0 / options.eventsPerSecond
        let nowMs = Int64(clockMs)
        if let first = pending.indices.min(by: { pending[$0].timeMs < pending[$1].timeMs }), pending[first].timeMs <= nowMs {
            let p = pending.remove(at: first)
            return emit(p)
        }
        clockMs += step
        maybeStartPattern(at: nowMs)
        let cardIndex = Int(rng.next() % UInt64(options.cards))
        let card = cards[cardIndex]
        let merchant = rng.next() % 10 < 7 ? card.favourites[Int(rng.next() % 4)] : Int(rng.next() % UInt64(options.merchants))
        var amount = card.typicalAmount * exp(0.5 * rng.gaussian())
        if rng.uniform() < 0.01 { amount *= 1 + 9 * rng.uniform() }  // the heavy tail: rare big honest purchases
        let country = rng.uniform() < 0.02 ? Int(rng.next() % 10) : card.country
        return emit(Pending(timeMs: nowMs, card: cardIndex, merchant: merchant, amount: amount, country: country, pattern: nil))
    }

    private mutating func maybeStartPattern(at nowMs: Int64) {
        // Patterns average about 9 events; start them so that fraudRate of all events are fraudulent.
        let startProbability = options.fraudRate / 9.0 / max(0.01, 1 - options.fraudRate)
        guard rng.uniform() < startProbability else { return }
        let cardIndex = Int(rng.next() % UInt64(options.cards))
        let card = cards[cardIndex]
        switch rng.next() % 3 {
        case 0:
            let count = 5 + Int(rng.next() % 10)
            for _ in 0..<count {
                let t = nowMs + Int64(rng.uniform() * 120_000)
                let amount = 0.5 + Double(rng.next() % 250) / 100
                pending.append(Pending(timeMs: t, card: cardIndex, merchant: Int(rng.next() % UInt64(options.merchants)), amount: amount, country: card.country, pattern: .cardTesting))
            }
        case 1:
            let count = 1 + Int(rng.next() % 3)
            var abroad = Int(rng.next() % 10)
            if abroad == card.country { abroad = (abroad + 5) % 10 }
            for k in 0..<count {
                let t = nowMs + Int64(k) * 45_000 + Int64(rng.uniform() * 30_000)
                let amount = card.typicalAmount * (10 + 30 * rng.uniform())
                pending.append(Pending(timeMs: t, card: cardIndex, merchant: Int(rng.next() % UInt64(options.merchants)), amount: amount, country: abroad, pattern: .accountTakeover))
            }
        default:
            let count = 12 + Int(rng.next() % 13)
            for _ in 0..<count {
                let t = nowMs + Int64(rng.uniform() * 240_000)
                let amount = card.typicalAmount * exp(0.5 * rng.gaussian())
                pending.append(Pending(timeMs: t, card: cardIndex, merchant: card.favourites[Int(rng.next() % 4)], amount: amount, country: card.country, pattern: .velocitySpike))
            }
        }
    }

    private mutating func emit(_ p: Pending) -> Transaction {
        sequence += 1
        let jitter = options.jitterMs > 0 ? Int64(rng.next() % UInt64(options.jitterMs)) - options.jitterMs / 2 : 0
        let card = "card-\(String(p.card).leftPadded(to: 5))"
        let cents = (max(0.01, p.amount) * 100).rounded() / 100
        let eventID = "\(options.idPrefix)-\(options.seed)-\(sequence)"
        let json = """
            {"event_id":"\(eventID)","ts":\(p.timeMs + jitter),"card_id":"\(card)",\
            "merchant_id":"m-\(String(p.merchant).leftPadded(to: 4))","amount":\(cents),"country":"\(Self.countries[p.country])",\
            "currency":"\(Self.currencies[p.country])","label":\(p.pattern == nil ? 0 : 1)}
            """
        return Transaction(key: card, eventID: eventID, json: json, label: p.pattern == nil ? 0 : 1, pattern: p.pattern)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension SplitMix64 {
    /// A standard normal draw (Box-Muller).
    mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-12)
        let v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
