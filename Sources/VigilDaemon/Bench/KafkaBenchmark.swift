import Foundation
import Histogram
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

    var options: KafkaClientOptions {
        KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-bench")
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The daemon with `base`'s features, detectors and outputs, reading `input` from the beginning in a fresh group
    /// on this broker, without HTTP or checkpoints; started.
    private func startService(
        _ base: VigilConfiguration, reading input: String, group: String, logger: Logger
    ) throws -> (VigilService, VigilConfiguration) {
        let config = benchConfig(base, reading: input, group: group)
        let service = try VigilService(config: config, logger: logger)
        try service.start()
        return (service, config)
    }

    /// `base` reading `input` from the beginning on this broker in a fresh group, without HTTP or checkpoints.
    func benchConfig(_ base: VigilConfiguration, reading input: String, group: String) -> VigilConfiguration {
        var config = base
        config.kafka.brokers = brokers
        config.kafka.inputTopics = [input]
        config.kafka.groupID = "\(group)-\(UUID().uuidString.prefix(8))"
        config.httpListen = "off"
        config.checkpoints.intervalMs = nil
        return config
    }

    /// librdkafka reading the topic from the beginning in a fresh group, touching each message's bytes once
    /// (a checksum of its value), as `kcat -C -o beginning -e` would: the rate nothing built on this client can
    /// beat. It reads as the pipeline does (each message lent where librdkafka holds it) and takes the librdkafka
    /// properties the pipeline's config passes (`kafka.properties`), so both read alike.
    public func rawRead(properties: [String: String] = [:], logger: Logger) throws -> CoreBenchmark.Row {
        var configuration = KafkaConsumerConfiguration(
            client: options, groupID: "vigil-bench-raw-\(UUID().uuidString.prefix(8))", properties: properties
        )
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
            let polled = try consumer.poll(maxMessages: 10_000, timeout: .milliseconds(100)) { message in
                if first == nil { first = clock.now }
                if let value = message.value { checksum &+= Self.checksum(value) }
            }
            read += polled.messages
        }
        let seconds = Self.seconds(clock.now - (first ?? clock.now))
        precondition(checksum != 0)
        return CoreBenchmark.Row(name: "librdkafka raw read", events: read, seconds: seconds)
    }

    /// The sum of the bytes' 8-byte words (the last ones zero-padded) and their count: each byte read once.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var sum = UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            sum &+= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        var tail: UInt64 = 0
        while i < bytes.count {
            tail = tail << 8 | UInt64(bytes[i])
            i += 1
        }
        return sum &+ tail
    }

    /// The daemon (`VigilService`, the config given with this broker, topic and a fresh group) scoring the topic
    /// from the beginning: decode, features, detectors, alerts produced, offsets committed.
    public func pipeline(config base: VigilConfiguration, logger: Logger) throws -> CoreBenchmark.Row {
        let (service, config) = try startService(base, reading: topic, group: "vigil-bench", logger: logger)
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
        return CoreBenchmark.Row(name: "vigil pipeline (\(config.pipeline.workers) worker\(config.pipeline.workers == 1 ? "" : "s"); input paused \(pauses)x)", events: events, seconds: seconds)
    }

    /// What `latency` measured.
    public struct LatencyRun: Sendable {
        /// The input rate asked for and the rate produced over the measured seconds, events/s.
        public var targetRate: Double
        public var producedRate: Double
        /// Events whose latency was recorded after the warm-up.
        public var events: Int
        /// Read-to-delivery latency percentiles, milliseconds, over all events.
        public var p50: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        /// The same for the events with outputs (alerts: read to the broker's acknowledgement) and their count.
        public var withOutputs: (events: Int, p50: Double, p99: Double, max: Double)
        /// p99 of the events without outputs (read to scored).
        public var p99WithoutOutputs: Double
        /// Input delay percentiles, milliseconds: from each record's timestamp (set by the paced producer when it
        /// hands the record over) to the daemon reading it, so the time the record spent in the producer and the
        /// broker. Seconds and bursts the broker held back show here, not in the read-to-delivery figures.
        public var inputDelay: (p50: Double, p99: Double, max: Double)
        /// Read-to-delivery percentiles over only the seconds of steady input (`LiveStatistics.LatencyTotals`),
        /// milliseconds, and how many of the measured seconds those were.
        public var steady: (seconds: Int, of: Int, p50: Double, p99: Double, p999: Double)
        /// CPU time over the measured seconds, in cores: this process (the daemon pipeline and the paced
        /// producer feeding it) and the broker, when its pid was given.
        public var processCores: Double
        public var brokerCores: Double?
    }

    /// CPU seconds (user + system) a process has used so far, from /proc/PID/stat; nil when unreadable.
    static func cpuSeconds(pid: String) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The daemon scoring a stream produced at a steady `rate` into a fresh topic (as many partitions as the
    /// prepared one): each event's latency from being read to the broker acknowledging its last output (or to
    /// being scored, when it has none), as the daemon's own HDR histogram records it. The first `warmup`
    /// seconds are left out. `brokerPID`, when given, has the broker's CPU use reported beside this process's.
    public func latency(
        config base: VigilConfiguration, rate: Double, seconds: Double, warmup: Double, brokerPID: Int32? = nil, logger: Logger
    ) throws -> LatencyRun {
        let admin = try KafkaAdmin(client: options, logger: logger)
        let partitions = try admin.listTopics().first { $0.name == topic }?.partitions.count ?? 1
        let latencyTopic = "\(topic).latency-\(UUID().uuidString.prefix(8))"
        try admin.createTopics([KafkaTopicSpecification(name: latencyTopic, partitions: Int32(partitions))])
        defer { try? admin.deleteTopics([latencyTopic]) }

        let (service, _) = try startService(base, reading: latencyTopic, group: "vigil-bench-latency", logger: logger)
        defer {
            service.requestStop()
            service.waitUntilStopped()
        }

        // Not idempotent: an idempotent librdkafka producer keeps at most five requests per partition in flight and,
        // with its next batch due and those five waiting on the broker, its broker thread polls without waiting for
        // the whole round trip. Against the dev broker (120-160 ms) the paced input then took about half a core,
        // starved the broker and came in seconds late (BENCHMARKS.md); the benchmark's input needs no idempotence.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: options, idempotence: false, linger: .milliseconds(5)), logger: logger)
        defer { try? producer.close() }
        let target = try producer.topic(latencyTopic)
        // Every message is prepared before the clock starts, in one buffer, so producing costs the paced loop
        // only librdkafka's enqueue: on a small machine the input side competes with the pipeline for the cores.
        var generatorOptions = TransactionGenerator.Options()
        generatorOptions.seed = 7
        generatorOptions.eventsPerSecond = rate
        generatorOptions.startMs = Int64(Date().timeIntervalSince1970 * 1000)
        var generator = TransactionGenerator(options: generatorOptions)
        let total = Int(rate * (warmup + seconds)) + 1
        var payload: [UInt8] = []
        var bounds: [(key: Range<Int>, value: Range<Int>)] = []
        bounds.reserveCapacity(total)
        for _ in 0..<total {
            let transaction = generator.next()
            let keyStart = payload.count
            payload.append(contentsOf: transaction.key.utf8)
            let valueStart = payload.count
            payload.append(contentsOf: transaction.json.utf8)
            bounds.append((keyStart..<valueStart, valueStart..<payload.count))
        }

        let clock = ContinuousClock()
        // The first events wait for the group to form (seconds on a fresh group); pacing starts once they are
        // scored, so that backlog is not part of what is measured.
        let priming = Swift.min(10, total)
        try payload.withUnsafeBytes { bytes in
            for (key, value) in bounds[..<priming] {
                try producer.produce(
                    to: target, key: UnsafeRawBufferPointer(rebasing: bytes[key]), value: UnsafeRawBufferPointer(rebasing: bytes[value]),
                    blockWhenFull: true)
            }
        }
        let joinDeadline = clock.now + .seconds(60)
        while service.counters.scored.load(ordering: .relaxed) < priming {
            guard clock.now < joinDeadline else { throw Failure(description: "latency: the pipeline scored nothing within 60 s") }
            usleep(10_000)
        }

        // Paced in 1 ms steps: by time t, rate x t events have been handed to the producer.
        let start = clock.now
        var sent = priming
        var sentAtWarmupEnd: Int?
        var cpuAtWarmupEnd: (process: Double?, broker: Double?) = (nil, nil)
        var cpuAtEnd: (process: Double?, broker: Double?) = (nil, nil)
        let cpu = { (Self.cpuSeconds(pid: "self"), brokerPID.flatMap { Self.cpuSeconds(pid: String($0)) }) }
        try payload.withUnsafeBytes { bytes in
            while true {
                let elapsed = Self.seconds(clock.now - start)
                if elapsed >= warmup + seconds || sent == total {
                    cpuAtEnd = cpu()
                    break
                }
                if sentAtWarmupEnd == nil, elapsed >= warmup {
                    sentAtWarmupEnd = sent
                    cpuAtWarmupEnd = cpu()
                    service.live.resetLatencyHistogram()
                }
                let due = Swift.min(total, priming + Int(rate * elapsed))
                while sent < due {
                    let (key, value) = bounds[sent]
                    try producer.produce(
                        to: target, key: UnsafeRawBufferPointer(rebasing: bytes[key]), value: UnsafeRawBufferPointer(rebasing: bytes[value]),
                        blockWhenFull: true)
                    sent += 1
                }
                usleep(1000)
            }
        }
        let producedRate = Double(sent - (sentAtWarmupEnd ?? 0)) / seconds
        let deadline = clock.now + .seconds(120)
        while service.counters.scored.load(ordering: .relaxed) < sent {
            guard clock.now < deadline else {
                throw Failure(description: "latency: \(service.counters.scored.load(ordering: .relaxed)) of \(sent) events scored")
            }
            usleep(10_000)
        }
        // The consumer thread adds each second's latencies once that second is over.
        usleep(1_500_000)
        let totals = service.live.latencyTotals
        let (withoutOutputs, withOutputs) = (totals.withoutOutputs, totals.withOutputs)
        var histogram = withoutOutputs
        histogram.add(withOutputs)
        let cores = { (end: Double?, begin: Double?) in end.flatMap { e in begin.map { (e - $0) / seconds } } }
        return LatencyRun(
            targetRate: rate, producedRate: producedRate, events: Int(histogram.totalCount),
            p50: histogram.milliseconds(atPercentile: 50), p99: histogram.milliseconds(atPercentile: 99),
            p999: histogram.milliseconds(atPercentile: 99.9), max: histogram.maxMilliseconds,
            withOutputs: (
                Int(withOutputs.totalCount), withOutputs.milliseconds(atPercentile: 50), withOutputs.milliseconds(atPercentile: 99), withOutputs.maxMilliseconds
            ),
            p99WithoutOutputs: withoutOutputs.milliseconds(atPercentile: 99),
            inputDelay: (totals.inputDelay.milliseconds(atPercentile: 50), totals.inputDelay.milliseconds(atPercentile: 99), totals.inputDelay.maxMilliseconds),
            steady: (
                totals.steadySeconds, totals.seconds, totals.steady.milliseconds(atPercentile: 50), totals.steady.milliseconds(atPercentile: 99),
                totals.steady.milliseconds(atPercentile: 99.9)
            ),
            processCores: cores(cpuAtEnd.process, cpuAtWarmupEnd.process) ?? .nan, brokerCores: cores(cpuAtEnd.broker, cpuAtWarmupEnd.broker))
    }
}

