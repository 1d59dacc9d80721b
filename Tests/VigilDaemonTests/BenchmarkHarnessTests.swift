import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// The benchmark harness works (it is not timed here: figures come from scripts/bench, into BENCHMARKS.md).
@Suite("Benchmark harness", .serialized)
struct BenchmarkHarnessTests {
    private func benchConfig() throws -> VigilConfiguration {
        try VigilConfiguration.load(file: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../configs/bench.yaml").standardized.path)
    }

    @Test func theMemoryBenchmarkReportsEachEntityKindAndTheCardsItSaw() throws {
        let report = MemoryBenchmark(config: try benchConfig(), cards: 3_000).run()
        let rows = report.rows
        #expect(rows.map(\.entity) == ["card", "merchant"])
        #expect(rows[0].keys > 2_800 && rows[0].keys <= 3_000, "cards held: \(rows[0].keys)")
        #expect(rows[0].declaredBytesPerKey > rows[1].declaredBytesPerKey, "the card has the larger state and its z-score baseline")
        #expect(rows[0].residentBytesPerKey != nil && rows[1].residentBytesPerKey == nil)
        // The longest event is timed for the card only, and held keys are counted after it.
        let longest = try #require(rows[0].longestEvent)
        #expect(longest.milliseconds > 0 && longest.keys >= 1 && longest.keys <= rows[0].keys)
        #expect(rows[1].longestEvent == nil)
        // The checkpoint went through chunks and came back with every key.
        #expect(report.checkpoint.bytes > 3_000 * rows[0].declaredBytesPerKey / 2 && report.checkpoint.chunks >= 1)
        #expect(report.checkpoint.restoredKeysMatch)
        #expect(report.checkpoint.firstWriteSeconds > 0 && report.checkpoint.writeSeconds > 0 && report.checkpoint.restoreSeconds > 0)
    }

    @Test func allocationsAreCountedOnlyUnderTheCountingAllocator() throws {
        // scripts/test does not preload allocation_counter.so, so there is no count to read.
        #expect(AllocationCounter() == nil)
        let row = CoreBenchmark(config: try benchConfig(), count: 2_000).sequential()
        #expect(row.allocationsPerEvent == nil && row.events == 2_000)
    }

    @Test func thePacedCoreRunFeedsAtTheRateAskedAndTimesTheSecondHalf() throws {
        let run = CoreBenchmark(config: try benchConfig(), count: 4_000).pacedLatency(workers: 2, rate: 4_000)
        // 4,000 events at 4,000 events/s: about a second, however fast the machine.
        #expect(run.fedRate > 2_000 && run.fedRate < 4_400, "fed at \(run.fedRate) events/s")
        #expect(run.events == 2_000)
        #expect(run.p50 > 0 && run.p50 <= run.p99 && run.p99 <= run.p999 && run.p999 <= run.max)
    }

    @Test(.timeLimit(.minutes(2)))
    func theLatencyRunReportsPercentilesOfTheDaemonsHistogram() throws {
        let brokers = try Broker.address()
        let topic = Broker.unique("latency-base")
        let admin = try KafkaAdmin(client: Broker.options(), logger: Broker.logger)
        try admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 2)])
        defer { try? admin.deleteTopics([topic]) }
        var config = try benchConfig()
        config.kafka.alertsTopic = Broker.unique("latency-alerts")
        config.kafka.deadLetterTopic = Broker.unique("latency-dlq")
        try admin.createTopics([KafkaTopicSpecification(name: config.kafka.alertsTopic), KafkaTopicSpecification(name: config.kafka.deadLetterTopic)])
        let run = try KafkaBenchmark(brokers: brokers, topic: topic, events: 0)
            .latency(config: config, rate: 1_000, seconds: 3, warmup: 1, logger: Broker.logger)
        #expect(run.producedRate > 800 && run.producedRate < 1_200, "paced input: \(run.producedRate) events/s")
        #expect(run.events >= 2_000, "events after the warm-up: \(run.events)")
        #expect(run.p50 > 0 && run.p50 <= run.p99 && run.p99 <= run.p999 && run.p999 <= run.max)
        // Every record carries its producer's timestamp, so each read one has an input delay.
        #expect(run.inputDelay.max > 0 && run.inputDelay.p50 <= run.inputDelay.p99 && run.inputDelay.p99 <= run.inputDelay.max)
        #expect(run.steady.of >= 2 && run.steady.seconds <= run.steady.of)
        #expect(run.steady.seconds == 0 || (run.steady.p50 > 0 && run.steady.p50 <= run.steady.p99 && run.steady.p99 <= run.steady.p999))
    }
}
