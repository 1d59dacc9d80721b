import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// A shell command running in the background for a test (posix_spawn and waitpid: Foundation's `Process` was
/// seen missing exits here), its standard error in a file; killed when the test lets go of it.
final class BackgroundProcess {
    let pid: pid_t
    let log: String
    private var exited = false

    init(_ command: String, name: String) throws {
        log = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(6)).log"
        let line = "exec \(command) 2>'\(log)'"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(line), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw TestSetupError("cannot start \(command)") }
        self.pid = pid
    }

    /// A `vigil run` of the debug build (or `binary`) with JSON logs.
    convenience init(vigilRun config: String, name: String, binary: String = Shell.vigil, arguments: String = "--log-format json") throws {
        try self.init("'\(binary)' run --config '\(config)' \(arguments)", name: name)
    }

    /// Sends `signal` and waits for the exit (up to `timeout`, then SIGKILL).
    func stop(_ signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) {
        guard !exited else { return }
        kill(pid, signal)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var status: Int32 = 0
        while clock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                exited = true
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        exited = true
    }

    /// Log lines containing `text`.
    func logLines(containing text: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }

    /// Waits (up to `timeout`) until the log contains `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(20)) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if !logLines(containing: text).isEmpty { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    deinit { stop(SIGKILL, timeout: .seconds(5)) }
}

/// How many score records each event id has on a scores topic.
func scoreCounts(_ topic: String, expecting count: Int, deadline: Duration) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for message in try Broker.readAll(topic, expecting: count, deadline: deadline) {
        let object = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
        counts[object?["event_id"] as? String ?? "", default: 0] += 1
    }
    return counts
}

/// Waits until the group has committed every input offset (or the time is up; a zero timeout checks once);
/// true when it has.
func waitUntilCommitted(_ fixture: DaemonFixture, partitions: Int32, within timeout: Duration) throws -> Bool {
    let topic = fixture.config.kafka.inputTopics[0]
    let checker = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: Broker.options(), groupID: fixture.config.kafka.groupID), logger: Broker.logger)
    defer { try? checker.close() }
    let all = (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: $0) }
    let ends = try all.map { try checker.watermarks($0).high }
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        let committed = try checker.committed(all)
        if zip(committed, ends).allSatisfy({ $0.offset >= $1 }) { return true }
        if clock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.5)
    }
}

@Suite("Crashes and rebalances against a real broker", .serialized)
struct CrashTests {
    static let lighter = [("height: 15", "height: 8")]

    /// 200,000 events while the daemon is killed with SIGKILL five times at random moments and restarted: at
    /// least once, every event is scored, and the restarts resume from the checkpoints.
    @Test(.timeLimit(.minutes(8)))
    func killedFiveTimesNothingIsLost() throws {
        var fixture = try DaemonFixture(prefix: "crash", partitions: 2)
        fixture.enableCheckpoints(intervalMs: 2_000)
        try fixture.produce(200_000, seed: 91)
        let config = try fixture.writeConfig(Self.lighter)
        var rng = SplitMix64(seed: 92)
        var restores = 0
        for round in 0..<5 {
            let daemon = try BackgroundProcess(vigilRun: config, name: "crash-\(round)")
            Thread.sleep(forTimeInterval: 5 + 6 * rng.uniform())
            daemon.stop(SIGKILL)
            restores += daemon.logLines(containing: "restored ").count
        }
        let last = try BackgroundProcess(vigilRun: config, name: "crash-final")
        let done = try waitUntilCommitted(fixture, partitions: 2, within: .seconds(240))
        last.stop()
        restores += last.logLines(containing: "restored ").count
        #expect(done, "the group committed the whole input")
        #expect(restores >= 3, "restarts resumed from checkpoints (\(restores) restores logged)")

        let counts = try scoreCounts(fixture.config.kafka.scoresTopic!, expecting: 200_000, deadline: .seconds(120))
        let missing = fixture.ids.filter { counts[$0] == nil }
        #expect(missing.isEmpty, "\(missing.count) events never scored, e.g. \(missing.prefix(3))")
        #expect(counts.values.reduce(0, +) >= 200_000, "at least once: \(counts.values.reduce(0, +)) score records for 200,000 events")
    }

    /// The daemon is killed after a checkpoint covered every event but before the group committed them, and
    /// nothing new arrives: the restarted daemon commits the restore point, so the group's lag drops to zero
    /// (before, it stayed behind for as long as the partition was quiet).
    @Test(.timeLimit(.minutes(3)))
    func aCheckpointAheadOfTheCommitIsCommittedOnRestore() throws {
        var fixture = try DaemonFixture(prefix: "ahead", partitions: 1)
        fixture.enableCheckpoints(intervalMs: 1_000)
        try fixture.produce(3_000, seed: 95)
        let neverCommits = try fixture.writeConfig(Self.lighter + [("commit_interval: 1s", "commit_interval: 10m")])
        let first = try BackgroundProcess(vigilRun: neverCommits, name: "ahead-first")
        let covered = first.waitForLog("\(fixture.config.kafka.inputTopics[0])[0]@3000", timeout: .seconds(90))
        first.stop(SIGKILL)
        try #require(covered, "a checkpoint covered all 3,000 events")
        #expect(try !waitUntilCommitted(fixture, partitions: 1, within: .zero), "the killed daemon had committed nothing")

        let restarted = try BackgroundProcess(vigilRun: try fixture.writeConfig(Self.lighter), name: "ahead-restart")
        let done = try waitUntilCommitted(fixture, partitions: 1, within: .seconds(60))
        restarted.stop()
        #expect(restarted.logLines(containing: "reading from offset 3000").count == 1, "the restart restored the snapshot")
        #expect(done, "the restore point was committed though no event arrived")
    }

