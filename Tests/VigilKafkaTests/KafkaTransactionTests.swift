import Foundation
import Testing
import VigilKafka

@Suite("Transactions against a real broker", .serialized)
struct KafkaTransactionTests {
    private func readAll(_ topic: String, isolation: KafkaConsumerConfiguration.IsolationLevel, expecting count: Int) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("reader"), isolation: isolation),
            logger: TestBroker.logger
        )
        try consumer.subscribe([topic])
        var messages = try pollUntil(consumer, deadline: .seconds(30)) { $0.count >= count }
        // Keep reading briefly: anything beyond `count` would be a leak of aborted records.
        messages += try pollUntil(consumer, deadline: .seconds(2)) { _ in false }
        try consumer.close()
        return messages
    }

    @Test(.timeLimit(.minutes(3)))
    func committedTransactionIsVisibleAndAbortedOneIsNotUnderReadCommitted() throws {
        let topic = try TestBroker.createTopic("txn", partitions: 1)
        let producer = try KafkaProducer(
            configuration: try TestBroker.producerConfiguration(transactionalID: TestBroker.unique("txn-producer")),
            logger: TestBroker.logger
        )
        try producer.initTransactions()

        try producer.beginTransaction()
        for i in 0..<10 { try producer.produce(topic: topic, key: nil, value: Array("committed-\(i)".utf8)) }
        try producer.commitTransaction()

        try producer.beginTransaction()
        for i in 0..<10 { try producer.produce(topic: topic, key: nil, value: Array("aborted-\(i)".utf8)) }
        try producer.flush(timeout: .seconds(10))
        try producer.abortTransaction()

        try producer.beginTransaction()
        try producer.produce(topic: topic, key: nil, value: Array("after".utf8))
        try producer.commitTransaction()
        try producer.close()

        let committed = try readAll(topic, isolation: .readCommitted, expecting: 11)
        let values = committed.compactMap(\.valueString)
        let committedValues = (0..<10).map { "committed-\($0)" } + ["after"]
        #expect(values.filter { !$0.hasPrefix("aborted-") } == committedValues)
        // The filtering of aborted records is the broker's part: its Fetch response lists the aborted
        // transactions' ranges and librdkafka drops those records. The dev broker (tansu 0.6.0) stubs that
        // list as empty, so aborted records stay visible there; this expectation turns red when it is fixed.
        withKnownIssue("tansu 0.6.0 returns no aborted-transaction ranges in Fetch responses") {
            #expect(values == committedValues)
        }

        let uncommitted = try readAll(topic, isolation: .readUncommitted, expecting: 21)
        #expect(uncommitted.compactMap(\.valueString).filter { $0.hasPrefix("aborted-") }.count == 10)
    }

    @Test(.timeLimit(.minutes(3)))
    func consumeTransformProduceCommitsOffsetsWithTheTransaction() throws {
        let input = try TestBroker.createTopic("ctp-in", partitions: 2)
        let output = try TestBroker.createTopic("ctp-out", partitions: 2)
        let group = TestBroker.unique("ctp-group")

        let seed = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<100 { try seed.produce(topic: input, key: Array("k\(i % 7)".utf8), value: Array("word\(i)".utf8)) }
        try seed.flush(timeout: .seconds(30))

        let consumer = try KafkaConsumer(configuration: try TestBroker.consumerConfiguration(group: group), logger: TestBroker.logger)
        try consumer.subscribe([input])
        let producer = try KafkaProducer(
            configuration: try TestBroker.producerConfiguration(transactionalID: TestBroker.unique("ctp-producer")),
            logger: TestBroker.logger
        )
        try producer.initTransactions()

        var transformed = 0
        var next: [KafkaTopicPartition: Int64] = [:]
        let clock = ContinuousClock()
        let end = clock.now + .seconds(60)
        while transformed < 100, clock.now < end {
            let batch = try consumer.poll(maxMessages: 30, timeout: .milliseconds(200))
            guard !batch.messages.isEmpty else { continue }
            try producer.beginTransaction()
            for message in batch.messages {
                let upper = Array((message.valueString ?? "").uppercased().utf8)
                try producer.produce(topic: output, key: message.key.map(Array.init), value: upper)
                next[message.topicPartition] = message.offset + 1
            }
            let offsets = next.map { KafkaTopicPartitionOffset($0.key, offset: $0.value) }
            try producer.sendOffsetsToTransaction(offsets, group: try #require(consumer.groupMetadata()))
            try producer.commitTransaction()
            transformed += batch.messages.count
        }
        #expect(transformed == 100)
        let partitions = [KafkaTopicPartition(topic: input, partition: 0), KafkaTopicPartition(topic: input, partition: 1)]
        let committed = try consumer.committed(partitions)
        try consumer.close()
        try producer.close()

        #expect(committed.map(\.offset).reduce(0, +) == 100, "committed \(committed)")
        for entry in committed { #expect(entry.offset == next[entry.topicPartition]) }

        let results = try readAll(output, isolation: .readCommitted, expecting: 100)
        #expect(Set(results.compactMap(\.valueString)) == Set((0..<100).map { "WORD\($0)" }))
        #expect(results.count == 100)
    }
}
