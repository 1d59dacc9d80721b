import Foundation
import Synchronization
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// What a test saw of each scored event, for comparing runs.
struct ScoredRecord: Equatable {
    var features: [UInt64]
    var raw: [UInt64]
    var calibrated: [UInt64]
    var score: UInt64
    var alert: Bool

    init(_ scored: ScoredEvent, features: Int, detectors: Int) {
        self.features = (0..<features).map { scored.features[$0].bitPattern }
        raw = (0..<detectors).map { scored.result.rawScores[$0].bitPattern }
        calibrated = (0..<detectors).map { scored.result.detectorScores[$0].bitPattern }
        score = scored.result.score.bitPattern
        alert = scored.result.alert
    }
}

/// Collects the scored events of a service by event id (the last one wins on a re-read).
final class ScoredCollector: Sendable {
    private let records = Mutex<[String: ScoredRecord]>([:])
    let features: Int
    let detectors: Int

    init(config: VigilConfiguration) {
        features = config.features.count
        detectors = config.detectors.count
    }

    var observer: @Sendable (ScoredEvent) -> Void {
        { scored in
            let id = scored.event.id.withBytes { String(decoding: $0, as: UTF8.self) }
            let record = ScoredRecord(scored, features: self.features, detectors: self.detectors)
            self.records.withLock { $0[id] = record }
        }
    }

    var all: [String: ScoredRecord] { records.withLock { $0 } }
}

@Suite("Checkpoints against a real broker", .serialized)
struct CheckpointTests {
    /// A fixture whose daemon checkpoints to a changelog topic of its own, with lighter half-space trees (the
    /// shipped height 15 makes every checkpoint tens of MB).
    static func fixture(_ prefix: String, partitions: Int32) throws -> DaemonFixture {
        var fixture = try DaemonFixture(prefix: prefix, partitions: partitions)
        fixture.enableCheckpoints(intervalMs: 60_000)
        for i in fixture.config.detectors.indices {
            if case .halfSpaceTrees(let inputs, let trees, _, let window, let ranges, let warmup, let margin, let seed) = fixture.config.detectors[i].kind {
                fixture.config.detectors[i].kind = .halfSpaceTrees(inputs: inputs, trees: trees, height: 8, window: window, ranges: ranges, warmup: warmup, margin: margin, seed: seed)
            }
        }
        return fixture
    }

    /// Runs a daemon with `config` until it has scored `count` events (checked), then stops it; returns the stopped
    /// service, for its counters.
    @discardableResult
    static func runUntilScored(_ count: Int, config: VigilConfiguration, collector: ScoredCollector? = nil) throws -> VigilService {
        let service = try VigilService(config: config, logger: Broker.logger, onScored: collector?.observer)
        try service.start()
        #expect(service.waitUntilScored(count, within: .seconds(120)) == count)
        service.requestStop()
        service.waitUntilStopped()
        return service
    }

    /// Stopping (which checkpoints) and starting again scores the rest of the stream exactly as an uninterrupted
    /// daemon does — features, every detector's raw and calibrated score, the combined score and the alerts — so
    /// nothing learned is lost and nothing is learned twice. One input partition keeps the input order, and so
    /// every model, deterministic.
    @Test(.timeLimit(.minutes(4)))
    func aRestartedDaemonScoresExactlyLikeAnUninterruptedOne() throws {
        var uninterrupted = try Self.fixture("ckpt-ref", partitions: 1)
        var restarted = try Self.fixture("ckpt-run", partitions: 1)
        try uninterrupted.produce(4_000, seed: 81)
        try restarted.produce(2_000, seed: 81)

        let reference = ScoredCollector(config: uninterrupted.config)
        try Self.runUntilScored(4_000, config: uninterrupted.config, collector: reference)

        let firstHalf = try Self.runUntilScored(2_000, config: restarted.config)
        #expect(firstHalf.counters.checkpoints.load(ordering: .relaxed) == 1, "a checkpoint at shutdown")

        // The second half of the same stream.
        try restarted.produce(2_000, seed: 81, skipping: 2_000)

        let after = ScoredCollector(config: restarted.config)
        let secondHalf = try VigilService(config: restarted.config, logger: Broker.logger, onScored: after.observer)
        try secondHalf.start()
        #expect(secondHalf.waitUntilScored(2_000, within: .seconds(90)) == 2_000)
        let ready = secondHalf.readiness
        secondHalf.requestStop()
        secondHalf.waitUntilStopped()
        #expect(secondHalf.counters.partitionsRestored.load(ordering: .relaxed) == 1)
        #expect(secondHalf.counters.snapshotErrors.load(ordering: .relaxed) == 0)
        #expect(ready.stateRestored)
        #expect(secondHalf.counters.consumed.load(ordering: .relaxed) == 2_000, "it resumed right after the checkpoint's offset")

        let expected = reference.all
        let got = after.all
        #expect(got.count == 2_000)
        var differing: [String] = []
        var alerts = 0
        for (id, record) in got {
            if expected[id] != record { differing.append(id) }
            if record.alert { alerts += 1 }
        }
        #expect(differing.isEmpty, "\(differing.count) of \(got.count) events scored differently after the restart, e.g. \(differing.prefix(3))")
        #expect(alerts > 0, "the comparison covers alerts")
    }

