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
        /// For the primary kind: the events that took over a millisecond each to score while the keys arrived,
        /// and the time they took together: how often the owning thread stalls, where `longestEvent` says how long.
        public var slowEvents: (count: Int, milliseconds: Double)?
    }

    /// How long the state of the stream takes to go into a checkpoint and come back out, the way the daemon does
    /// it: the scorer's state, written into a partition snapshot, cut into changelog chunks; then the chunks put
    /// back together, opened and restored into a fresh scorer.
    public struct CheckpointTiming: Sendable {
        /// The snapshot's size (the chunks' payload, without their headers).
        public var bytes: Int
        public var chunks: Int
        /// The first checkpoint's write, into a buffer grown as it fills.
        public var firstWriteSeconds: Double
        /// Later writes, into a buffer with room reserved from the previous size.
        public var writeSeconds: Double
        public var restoreSeconds: Double
        /// The restored scorer holds as many keys of every kind as the one that wrote the checkpoint.
        public var restoredKeysMatch: Bool
    }

    public struct Report: Sendable {
        public var rows: [Row]
        public var checkpoint: CheckpointTiming
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
    /// (the card: nearly all keys are cards). Then times a checkpoint of the state and its restore.
    public func run() -> Report {
        let bench = CoreBenchmark(config: config, count: cards * 3, seed: 3, cards: cards)
        let decoder = EventDecoder(schema: config.schema)
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        var event = Event()
        var before = (resident: 0, keys: 0)
        var longest = (nanoseconds: UInt64(0), keys: 0)
        var slow = (count: 0, nanoseconds: UInt64(0))
        for (i, message) in bench.messages.enumerated() {
            if i == bench.messages.count / 10 { before = (Self.residentBytes(), scorer.activeKeys(entity: 0)) }
            event.offset = Int64(i)
            let start = DispatchTime.now().uptimeNanoseconds
            message.withUnsafeBytes { try? decoder.decode($0, into: &event) }
            _ = scorer.score(event)
            let took = DispatchTime.now().uptimeNanoseconds - start
            if took > longest.nanoseconds { longest = (took, scorer.activeKeys(entity: 0)) }
            if took > 1_000_000 { slow = (slow.count + 1, slow.nanoseconds + took) }
        }
        let growth = Double(Self.residentBytes() - before.resident)
        let rows = config.schema.entities.indices.map { entity in
            let keys = scorer.activeKeys(entity: entity)
            return Row(
                entity: config.schema.entities[entity].name, keys: keys,
                declared: scorer.declaredBytesPerKey(entity: entity),
                residentBytesPerKey: entity == 0 && keys > before.keys ? growth / Double(keys - before.keys) : nil,
                longestEvent: entity == 0 ? (Double(longest.nanoseconds) / 1e6, longest.keys) : nil,
                slowEvents: entity == 0 ? (slow.count, Double(slow.nanoseconds) / 1e6) : nil)
        }
        // A first checkpoint, then three more with room reserved from its size, as a worker reserves it from
        // the partition's previous snapshot; medians of those three (page faults make single timings noisy).
        let first = timeCheckpoint(of: scorer, capacity: 0)
        let timings = (0..<3).map { _ in timeCheckpoint(of: scorer, capacity: first.bytes + first.bytes / 8) }
        var checkpoint = timings[0]
        checkpoint.firstWriteSeconds = first.writeSeconds
        checkpoint.writeSeconds = timings.map(\.writeSeconds).sorted()[1]
        checkpoint.restoreSeconds = timings.map(\.restoreSeconds).sorted()[1]
        checkpoint.restoredKeysMatch = first.restoredKeysMatch && timings.allSatisfy(\.restoredKeysMatch)
        return Report(rows: rows, checkpoint: checkpoint)
    }

    private func timeCheckpoint(of scorer: SequentialScorer, capacity: Int) -> CheckpointTiming {
        let base = PartitionSnapshot.key(group: "bench", topic: "bench.transactions", partition: 0)
        let cut = PartitionCut(topic: "bench.transactions", partition: 0, nextOffset: Int64(cards * 3), watermarkMs: 0, checkpoint: 1, createdAtMs: 0)
        // As a worker and the consumer thread write it; each chunk copied out as the producer copies it.
        let start = DispatchTime.now().uptimeNanoseconds
        let encoded = PartitionSnapshot.encoded(cut, capacity: capacity) { scorer.saveState(to: &$0) }
        var chunks: [(key: String, value: [UInt8])] = []
        SnapshotChunks.forEachChunk(of: encoded, base: base, checkpoint: 1) { key, value in chunks.append((key, Array(value))) }
        let written = DispatchTime.now().uptimeNanoseconds

        var restored = SequentialScorer(model: ScoringModel(config: config))
        var assembler = SnapshotAssembler()
        for chunk in chunks { assembler.add(key: chunk.key, value: chunk.value) }
        var matches = false
        do {
            if let stored = try assembler.snapshot(base) {
                // As the consumer thread opens it and a worker restores the state from inside its bytes.
                var state = try PartitionSnapshot.decode(stored.payload).scorer
                try restored.restoreState(from: &state)
                matches = config.schema.entities.indices.allSatisfy { restored.activeKeys(entity: $0) == scorer.activeKeys(entity: $0) }
            }
        } catch {
            matches = false
        }
        let read = DispatchTime.now().uptimeNanoseconds
        return CheckpointTiming(
            bytes: encoded.count, chunks: chunks.count, firstWriteSeconds: Double(written - start) / 1e9, writeSeconds: Double(written - start) / 1e9,
            restoreSeconds: Double(read - written) / 1e9, restoredKeysMatch: matches)
    }

    /// VmRSS of this process.
    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
