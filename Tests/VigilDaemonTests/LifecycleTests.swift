import Foundation
import Synchronization
import Testing
import VigilCore
import VigilDaemon
import VigilKafka
import VigilModels

/// Topics and a config of their own for one daemon test.
struct DaemonFixture {
    var config: VigilConfiguration
    var ids: [String] = []
    /// The primary-entity key of each produced event.
    var keys: [String] = []

    init(prefix: String, partitions: Int32 = 2) throws {
        config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        let name = Broker.unique(prefix)
        config.kafka.brokers = try Broker.address()
        config.kafka.groupID = "\(name)-group"
        config.kafka.inputTopics = ["\(name)-tx"]
        config.kafka.alertsTopic = "\(name)-alerts"
        config.kafka.scoresTopic = "\(name)-scores"
        config.kafka.deadLetterTopic = "\(name)-dlq"
        config.pipeline.commitIntervalMs = 200
        config.httpListen = "127.0.0.1:0"
        // Each checkpoint of the shipped config is tens of MB (half-space trees of height 15); the in-memory dev
        // broker keeps them all, so only the checkpoint tests turn them on.
        config.checkpoints.intervalMs = nil
        let topics = [config.kafka.inputTopics[0], config.kafka.alertsTopic, config.kafka.scoresTopic!, config.kafka.deadLetterTopic]
        try KafkaAdmin(client: Broker.options(), logger: Broker.logger)
            .createTopics(topics.map { KafkaTopicSpecification(name: $0, partitions: partitions) }, ignoreExisting: false)
    }

    /// Turns checkpoints on, to a changelog topic of this fixture's own.
    mutating func enableCheckpoints(intervalMs: Int64) {
        config.checkpoints = .init(topic: "\(config.kafka.groupID)-state", intervalMs: intervalMs)
    }