    /// Events between a partition's snapshot and the group's committed offset had their outputs delivered before
    /// the restart: the restarted daemon reads them again only to rebuild state. Each event's score record is on
    /// the scores topic once, the re-read events are counted as replayed, and the events after them score exactly
    /// as an uninterrupted daemon scores them (the replay rebuilt everything they learned).
    @Test(.timeLimit(.minutes(5)))
    func eventsBehindTheCommitRebuildStateWithoutOutputs() throws {
        var uninterrupted = try Self.fixture("replay-ref", partitions: 1)
        var restarted = try Self.fixture("replay-run", partitions: 1)
        try uninterrupted.produce(3_000, seed: 84)
        let reference = ScoredCollector(config: uninterrupted.config)
        try Self.runUntilScored(3_000, config: uninterrupted.config, collector: reference)

        // A snapshot at offset 1,000 (written at shutdown) ...
        try restarted.produce(1_000, seed: 84)
        let first = try Self.runUntilScored(1_000, config: restarted.config)
        #expect(first.counters.checkpoints.load(ordering: .relaxed) == 1)

        // ... and the group's offset at 2,000: a run without checkpoints delivers and commits the next 1,000.
        try restarted.produce(1_000, seed: 84, skipping: 1_000)
        var withoutCheckpoints = restarted.config
        withoutCheckpoints.checkpoints.intervalMs = nil
        try Self.runUntilScored(1_000, config: withoutCheckpoints)
        #expect(try waitUntilCommitted(restarted, partitions: 1, within: .seconds(30)))

        try restarted.produce(1_000, seed: 84, skipping: 2_000)
        let after = ScoredCollector(config: restarted.config)
        let third = try VigilService(config: restarted.config, logger: Broker.logger, onScored: after.observer)
        try third.start()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(90)
        func read() -> Int { third.counters.scored.load(ordering: .relaxed) + third.counters.replayed.load(ordering: .relaxed) }
        while read() < 2_000, clock.now < deadline { Thread.sleep(forTimeInterval: 0.1) }
        Thread.sleep(forTimeInterval: 1)
        third.requestStop()
        third.waitUntilStopped()
        #expect(third.counters.partitionsRestored.load(ordering: .relaxed) == 1)
        #expect(third.counters.consumed.load(ordering: .relaxed) == 2_000, "read from the snapshot's offset")
        #expect(third.counters.replayed.load(ordering: .relaxed) == 1_000, "the events the group had committed")
        #expect(third.counters.scored.load(ordering: .relaxed) == 1_000)

        let counts = try scoreCounts(restarted.config.kafka.scoresTopic!, expecting: 3_000, deadline: .seconds(60))
        #expect(counts.count == 3_000 && Set(counts.keys) == Set(restarted.ids), "every event scored: \(counts.count) of 3,000")
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.values.filter { $0 > 1 }.count) events output twice")

        let expected = reference.all
        let got = after.all
        let afterCommit = Set(restarted.ids.suffix(1_000))
        let outputBeforeCommit = got.keys.filter { !afterCommit.contains($0) }.count
        #expect(got.count == 1_000 && outputBeforeCommit == 0, "only the events after the commit were output: \(got.count), \(outputBeforeCommit) of them before it")
        let differing = got.filter { expected[$0.key] != $0.value }.map(\.key)
        #expect(differing.isEmpty, "\(differing.count) of \(got.count) events scored differently after the replay, e.g. \(differing.prefix(3))")
    }

    /// A damaged snapshot on the changelog is reported (log, metric) and the partition starts cold from the
    /// committed offset; the daemon does not crash.
    @Test(.timeLimit(.minutes(3)))
    func aDamagedSnapshotStartsThePartitionColdInsteadOfCrashing() throws {
        var fixture = try Self.fixture("ckpt-bad", partitions: 1)
        try fixture.produce(1_000, seed: 82)
        let first = try VigilService(config: fixture.config, logger: Broker.logger)
        try first.start()
        first.waitUntilScored(1_000, within: .seconds(90))
        first.requestStop()
        first.waitUntilStopped()

        // Overwrite the partition snapshot's first chunk with garbage of the right shape (a valid header for
        // another checkpoint), as a torn write would leave it.
        let key = PartitionSnapshot.key(group: fixture.config.kafka.groupID, topic: fixture.config.kafka.inputTopics[0], partition: 0)
        let garbage = SnapshotChunks.split(Array(repeating: 7, count: 2_000), base: key, checkpoint: 1, maxChunkBytes: 1_000)[0]
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        try producer.produce(topic: fixture.config.checkpoints.topic, key: Array(garbage.key.utf8), value: garbage.value, blockWhenFull: true)
        try producer.close(timeout: .seconds(30))

        try fixture.produce(500, seed: 83)
        let second = try VigilService(config: fixture.config, logger: Broker.logger)
        try second.start()
        second.waitUntilScored(500, within: .seconds(90))
        let scored = second.counters.scored.load(ordering: .relaxed)
        second.requestStop()
        second.waitUntilStopped()
        #expect(second.counters.snapshotErrors.load(ordering: .relaxed) == 1)
        #expect(second.counters.partitionsRestored.load(ordering: .relaxed) == 0)
        #expect(scored == 500, "cold, from the committed offset: the new events only")
    }
}

