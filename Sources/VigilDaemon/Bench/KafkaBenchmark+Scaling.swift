import Foundation
public import Logging
import VigilKafka

extension KafkaBenchmark {
    /// What `scaling` measured.
    public struct ScalingRun: Sendable {
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

    /// Fills this benchmark's topic, created with `partitions` partitions, with `events` synthetic events, produced
    /// as fast as the broker takes them.
    public func prepareTopic(partitions: Int32, logger: Logger) throws {
        try KafkaAdmin(client: options, logger: logger).createTopics([KafkaTopicSpecification(name: topic, partitions: partitions)])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: options, linger: .milliseconds(20)), logger: logger)
        var stream = TransactionGenerator.Options()
        stream.seed = 5
        stream.startMs = 1_700_000_000_000
        stream.eventsPerSecond = 200
        var generator = TransactionGenerator(options: stream)
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

    /// Events/s of `instances` daemon instances in one consumer group on the topic (`pipeline.repartition` as
    /// given), each with `base`'s features and detectors.
    ///
    /// The topic is read from the beginning in a fresh group. All the instances are created first and started
    /// together, so the group's first assignment already spreads the partitions (a rebalance in the middle would
    /// re-read uncommitted events: the run reports any re-scored events). Timed from the first event read to the
    /// last one scored. The instances run in this process, each with its own Kafka clients and threads, as
    /// separate processes on one machine would; the CPU of this process and of the broker says what limited it.
    public func scaling(config base: VigilConfiguration, instances: Int, repartition: Bool, brokerPID: Int32? = nil, logger: Logger) throws -> ScalingRun {
        var config = benchConfig(base, reading: topic, group: "vigil-bench-scale")
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
        let cpu = { (Self.cpuSeconds(pid: "self"), brokerPID.flatMap { Self.cpuSeconds(pid: String($0)) }) }
        while scored() < events {
            guard clock.now < deadline else { throw Failure(description: "scaling: \(scored()) of \(events) events within \(timeout)") }
            if first == nil, services.contains(where: { $0.counters.consumed.load(ordering: .relaxed) > 0 }) {
                first = clock.now
                cpuAtFirst = cpu()
            }
            usleep(first == nil ? 200 : 1000)
        }
        let end = clock.now
        let cpuAtEnd = cpu()
        let seconds = Self.seconds(end - (first ?? end))
        let cores = { (e: Double?, b: Double?) in e.flatMap { e in b.map { (e - $0) / seconds } } }
        // Settle: anything still arriving after the count was reached is a re-scored event.
        usleep(500_000)
        return ScalingRun(
            instances: instances, repartition: repartition, events: events, seconds: seconds, rescored: max(0, scored() - events),
            processCores: cores(cpuAtEnd.0, cpuAtFirst.0) ?? .nan, brokerCores: cores(cpuAtEnd.1, cpuAtFirst.1))
    }
}
