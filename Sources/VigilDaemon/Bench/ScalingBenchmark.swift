import Foundation
public import Logging
import VigilKafka

/// Events/s of 1, 2, 3... daemon instances in one consumer group on one topic (`pipeline.repartition` on, so the
/// merchant features stay whole-stream ones), beside one instance without repartitioning.
///
/// Each run reads the prepared topic from the beginning in a fresh group. All of a run's instances are created
/// first and started together, so the group's first assignment already spreads the partitions (a rebalance in
/// the middle would re-read uncommitted events: the row reports any re-scored events). Timed from the first
/// event read to the last one scored. The instances run in this process, each with its own Kafka clients and
/// threads, as separate processes on one machine would; the CPU of this process and of the broker is reported
/// so the row says what limited it.
public struct ScalingBenchmark: Sendable {
    public let brokers: String
    public let topic: String
    public let events: Int
    public var timeout: Duration = .seconds(900)

    public init(brokers: String, topic: String, events: Int) {
        self.brokers = brokers
        self.topic = topic
        self.events = events
    }

    /// One run's figures.
    public struct Run: Sendable {
        public var instances: Int
        public var repartition: Bool
        public var events: Int
        public var seconds: Double
        /// Events scored more than once (a rebalance during the run re-reads uncommitted ones).
        public var rescored: Int
        /// Cores used over the run: this process (every instance) and the broker, when its pid was given.
        public var processCores: Double
        public var brokerCores: Double?
        public var eventsPerSecond: Double { Double(events) / seconds }

        public var name: String {
            "\(instances) instance\(instances == 1 ? "" : "s")\(repartition ? ", repartition" : ", no repartition")"
        }
    }

    /// Prepares a topic of `events` synthetic events over `partitions` partitions, produced as fast as the broker
    /// takes them.
    public static func prepare(brokers: String, topic: String, events: Int, partitions: Int32, logger: Logger) throws {
        let options = KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-bench")
        try KafkaAdmin(client: options, logger: logger).createTopics([KafkaTopicSpecification(name: topic, partitions: partitions)])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: options, linger: .milliseconds(20)), logger: logger)
        var options2 = TransactionGenerator.Options()
        options2.seed = 5
        options2.startMs = 1_700_000_000_000
        options2.eventsPerSecond = 200
        var generator = TransactionGenerator(options: options2)
        let target = try producer.topic(topic)
        for _ in 0..<events {
            let t = generator.next()
            var key = t.key
            var json = t.json
            try key.withUTF8 { k in
                try json.withUTF8 { v in
                    try producer.produce(to: target, key: UnsafeRawBufferPointer(k), value: UnsafeRawBufferPointer(v), blockWhenFull: true)
                }
            }
        }
        try producer.close(timeout: .seconds(120))
    }

    /// `instances` daemons with `base`'s features and detectors in a fresh group, scoring the topic.
    public func run(config base: VigilConfiguration, instances: Int, repartition: Bool, brokerPID: Int32? = nil, logger: Logger) throws -> Run {
        var config = base
        config.kafka.brokers = brokers
        config.kafka.inputTopics = [topic]
        config.kafka.groupID = "vigil-bench-scale-\(UUID().uuidString.prefix(8))"
        config.httpListen = "off"
        config.checkpoints.intervalMs = nil
        config.kafka.statisticsIntervalMs = nil
        config.pipeline.repartition = repartition
        // Each instance gets a share of the cores: one worker each keeps 3 instances from running 6 workers on 2.
        config.pipeline.workers = max(1, config.pipeline.workers / instances)
        let services = try (0..<instances).map { _ in try VigilService(config: config, logger: logger) }
        defer {
            for service in services { service.requestStop() }
            for service in services { service.waitUntilStopped() }
        }
        for service in services { try service.start() }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let scored = { services.reduce(0) { $0 + $1.counters.scored.load(ordering: .relaxed) } }
        var first: ContinuousClock.Instant?
        var cpuAtFirst: (Double?, Double?) = (nil, nil)
        let cpu = { (KafkaBenchmark.cpuSeconds(pid: "self"), brokerPID.flatMap { KafkaBenchmark.cpuSeconds(pid: String($0)) }) }
        while scored() < events {
            guard clock.now < deadline else { throw KafkaBenchmark.Failure(description: "scaling: \(scored()) of \(events) events within \(timeout)") }
            if first == nil, services.contains(where: { $0.counters.consumed.load(ordering: .relaxed) > 0 }) {
                first = clock.now
                cpuAtFirst = cpu()
            }
            usleep(first == nil ? 200 : 1000)
        }
        let end = clock.now
        let cpuAtEnd = cpu()
        let elapsed = end - (first ?? end)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cores = { (e: Double?, b: Double?) in e.flatMap { e in b.map { (e - $0) / seconds } } }
        // Settle: anything still arriving after the count was reached is a re-scored event.
        usleep(500_000)
        return Run(
            instances: instances, repartition: repartition, events: events, seconds: seconds, rescored: max(0, scored() - events),
            processCores: cores(cpuAtEnd.0, cpuAtFirst.0) ?? .nan, brokerCores: cores(cpuAtEnd.1, cpuAtFirst.1))
    }
}