    /// Three daemons in one group; one is killed mid-stream. Its partitions move to the others with their state
    /// (restored from its last checkpoint) and every event is scored by someone.
    @Test(.timeLimit(.minutes(6)))
    func aKilledMembersPartitionsMoveWithTheirState() throws {
        var fixture = try DaemonFixture(prefix: "rebalance", partitions: 6)
        fixture.enableCheckpoints(intervalMs: 2_000)
        try fixture.produce(30_000, seed: 93)
        let config = try fixture.writeConfig(Self.lighter)
        let daemons = try (0..<3).map { try BackgroundProcess(vigilRun: config, name: "member-\($0)") }
        Thread.sleep(forTimeInterval: 12)
        daemons[0].stop(SIGKILL)
        // The stream goes on: the killed member's partitions get new events that only a new owner can score.
        try fixture.produce(30_000, seed: 94)
        let done = try waitUntilCommitted(fixture, partitions: 6, within: .seconds(180))
        daemons[1].stop()
        daemons[2].stop()
        #expect(done, "the surviving members committed the whole input")
        let moved = daemons[1].logLines(containing: "restored ").count + daemons[2].logLines(containing: "restored ").count
        #expect(moved >= 1, "the killed member's partitions were restored from its checkpoints by the survivors")

        let counts = try scoreCounts(fixture.config.kafka.scoresTopic!, expecting: 60_000, deadline: .seconds(90))
        #expect(Set(fixture.ids).subtracting(counts.keys).isEmpty, "every event was scored by some member")
    }
}

/// The peak resident memory of a process (VmHWM, kB), or 0 when it is gone.
func peakResidentKilobytes(of pid: pid_t) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

@Suite("Key explosion against a real broker", .serialized)
struct KeyExplosionTests {
    /// 5 million events, each with a card never seen before, through the release daemon: the per-partition key
    /// tables stay at their cap by evicting the least recently seen cards, and the daemon's memory stays bounded
    /// (unbounded state would need tens of GB).
    @Test(
        .timeLimit(.minutes(20)),
        .enabled(if: ProcessInfo.processInfo.environment["VIGIL_RELEASE_BINARY"] != nil, "scripts/test builds the release binary it runs")
    )
    func fiveMillionDistinctKeysStayUnderTheCap() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["VIGIL_RELEASE_BINARY"])
        let fixture = try DaemonFixture(prefix: "keys", partitions: 2)
        let port = try freePort()
        let path = try fixture.writeConfig(CrashTests.lighter + [
            ("card: { max_keys: 500000", "card: { max_keys: 20000"),
            ("listen: \"127.0.0.1:0\"", "listen: \"127.0.0.1:\(port)\""),
        ])
        // No rules (each first-seen card would trip the "new country and merchant" rule) and no scores topic: the
        // outputs stay small, the state is what is measured.
        var text = try String(contentsOfFile: path, encoding: .utf8)
        if let rules = text.range(of: "\nrules:"), let alerting = text.range(of: "\nalerting:") {
            text.replaceSubrange(rules.lowerBound..<alerting.lowerBound, with: "\nrules: []\n")
        }
        text = text.replacingOccurrences(of: "scores_topic: \(fixture.config.kafka.scoresTopic!)", with: "# scores_topic: off")
        try text.write(toFile: path, atomically: true, encoding: .utf8)

        let events = 5_000_000
        let produce = try Shell.run(
            "'\(binary)' produce --brokers \(try Broker.address()) --topic \(fixture.config.kafka.inputTopics[0]) --count \(events) --distinct-cards --seed 101")
        try #require(produce.status == 0, "\(produce.output)")

        let daemon = try BackgroundProcess(vigilRun: path, name: "keys", binary: binary, arguments: "--log-level warning")
        let done = try waitUntilCommitted(fixture, partitions: 2, within: .seconds(900))
        let peakKilobytes = peakResidentKilobytes(of: daemon.pid)
        let metrics = try httpGet(port: port, path: "/metrics").body
        daemon.stop()

        #expect(done, "the daemon got through all 5 million events")
        let keys = metricValue(metrics, #"vigil_entity_keys{entity="card"}"#) ?? -1
        let evicted = metricValue(metrics, #"vigil_entity_keys_evicted_total{entity="card"}"#) ?? 0
        // The figures RELIABILITY.md quotes.
        print("key explosion: \(events) events, card keys held \(Int(keys)), evicted \(Int(evicted)), peak resident \(peakKilobytes / 1024) MiB")
        #expect(keys > 0 && keys <= 40_000, "card keys held: \(keys) (cap 20,000 per partition, 2 partitions)")
        #expect(evicted >= Double(events - 40_000), "evicted: \(evicted)")
        #expect(peakKilobytes > 0 && peakKilobytes < 1_500_000, "peak resident memory \(peakKilobytes / 1024) MiB")
    }
}
