import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// Several daemons in one group with `pipeline.repartition`: the secondary entity's (merchant's) features are
/// computed by the owner of its partition of the internal repartition topic, over every instance's events.
@Suite("Scale-out through repartitioning", .serialized)
struct ScaleOutTests {
    /// One generated event, in stream order.
    struct Generated {
        var key: String
        var id: String
        var json: String
        var merchant: String
    }

    /// A stream whose events are spread over ten minutes, so the 5-minute and hourly windows slide.
    static func stream(_ count: Int) -> [Generated] {
        var options = TransactionGenerator.Options()
        options.seed = 31
        options.cards = 150
        options.merchants = 120
        options.eventsPerSecond = 2
        var generator = TransactionGenerator(options: options)
        return (0..<count).map { _ in
            let t = generator.next()
            let object = try? JSONSerialization.jsonObject(with: Data(t.json.utf8)) as? [String: Any]
            return Generated(key: t.key, id: t.eventID, json: t.json, merchant: object?["merchant_id"] as? String ?? "")
        }
    }

    /// Consecutive runs of the stream in which no merchant appears twice. Produced one run at a time, each after
    /// the previous one is scored, every merchant's events reach whoever computes its features in stream order,
    /// whatever the partitions and instances: the order Kafka guarantees per key, and what makes a comparison
    /// with one instance and with replay exact.
    static func rounds(_ events: [Generated]) -> [[Generated]] {
        var rounds: [[Generated]] = [[]]
        var merchants: Set<String> = []
        for event in events {
            if merchants.contains(event.merchant) {
                rounds.append([])
                merchants = []
            }
            merchants.insert(event.merchant)
            rounds[rounds.count - 1].append(event)
        }
        return rounds
    }

    static func fixture(_ prefix: String, repartition: Bool) throws -> DaemonFixture {
        var fixture = try DaemonFixture(prefix: prefix, partitions: 6)
        fixture.config.pipeline.repartition = repartition
        fixture.config.pipeline.workers = 1
        fixture.config.kafka.statisticsIntervalMs = nil
        fixture.config.httpListen = "off"
        // Checkpoints of the shipped trees (height 15) are tens of MB each; the comparison does not involve them.
        for i in fixture.config.detectors.indices {
            if case .halfSpaceTrees(let inputs, let trees, _, let window, let ranges, let warmup, let margin, let seed) = fixture.config.detectors[i].kind {
                fixture.config.detectors[i].kind = .halfSpaceTrees(inputs: inputs, trees: trees, height: 8, window: window, ranges: ranges, warmup: warmup, margin: margin, seed: seed)
            }
        }
        return fixture
    }

    /// What one instance of the classic single-process pipeline (no repartitioning) scores for the rounds.
    static func singleInstance(_ rounds: [[Generated]]) throws -> [String: ScoredRecord] {
        let single = try Self.fixture("scale-one", repartition: false)
        let reference = ScoredCollector(config: single.config)
        let one = try VigilService(config: single.config, logger: Broker.logger, onScored: reference.observer)
        try one.start()
        #expect(eventually(within: .seconds(30)) { one.readiness.assignedPartitions == 6 })
        try Self.produce(rounds, to: single.config.kafka.inputTopics[0]) { reference.all.count }
        one.requestStop()
        one.waitUntilStopped()
        return reference.all
    }

    /// Starts `count` instances of `config` in one group, and waits until the group has spread the 6 input and
    /// the 6 repartition partitions evenly, before any input (so no rebalance happens mid-stream).
    static func startInstances(_ count: Int, config: VigilConfiguration, collector: ScoredCollector) throws -> [VigilService] {
        var services: [VigilService] = []
        for _ in 0..<count {
            let service = try VigilService(config: config, logger: Broker.logger, onScored: collector.observer)
            try service.start()
            services.append(service)
        }
        let share = 6 / count
        let settled = eventually(within: .seconds(60)) {
            services.allSatisfy { $0.readiness.assignedPartitions == share && $0.secondaryPartitions == share }
        }
        #expect(settled, "partitions spread evenly: \(services.map { ($0.readiness.assignedPartitions, $0.secondaryPartitions) })")
        return services
    }

    /// The events whose features (or per-card z-score) differ between two runs.
    static func differences(_ expected: [String: ScoredRecord], _ got: [String: ScoredRecord], events: [Generated], config: VigilConfiguration) -> [String] {
        let names = config.featureNames
        let zscore = config.detectors.firstIndex { $0.name == "amount_z" }!
        var differing: [String] = []
        for event in events {
            guard let a = expected[event.id], let b = got[event.id] else { differing.append("\(event.id) missing"); continue }
            if a.features != b.features { differing.append("\(event.id): \(zip(names, zip(a.features, b.features)).filter { $1.0 != $1.1 }.map(\.0))") }
            if a.raw[zscore] != b.raw[zscore] { differing.append("\(event.id): amount_z") }
        }
        return differing
    }

    /// The input partition of an event: by its card, as a keyed producer would, but known to the test.
    static func partition(of event: Generated) -> Int32 { Int32(FNV1a.hash(event.key) % 6) }

