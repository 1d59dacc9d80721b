import Foundation
public import Logging
import VigilKafka

/// Throughput against a real broker, on one prepared topic: librdkafka alone reading it (the ceiling), and the
/// whole daemon pipeline scoring it. Both are timed from the first message to the `events`-th, so group joins
/// and connection set-up are left out of both alike.
public struct KafkaBenchmark: Sendable {
    public let brokers: String
    public let topic: String
    public let events: Int
    /// How long a run may take before it is reported as failed.
    public var timeout: Duration = .seconds(900)

    public init(brokers: String, topic: String, events: Int) {
        self.brokers = brokers
        self.topic = topic
        self.events = events
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private var options: KafkaClientOptions {
        KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-bench")
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// librdkafka reading the topic from the beginning in a fresh group, touching each message's bytes once
    /// (a checksum), as `kcat -C -o beginning -e` would: the rate nothing built on this client can beat.
    public func rawRead(logger: Logger) throws -> CoreBenchmark.Row {
        var configuration = KafkaConsumerConfiguration(client: options, groupID: "vigil-bench-raw-\(UUID().uuidString.prefix(8))")
        configuration.offsetReset = .earliest
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        defer { try? consumer.close() }
        try consumer.subscribe([topic])
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var read = 0
        var checksum: UInt64 = 0
        var first: ContinuousClock.Instant?
        while read < events {
            guard clock.now < deadline else { throw Failure(description: "raw read: \(read) of \(events) events within \(timeout)") }
            let batch = try consumer.poll(maxMessages: 10_000, timeout: .milliseconds(100))
            for message in batch.messages {
                if first == nil { first = clock.now }
                if let value = message.value, let byte = value.first { checksum &+= UInt64(byte) &+ UInt64(value.count) }
                read += 1
            }
        }
        let seconds = Self.seconds(clock.now - (first ?? clock.now))
        precondition(checksum != 0)
        return CoreBenchmark.Row(name: "librdkafka raw read", events: read, seconds: seconds)
    }

    /// The daemon (`VigilService`, the config given with this broker, topic and a fresh group) scoring the topic
    /// from the beginning: decode, features, detectors, alerts produced, offsets committed.
    public func pipeline(config base: VigilConfiguration, logger: Logger) throws -> CoreBenchmark.Row {
        var config = base
        config.kafka.brokers = brokers
        config.kafka.inputTopics = [topic]
        config.kafka.groupID = "vigil-bench-\(UUID().uuidString.prefix(8))"
        config.httpListen = "off"
        config.checkpoints.intervalMs = nil
        let service = try VigilService(config: config, logger: logger)
        try service.start()
        defer {
            service.requestStop()
            service.waitUntilStopped()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var first: ContinuousClock.Instant?
        while service.counters.scored.load(ordering: .relaxed) < events {
            guard clock.now < deadline else {
                throw Failure(description: "pipeline: \(service.counters.scored.load(ordering: .relaxed)) of \(events) events within \(timeout)")
            }
            if first == nil, service.counters.consumed.load(ordering: .relaxed) > 0 { first = clock.now }
            usleep(first == nil ? 200 : 1000)
        }
        let seconds = Self.seconds(clock.now - (first ?? clock.now))
        let pauses = service.counters.pauses.load(ordering: .relaxed)
        return CoreBenchmark.Row(name: "vigil pipeline (\(config.pipeline.workers) workers; input paused \(pauses)x)", events: events, seconds: seconds)
    }
}