@Suite("Exactly once against a real broker", .serialized)
struct ExactlyOnceTests {
    /// `delivery: exactly_once`: outputs, snapshots and offsets commit together. Across a stop and a restart,
    /// each event's score record is on the scores topic exactly once (read_committed), and the restarted daemon
    /// resumes with its state.
    @Test(.timeLimit(.minutes(4)))
    func eachEventIsScoredExactlyOnceAcrossARestart() throws {
        var fixture = try CheckpointTests.fixture("eos", partitions: 2)
        fixture.config.kafka.delivery = .exactlyOnce
        try fixture.produce(3_000, seed: 95)
        let first = try VigilService(config: fixture.config, logger: Broker.logger)
        try first.start()
        #expect(first.waitUntilScored(3_000, within: .seconds(90)) == 3_000)
        first.requestStop()
        first.waitUntilStopped()
        #expect(first.counters.transactions.load(ordering: .relaxed) > 0)
        #expect(first.counters.transactionsAborted.load(ordering: .relaxed) == 0)

        try fixture.produce(2_000, seed: 96)
        let second = try VigilService(config: fixture.config, logger: Broker.logger)
        try second.start()
        #expect(second.waitUntilScored(2_000, within: .seconds(90)) == 2_000)
        Thread.sleep(forTimeInterval: 1.5)
        second.requestStop()
        second.waitUntilStopped()
        #expect(second.counters.partitionsRestored.load(ordering: .relaxed) == 2)

        let counts = try scoreCounts(fixture.config.kafka.scoresTopic!, expecting: 5_000, deadline: .seconds(60))
        #expect(Set(counts.keys) == Set(fixture.ids), "every event scored: \(counts.count) of \(Set(fixture.ids).count)")
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.values.filter { $0 > 1 }.count) events scored more than once")
        #expect(counts.values.reduce(0, +) == 5_000)
    }

    /// Killed mid-transaction and restarted: the restarted daemon resumes from the last committed transaction
    /// and checkpoint and scores the rest. With Apache Kafka the killed producer's open transaction is aborted
    /// when it times out and read_committed readers then see each event once. tansu 0.6.0 neither times out a
    /// dead producer's transaction nor hides aborted records, so its last stable offset stays behind the open
    /// transaction (read_committed readers, the changelog read included, see nothing past it): that part is
    /// recorded as a known issue, which turns red once the broker handles it.
    @Test(.timeLimit(.minutes(3)))
    func aKilledTransactionIsResumedFromTheLastCommittedOne() throws {
        var fixture = try CheckpointTests.fixture("eos-crash", partitions: 2)
        fixture.config.kafka.delivery = .exactlyOnce
        fixture.config.checkpoints.intervalMs = 2_000
        try fixture.produce(30_000, seed: 97)
        let config = try fixture.writeConfig(CrashTests.lighter + [("delivery: at_least_once", "delivery: exactly_once")])
        let killed = try BackgroundProcess(vigilRun: config, name: "eos-crash-killed")
        // Killed once it has committed a checkpoint, a moment into the next transaction (a fixed 7 s was too short
        // for a debug build on a busy host: group join, the 2 s interval, then a quiet point to commit at).
        _ = killed.waitForLog("checkpoint written", timeout: .seconds(60))
        Thread.sleep(forTimeInterval: 1)
        killed.stop(SIGKILL)
        let committedBefore = killed.logLines(containing: "checkpoint written").count
        let last = try BackgroundProcess(vigilRun: config, name: "eos-crash-final")
        Thread.sleep(forTimeInterval: 15)
        last.stop()
        #expect(committedBefore > 0, "the killed daemon had committed checkpoints")
        #expect(last.logLines(containing: "transaction aborted").isEmpty, "the restarted daemon's transactions commit")
        withKnownIssue("tansu 0.6.0 keeps a killed producer's transaction open and shows aborted records", isIntermittent: true) {
            // Its read_committed changelog read stops behind the dead transaction, so the restart starts cold.
            #expect(last.logLines(containing: "restored ").count >= 1, "the restart resumed from the committed checkpoint")
            let done = try waitUntilCommitted(fixture, partitions: 2, within: .seconds(20))
            #expect(done, "offsets committed to the end")
            let counts = try scoreCounts(fixture.config.kafka.scoresTopic!, expecting: 30_000, deadline: .seconds(20))
            let invisible = Set(fixture.ids).subtracting(counts.keys).count
            #expect(invisible == 0, "every event visible to read_committed readers (\(invisible) not)")
            #expect(counts.values.allSatisfy { $0 == 1 }, "each event once")
        }
    }
}
