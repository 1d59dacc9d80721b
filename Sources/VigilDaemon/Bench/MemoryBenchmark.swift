import Foundation
import VigilCore

/// State per active entity key with a config: as the stores declare it (their preallocated sizes) and as the
/// process's resident memory grows while keys arrive.
public struct MemoryBenchmark: Sendable {
    public struct Row: Sendable {
        public var entity: String
        public var keys: Int
        /// What the key's feature stores, key index entries and per-key detectors are sized to, store by store.
        public var declared: [(store: String, bytes: Int)]
        public var declaredBytesPerKey: Int { declared.reduce(0) { $0 + $1.bytes } }
        /// Resident memory growth while scoring, divided by the keys (nil for a kind with too few keys to tell).
        public var residentBytesPerKey: Double?
        /// For the primary kind: the longest any one event took to score while its keys arrived, and the keys
        /// held after it (a store growing for new keys shows here as a stall of the thread that owns it).
        public var longestEvent: (milliseconds: Double, keys: Int)?
    }

    public let config: VigilConfiguration
    public let cards: Int

    /// - Parameter cards: distinct primary keys the stream brings (three events each).
    public init(config: VigilConfiguration, cards: Int) {
        self.config = config
        self.cards = cards
    }

    /// Scores the stream once on one thread and reports every entity kind of the config. The resident growth is
    /// taken from the first tenth of the events on (by then the model's shared structures, such as the
    /// half-space trees' nodes, are in memory) and attributed to the primary kind's keys that arrived meanwhile
    /// (the card: nearly all keys are cards).
    public func run() -> [Row] {
        let bench = CoreBenchmark(config: config, count: cards * 3, seed: 3, cards: cards)
        let decoder = EventDecoder(schema: config.schema)
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        var event = Event()
        var before = (resident: 0, keys: 0)
        var longest = (nanoseconds: UInt64(0), keys: 0)
        for (i, message) in bench.messages.enumerated() {
            if i == bench.messages.count / 10 { before = (Self.residentBytes(), scorer.activeKeys(entity: 0)) }
            event.offset = Int64(i)
            let start = DispatchTime.now().uptimeNanoseconds
            message.withUnsafeBytes { try? decoder.decode($0, into: &event) }
            _ = scorer.score(event)
            let took = DispatchTime.now().uptimeNanoseconds - start
            if took > longest.nanoseconds { longest = (took, scorer.activeKeys(entity: 0)) }
        }
        let growth = Double(Self.residentBytes() - before.resident)
        return config.schema.entities.indices.map { entity in
            let keys = scorer.activeKeys(entity: entity)
            return Row(
                entity: config.schema.entities[entity].name, keys: keys,
                declared: scorer.declaredBytesPerKey(entity: entity),
                residentBytesPerKey: entity == 0 && keys > before.keys ? growth / Double(keys - before.keys) : nil,
                longestEvent: entity == 0 ? (Double(longest.nanoseconds) / 1e6, longest.keys) : nil)
        }
    }

    /// VmRSS of this process.
    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