    /// Produces `count` generated events to the input topic; `skipping` continues a stream produced before with
    /// the same seed after its first `skipping` events.
    mutating func produce(_ count: Int, seed: UInt64, skipping: Int = 0) throws {
        var options = TransactionGenerator.Options()
        options.seed = seed
        options.cards = 500
        var generator = TransactionGenerator(options: options)
        for _ in 0..<skipping { _ = generator.next() }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        for _ in 0..<count {
            let t = generator.next()
            ids.append(t.eventID)
            keys.append(t.key)
            try producer.produce(topic: config.kafka.inputTopics[0], key: Array(t.key.utf8), value: Array(t.json.utf8), blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(60))
    }

    /// The event ids on the scores topic.
    func scoredIDs(expecting count: Int) throws -> [String] {
        try Broker.readAll(config.kafka.scoresTopic!, expecting: count).compactMap { message in
            let object = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
            return object?["event_id"] as? String
        }
    }

    /// The fixture's config as a YAML file (the shipped one with this fixture's topics), with `edits` applied.
    func writeConfig(_ edits: [(String, String)] = []) throws -> String {
        let path = NSTemporaryDirectory() + "\(config.kafka.groupID)-\(UUID().uuidString.prefix(4)).yaml"
        var text = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path, encoding: .utf8)
        for (from, to) in [
            ("\"127.0.0.1:9092\"", "\"\(config.kafka.brokers)\""), ("group_id: vigil", "group_id: \(config.kafka.groupID)"),
            ("input_topics: [transactions]", "input_topics: [\(config.kafka.inputTopics[0])]"),
            ("alerts_topic: alerts", "alerts_topic: \(config.kafka.alertsTopic)"),
            ("scores_topic: scores", "scores_topic: \(config.kafka.scoresTopic!)"),
            ("dead_letter_topic: transactions.dlq", "dead_letter_topic: \(config.kafka.deadLetterTopic)"),
            ("listen: \"127.0.0.1:9464\"", "listen: \"127.0.0.1:0\""),
            ("topic: vigil.state", "topic: \(config.checkpoints.topic)"),
            ("interval: 60s", "interval: \(config.checkpoints.intervalMs.map { "\($0)ms" } ?? "off")"),
        ] + edits {
            text = text.replacingOccurrences(of: from, with: to)
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite("Daemon lifecycle and back-pressure against a real broker", .serialized)
struct LifecycleTests {
    /// A slow output side fills the rings and holds the input back without pausing it (a pause would drop
    /// librdkafka's prefetched messages, to be fetched again); an output side that takes nothing for over 500 ms
    /// pauses the input. Either way nothing is lost.
    @Test(.timeLimit(.minutes(3)))
    func aSlowOutputHoldsTheInputBackAndAStalledOnePausesIt() throws {
        var fixture = try DaemonFixture(prefix: "pressure")
        fixture.config.pipeline.ringCapacity = 16
        fixture.config.pipeline.workers = 1
        try fixture.produce(5_000, seed: 21)
        // The output thread sleeps 5 ms every 10 events (its ring fills, then the worker's, then the consumer's
        // backlog), and once, at the 2,500th event, for 1.5 s.
        let seen = Atomic<Int>(0)
        let running = Mutex<VigilService?>(nil)
        let pausesBeforeStall = Atomic<Int>(-1)
        let service = try VigilService(config: fixture.config, logger: Broker.logger, onScored: { _ in
            let n = seen.add(1, ordering: .relaxed).newValue
            if n == 2_500 {
                pausesBeforeStall.store(running.withLock { $0?.counters.pauses.load(ordering: .relaxed) } ?? -2, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 1.5)
            } else if n % 10 == 0 {
                Thread.sleep(forTimeInterval: 0.005)
            }
        })
        running.withLock { $0 = service }
        try service.start()
        service.waitUntilScored(5_000, within: .seconds(90))
        service.requestStop()
        service.waitUntilStopped()
        #expect(pausesBeforeStall.load(ordering: .relaxed) == 0, "a slow output side did not pause the input")
        #expect(service.counters.pauses.load(ordering: .relaxed) >= 1, "a stalled output side paused the input")
        let ids = try fixture.scoredIDs(expecting: 5_000)
        #expect(ids.count == 5_000)
        #expect(Set(ids) == Set(fixture.ids))
    }

    @Test(.timeLimit(.minutes(3)))
    func sigtermStopsTheDaemonWithinTenSecondsAndCommitsWhatWasDelivered() throws {
        var fixture = try DaemonFixture(prefix: "sigterm")
        try fixture.produce(20_000, seed: 22)
        let binary = repositoryRoot.appendingPathComponent(".build/debug/vigil")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the vigil executable first (scripts/test does)")
        // posix_spawn and waitpid rather than Foundation's Process, whose exit monitoring was seen to miss exits.
        let configPath = try fixture.writeConfig()
        let argv: [UnsafeMutablePointer<CChar>?] = [
            strdup(binary.path), strdup("run"), strdup("--config"), strdup(configPath), strdup("--log-level"), strdup("error"), nil,
        ]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, binary.path, nil, nil, argv, environ) == 0)
        Thread.sleep(forTimeInterval: 6)
        let clock = ContinuousClock()
        let signalled = clock.now
        kill(pid, SIGTERM)
        var status: Int32 = 0
        var exited = false
        while clock.now - signalled < .seconds(15) {
            if waitpid(pid, &status, WNOHANG) == pid {
                exited = true
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let stopTime = clock.now - signalled
        if !exited {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        #expect(exited)
        #expect(stopTime < .seconds(10), "stopped in \(stopTime)")
        // WIFEXITED and WEXITSTATUS, spelled out (they are C macros).
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "wait status \(status)")

        // Whatever was committed had its score delivered: committed offsets never run ahead of outputs.
        let checker = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: Broker.options(), groupID: fixture.config.kafka.groupID), logger: Broker.logger)
        let committed = try checker.committed((0..<2).map { KafkaTopicPartition(topic: fixture.config.kafka.inputTopics[0], partition: Int32($0)) })
        try checker.close()
        let committedCount = committed.map { max(0, $0.offset) }.reduce(0, +)
        let scored = try fixture.scoredIDs(expecting: Int(committedCount))
        #expect(Int64(Set(scored).count) >= committedCount)
        #expect(committedCount > 0)
    }
}

@Suite("Delayed labels against a real broker", .serialized)
struct LabelsTopicTests {
    /// Labels on `kafka.labels_topic` reach the supervised detector; labels for unknown events are counted.
    @Test(.timeLimit(.minutes(3)))
    func labelsAreJoinedToTheEventsTheyLabel() throws {
        var fixture = try DaemonFixture(prefix: "labels", partitions: 2)
        let labelsTopic = "\(fixture.config.kafka.groupID)-labels"
        try KafkaAdmin(client: Broker.options(), logger: Broker.logger).createTopics([KafkaTopicSpecification(name: labelsTopic)])
        fixture.config.kafka.labelsTopic = labelsTopic
        try fixture.produce(3_000, seed: 44)
        let service = try VigilService(config: fixture.config, logger: Broker.logger)
        try service.start()
        service.waitUntilScored(3_000, within: .seconds(60))

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        for (i, id) in fixture.ids.prefix(2_000).enumerated() {
            try producer.produce(topic: labelsTopic, key: nil, value: Array(#"{"event_id":"\#(id)","label":\#(i % 50 == 0 ? 1 : 0)}"#.utf8))
        }
        try producer.produce(topic: labelsTopic, key: nil, value: Array(#"{"event_id":"no-such-event","label":1}"#.utf8))
        try producer.produce(topic: labelsTopic, key: nil, value: Array("not json".utf8))
        try producer.close()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while service.counters.labelsJoined.load(ordering: .relaxed) + service.counters.labelsUnknown.load(ordering: .relaxed) < 2_001,
            clock.now < deadline
        {
            Thread.sleep(forTimeInterval: 0.1)
        }
        service.requestStop()
        service.waitUntilStopped()
        // The first 1,000 events were scored while the ftrl detector learned its input ranges: their labels are
        // unknown to it; the rest join.
        let joined = service.counters.labelsJoined.load(ordering: .relaxed)
        let unknown = service.counters.labelsUnknown.load(ordering: .relaxed)
        #expect(joined + unknown == 2_001)
        #expect(joined >= 900, "joined \(joined), unknown \(unknown)")
        #expect(service.counters.malformedLabels.load(ordering: .relaxed) == 1)
    }
}

@Suite("Hot reload against a real broker", .serialized)
struct HotReloadTests {
    /// The operator's path: SIGHUP to a running `vigil run` re-reads its file; an accepted change and a refused
    /// one each leave a structured log line, and the daemon keeps running.
    @Test(.timeLimit(.minutes(2)))
    func sighupReReadsTheConfigFile() throws {
        let fixture = try DaemonFixture(prefix: "sighup", partitions: 1)
        let path = try fixture.writeConfig()
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let daemon = try BackgroundProcess(vigilRun: path, name: "sighup")
        let pid = daemon.pid
        defer { daemon.stop() }
        func waitForLog(_ text: String) -> Bool { daemon.waitForLog(text) }
        #expect(waitForLog("vigil running"))

        try original.replacingOccurrences(of: "cooldown: 2m", with: "cooldown: 5m").write(toFile: path, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(waitForLog(#""msg":"reload accepted""#), "an accepted reload is logged")
        #expect(waitForLog(#""config_version":"2""#))

        try original.replacingOccurrences(of: "\nfeatures:", with: "\nfeatures:\n  - { name: extra, entity: card, aggregate: count, window: 1m }")
            .write(toFile: path, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(waitForLog("reload refused: features"), "a refused reload names what changed")
        #expect(kill(pid, 0) == 0, "the daemon is still running")
        let lines = try String(contentsOfFile: daemon.log, encoding: .utf8).split(separator: "\n")
        #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "every log line is JSON")
    }

    /// POST /admin/reload and `vigil reload` re-read the config file: accepted changes move config_version,
    /// restart-only changes are refused (409) and a broken file is refused with its key path (422); the
    /// running config stays in both cases.
    @Test(.timeLimit(.minutes(3)))
    func theAdminEndpointAndTheReloadCommandReReadTheFile() throws {
        let fixture = try DaemonFixture(prefix: "admin", partitions: 1)
        let path = try fixture.writeConfig()
        let service = try VigilService(config: fixture.config, logger: Broker.logger, configSource: {
            var config = try VigilConfiguration.load(file: path)
            config.pipeline.commitIntervalMs = 200
            return config
        })
        try service.start()
        defer {
            service.requestStop()
            service.waitUntilStopped()
        }
        let port = try #require(service.httpPort)
        let original = try String(contentsOfFile: path, encoding: .utf8)
        #expect(original.contains("threshold_percentile: 99.9"))

        try original.replacingOccurrences(of: "threshold_percentile: 99.9", with: "threshold_percentile: 99.5")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let applied = try SimpleHTTPClient.request(method: "POST", port: port, path: "/admin/reload")
        #expect(applied.status == 200)
        #expect(applied.body == #"{"outcome":"applied","config_version":2}"#)
        #expect(service.configVersion == 2)

        let topic = fixture.config.kafka.inputTopics[0]
        try original.replacingOccurrences(of: "input_topics: [\(topic)]", with: "input_topics: [\(topic)-other]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try SimpleHTTPClient.request(method: "POST", port: port, path: "/admin/reload")
        #expect(refused.status == 409)
        #expect(refused.body == #"{"outcome":"refused","restart_needed_for":["kafka"]}"#)

        try original.replacingOccurrences(of: "cooldown: 2m", with: "cooldown: soon")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let invalid = try SimpleHTTPClient.request(method: "POST", port: port, path: "/admin/reload")
        #expect(invalid.status == 422)
        #expect(invalid.body.contains("alerting.cooldown"), "\(invalid.body)")
        #expect(service.configVersion == 2, "refused reloads leave the running config")
        #expect(try SimpleHTTPClient.request(method: "GET", port: port, path: "/admin/reload").status == 405)

        // The command-line client: exit 0 when applied, 1 when refused.
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        let command = try Shell.run("'\(Shell.vigil)' reload --http 127.0.0.1:\(port)")
        #expect(command.status == 0, "\(command.output)")
        #expect(command.output.contains(#""config_version":3"#), "\(command.output)")
        try original.replacingOccurrences(of: "input_topics: [\(topic)]", with: "input_topics: [\(topic)-other]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let refusedCommand = try Shell.run("'\(Shell.vigil)' reload --http 127.0.0.1:\(port)")
        #expect(refusedCommand.status == 1, "\(refusedCommand.output)")
        #expect(refusedCommand.output.contains("restart_needed_for"))
    }

    /// Rules, thresholds and cooldowns change in place and alerts carry the new config_version; changes that
    /// need a restart are refused, naming them, and the running config stays.
    @Test(.timeLimit(.minutes(3)))
    func rulesChangeInPlaceAndStructuralChangesAreRefused() throws {
        var fixture = try DaemonFixture(prefix: "reload", partitions: 1)
        let service = try VigilService(config: fixture.config, logger: Broker.logger)
        try service.start()

        var structural = fixture.config
        structural.features.removeLast()
        structural.pipeline.ringCapacity = 128
        #expect(service.reload(structural) == .refused(sections: ["features", "pipeline"]))

        var rules = fixture.config
        rules.rules.append(
            Rule(name: "every_amount", source: "amount > 0", expression: try RuleParser.parse("amount > 0") { $0 == "amount" ? .numericField(0) : nil })
        )
        rules.policy.cooldownMs = 0
        #expect(service.reload(rules) == .applied(version: 2))
        Thread.sleep(forTimeInterval: 0.5)
        try fixture.produce(200, seed: 55)
        service.waitUntilScored(200, within: .seconds(60))
        service.requestStop()
        service.waitUntilStopped()

        let alerts = try Broker.readAll(fixture.config.kafka.alertsTopic, expecting: 200)
        #expect(alerts.count == 200, "the new rule fires on every event and the cooldown is off")
        for message in alerts.prefix(20) {
            let object = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
            #expect(object?["config_version"] as? Int == 2)
            #expect((object?["rules"] as? [String])?.contains("every_amount") == true)
        }
    }
}

/// GETs a path from a local HTTP endpoint; returns the status and body.
func httpGet(port: Int, path: String) throws -> (status: Int, body: String) {
    let response = try SimpleHTTPClient.request(port: port, path: path)
    return (response.status, response.body)
}

/// Scrapes /metrics until `condition` holds (or the time is up) and returns the last scrape.
func waitForMetrics(port: Int, within timeout: Duration, until condition: (String) -> Bool) throws -> String {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var body = ""
    repeat {
        body = try httpGet(port: port, path: "/metrics").body
        if condition(body) { break }
        Thread.sleep(forTimeInterval: 0.2)
    } while clock.now < deadline
    return body
}

/// The value of one sample line (`name{labels} value`) in Prometheus text.
func metricValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

@Suite("HTTP endpoints against a real broker", .serialized)
struct HTTPEndpointTests {
    /// /metrics reports the known stream's counts; /readyz turns ready once partitions are assigned and the
    /// unsupervised detectors are warm; /healthz answers throughout.
    @Test(.timeLimit(.minutes(3)))
    func metricsAndReadinessFollowAKnownStream() throws {
        var fixture = try DaemonFixture(prefix: "http", partitions: 2)
        let service = try VigilService(config: fixture.config, logger: Broker.logger)
        try service.start()
        let port = try #require(service.httpPort)
        #expect(try httpGet(port: port, path: "/healthz").status == 200)
        let before = try httpGet(port: port, path: "/readyz")
        #expect(before.status == 503 && before.body.contains("\"ready\":false"))

        try fixture.produce(4_000, seed: 66)
        service.waitUntilScored(4_000, within: .seconds(90))
        let topic = fixture.config.kafka.inputTopics[0]
        // Latency is recorded as deliveries come back, lag as librdkafka reports it (every second): wait for both.
        let metrics = try waitForMetrics(port: port, within: .seconds(20)) { body in
            body.contains("vigil_processing_latency_seconds_count 4000")
                && body.contains(#"vigil_consumer_lag{topic="\#(topic)",partition="0"} 0"#)
                && body.contains(#"vigil_consumer_lag{topic="\#(topic)",partition="1"} 0"#)
        }
        let ready = try httpGet(port: port, path: "/readyz")
        let missing = try httpGet(port: port, path: "/nope")
        let post = try SimpleHTTPClient.request(method: "POST", port: port, path: "/metrics")
        service.requestStop()
        service.waitUntilStopped()

        #expect(metrics.contains("vigil_events_consumed_total 4000"))
        #expect(metrics.contains("vigil_events_scored_total 4000"))
        #expect(metrics.contains("# HELP vigil_events_scored_total Events scored\n# TYPE vigil_events_scored_total counter"))
        #expect(metrics.contains("vigil_assigned_partitions 2"))
        #expect(metrics.contains("vigil_processing_latency_seconds_count 4000"))
        #expect(metrics.contains("vigil_score_count 4000"))
        #expect(metrics.contains(#"vigil_detector_warm{detector="hst"} 1"#))
        #expect(metrics.contains(#"vigil_dead_letters_total{reason="malformed_json"} 0"#))
        #expect(metrics.contains(#"vigil_consumer_lag{topic="\#(topic)",partition="0"} 0"#))
        // Every card of the stream holds state; nothing was evicted.
        #expect(metrics.contains(#"vigil_entity_keys{entity="card"} \#(Set(fixture.keys).count).0"#))
        #expect(metrics.contains(#"vigil_entity_keys_evicted_total{entity="card"} 0"#))
        let bytes = metricValue(metrics, #"vigil_entity_state_bytes{entity="card"}"#) ?? 0
        #expect(bytes > Double(Set(fixture.keys).count) * 100, "feature state bytes: \(bytes)")
        #expect(metrics.contains(#"vigil_kafka_broker_rtt_seconds{client="producer""#))
        #expect(metrics.contains(#"vigil_kafka_queued_messages{client="producer"}"#))
        // The last second's input delay (0 when nothing was read in it).
        let delayP99 = try #require(metricValue(metrics, #"vigil_input_delay_seconds{stat="p99"}"#))
        let delayMax = try #require(metricValue(metrics, #"vigil_input_delay_seconds{stat="max"}"#))
        #expect(delayP99 >= 0 && delayP99 <= delayMax && delayMax < 60, "input delay p99 \(delayP99) s, max \(delayMax) s")
        #expect(ready.status == 200 && ready.body.contains("\"ready\":true"), "\(ready.body)")
        #expect(missing.status == 404)
        #expect(post.status == 405)
    }
}