    /// Sends the repartition requests of `events` (the first events of the stream, all already scored) again, as
    /// a restarted or resending instance would: same input partition and offset, another instance's tickets.
    static func resend(_ events: [Generated], config: VigilConfiguration) throws {
        let decoder = EventDecoder(schema: config.schema)
        let topics = RepartitionTopics(config: config)
        let merchant = try #require(topics.entities.first)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        var offsets = [Int64](repeating: 0, count: 6)
        var buffer: [UInt8] = []
        for (i, generated) in events.enumerated() {
            let partition = Self.partition(of: generated)
            var event = Event()
            var json = Array(generated.json.utf8)
            try json.withUnsafeMutableBytes { try decoder.decode(UnsafeRawBufferPointer($0), into: &event) }
            event.offset = offsets[Int(partition)]
            offsets[Int(partition)] += 1
            let source = EventSource(topic: FNV1a.hash(config.kafka.inputTopics[0]), partition: partition)
            SecondaryRequest.encode(event, .init(instance: 0xDEAD, ticket: UInt64(i), replyPartition: 0, entity: merchant, source: source), into: &buffer)
            try producer.produce(topic: topics.requests[merchant]!, key: Array(generated.merchant.utf8), value: buffer, blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(30))
    }

    /// Produces the rounds, each once every service has scored everything before it (`scored` counts every event
    /// scored so far, including earlier calls' rounds).
    static func produce(_ rounds: [[Generated]], to topic: String, scored: () -> Int) throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options(), linger: .milliseconds(1)), logger: Broker.logger)
        var sent = scored()
        for round in rounds {
            for event in round {
                try producer.produce(
                    topic: topic, partition: Self.partition(of: event), key: Array(event.key.utf8), value: Array(event.json.utf8), blockWhenFull: true)
            }
            try producer.flush(timeout: .seconds(30))
            sent += round.count
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while scored() < sent, clock.now < deadline { Thread.sleep(forTimeInterval: 0.002) }
            guard scored() >= sent else { throw TestSetupError("only \(scored()) of \(sent) events scored after 30 s") }
        }
        try producer.close(timeout: .seconds(10))
    }

    /// Three instances with repartitioning give every event the features one instance gives it (one process, no
    /// repartitioning: merchant features computed over the whole input in order), and the ones `vigil replay`
    /// writes as training data for the same stream; the per-card detector's raw score agrees too. Without
    /// repartitioning each instance would count only its share of a merchant's events, which the test also shows.
    @Test(.timeLimit(.minutes(5)))
    func threeInstancesComputeWhatOneInstanceAndReplayCompute() throws {
        let events = Self.stream(900)
        let rounds = Self.rounds(events)
        #expect(rounds.count > 20, "the stream has merchants repeating across rounds")

        let expected = try Self.singleInstance(rounds)

        // Three instances in one group, each with its secondary stage; the group settles before any input.
        var scaled = try Self.fixture("scale-three", repartition: true)
        // The instances' own resends (after the timeout) would add duplicates of their own on a busy host; the
        // counts below are of the test's resends only.
        scaled.config.pipeline.repartitionResendAfterMs = 600_000
        let collected = ScoredCollector(config: scaled.config)
        let services = try Self.startInstances(3, config: scaled.config, collector: collected)
        try Self.produce(Array(rounds.dropLast()), to: scaled.config.kafka.inputTopics[0]) { collected.all.count }
        // Every event scored so far is sent again (as after a crash or a resend): the merchant windows must not
        // count them twice, which the last round, scored after them, would show.
        let resent = events.count - rounds.last!.count
        try Self.resend(Array(events.prefix(resent)), config: scaled.config)
        let duplicates = { services.reduce(0) { $0 + $1.counters.secondaryDuplicates.load(ordering: .relaxed) } }
        #expect(eventually(within: .seconds(30)) { duplicates() == resent }, "\(duplicates()) of \(resent) resent requests recognised")
        try Self.produce([rounds.last!], to: scaled.config.kafka.inputTopics[0]) { collected.all.count }
        // Each merchant's state lives on exactly one instance, and the gauges say so.
        let merchants = Set(events.map(\.merchant)).count
        let merchantKeys = { services.reduce(0) { $0 + ($1.entityState.first { $0.0 == "merchant" }?.1.keys ?? 0) } }
        #expect(eventually(within: .seconds(5)) { merchantKeys() == merchants }, "\(merchantKeys()) merchant keys held for \(merchants) merchants")
        let shares = services.map { $0.counters.scored.load(ordering: .relaxed) }
        let computed = services.map { $0.counters.secondaryComputed.load(ordering: .relaxed) }
        let stale = services.map { $0.counters.secondaryStaleReplies.load(ordering: .relaxed) }
        for service in services { service.requestStop() }
        for service in services { service.waitUntilStopped() }
        #expect(shares.allSatisfy { $0 > 0 } && shares.reduce(0, +) == events.count, "every instance scored a share: \(shares)")
        #expect(computed.allSatisfy { $0 > 0 } && computed.reduce(0, +) == events.count + resent, "every instance computed merchant features for a share: \(computed)")
        #expect(stale.reduce(0, +) == resent, "only the replies to the resent requests (another instance's tickets) were stale: \(stale)")

        // Online equals one instance: every feature, bit for bit, and the per-card z-score's raw score.
        let got = collected.all
        let names = scaled.config.featureNames
        #expect(got.count == events.count && expected.count == events.count)
        let differing = Self.differences(expected, got, events: events, config: scaled.config)
        #expect(differing.isEmpty, "\(differing.count) of \(events.count) events differ, e.g. \(differing.prefix(3))")

        // The merchant features are whole-stream ones: the last event of the busiest merchant saw all its events
        // in the hour (a single instance's share would be about a third).
        let merchantCount = try #require(names.firstIndex(of: "merchant.tx_count_1h"))
        let counts = got.values.map { Double(bitPattern: $0.features[merchantCount]) }.filter { !$0.isNaN }
        #expect((counts.max() ?? 0) >= 10, "merchant counts span instances: max \(counts.max() ?? 0)")

        // Offline equals online: replay's training data for the same stream, in the same order.
        let directory = NSTemporaryDirectory() + "scale-\(UUID().uuidString.prefix(6))/"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try events.map(\.json).joined(separator: "\n").write(toFile: directory + "in.jsonl", atomically: true, encoding: .utf8)
        _ = try Replay(config: scaled.config).run(input: directory + "in.jsonl", featuresOut: directory + "features.jsonl", featuresFormat: .jsonLines)
        // Decoded with JSONDecoder, which reads numbers exactly (the file holds shortest round-trip forms).
        struct Row: Decodable {
            var event_id: String
            var features: [String: Double?]
        }
        let offline = try String(contentsOfFile: directory + "features.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(Row.self, from: Data($0.utf8))
        }
        #expect(offline.count == events.count)
        var offlineDiffering: [String] = []
        for (row, event) in zip(offline, events) {
            guard let online = got[event.id], row.event_id == event.id else { offlineDiffering.append(event.id); continue }
            for (i, name) in names.enumerated() {
                let value = Double(bitPattern: online.features[i])
                let replayed = row.features[name] ?? nil
                if value.isNaN ? replayed != nil : replayed?.bitPattern != value.bitPattern { offlineDiffering.append("\(event.id).\(name)") }
            }
        }
        #expect(offlineDiffering.isEmpty, "\(offlineDiffering.count) values differ from replay, e.g. \(offlineDiffering.prefix(3))")
    }
}

extension ScaleOutTests {
    /// An instance leaving mid-stream hands its input partitions and its merchant partitions to the others
    /// through the changelog: the stream's second half is still scored exactly as one uninterrupted instance
    /// scores it (card state, per-card detectors and merchant state all moved, nothing counted twice).
    @Test(.timeLimit(.minutes(5)))
    func stateMovesWithPartitionsWhenAnInstanceLeaves() throws {
        let events = Self.stream(900)
        let rounds = Self.rounds(events)
        let half = rounds.count / 2
        let expected = try Self.singleInstance(rounds)

        var scaled = try Self.fixture("scale-leave", repartition: true)
        scaled.enableCheckpoints(intervalMs: 60_000)
        let collected = ScoredCollector(config: scaled.config)
        var services = try Self.startInstances(3, config: scaled.config, collector: collected)
        try Self.produce(Array(rounds[..<half]), to: scaled.config.kafka.inputTopics[0]) { collected.all.count }

        let leaving = services.removeLast()
        leaving.requestStop()
        leaving.waitUntilStopped()
        let moved = eventually(within: .seconds(60)) {
            services.allSatisfy { $0.readiness.assignedPartitions == 3 && $0.secondaryPartitions == 3 }
        }
        #expect(moved, "the leaver's partitions went to the others: \(services.map { ($0.readiness.assignedPartitions, $0.secondaryPartitions) })")
        let firstHalf = collected.all.count
        try Self.produce(Array(rounds[half...]), to: scaled.config.kafka.inputTopics[0]) { collected.all.count }
        let restored = services.map { $0.counters.partitionsRestored.load(ordering: .relaxed) }
        for service in services { service.requestStop() }
        for service in services { service.waitUntilStopped() }

        #expect(leaving.counters.scored.load(ordering: .relaxed) > 0 && leaving.counters.secondaryComputed.load(ordering: .relaxed) > 0)
        #expect(restored.reduce(0, +) == 4, "2 input and 2 merchant partitions restored from the leaver's checkpoints: \(restored)")
        let got = collected.all
        #expect(got.count == events.count && firstHalf < events.count)
        let differing = Self.differences(expected, got, events: events, config: scaled.config)
        #expect(differing.isEmpty, "\(differing.count) of \(events.count) events differ, e.g. \(differing.prefix(3))")
    }
}

/// Polls `condition` every 50 ms until it holds or `deadline` passes.
private func eventually(within deadline: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while clock.now < end {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}
