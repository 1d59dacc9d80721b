import Foundation
import Synchronization
import Testing
import VigilKafka

@Suite("Consumer and producer against a real broker", .serialized)
struct KafkaConsumerTests {
    @Test(.timeLimit(.minutes(5)))
    func hundredThousandKeyedMessagesWithHeadersArriveCompleteAndInOrder() throws {
        let count = 100_000
        let topic = try TestBroker.createTopic("bulk", partitions: 4)
        let deliveries = DeliveryLog()
        let producer = try KafkaProducer(
            configuration: try TestBroker.producerConfiguration(),
            onDelivery: deliveries.record,
            logger: TestBroker.logger
        )
        let handle = try producer.topic(topic)
        for i in 0..<count {
            let key = Array("card-\(i % 1000)".utf8)
            let value = Array("{\"seq\":\(i)}".utf8)
            try key.withUnsafeBytes { key in
                try value.withUnsafeBytes { value in
                    try producer.produce(
                        to: handle,
                        key: key,
                        value: value,
                        headers: [KafkaHeader(name: "seq", value: String(i)), KafkaHeader(name: "empty", value: nil)],
                        context: UInt64(i),
                        blockWhenFull: true
                    )
                }
            }
        }
        try producer.flush(timeout: .seconds(60))
        #expect(deliveries.errors.isEmpty)
        let delivered = deliveries.entries
        #expect(delivered.count == count)

        let consumer = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("bulk-group")),
            logger: TestBroker.logger
        )
        try consumer.subscribe([topic])
        let messages = try pollUntil(consumer, deadline: .seconds(180)) { $0.count >= count }
        try consumer.close()

        #expect(messages.count == count)
        var seen = [Bool](repeating: false, count: count)
        var lastOffset: [Int32: Int64] = [:]
        var lastSeqPerKey: [String: Int] = [:]
        var problems: [String] = []
        for message in messages {
            guard let seqText = message.header("seq")?.stringValue, let seq = Int(seqText), seq >= 0, seq < count else {
                problems.append("bad seq header at \(message.partition)@\(message.offset)")
                continue
            }
            if seen[seq] { problems.append("duplicate \(seq)") }
            seen[seq] = true
            if message.keyString != "card-\(seq % 1000)" { problems.append("key of \(seq)") }
            if message.valueString != "{\"seq\":\(seq)}" { problems.append("value of \(seq)") }
            if message.headers.count != 2 || message.header("empty") == nil || message.header("empty")?.value != nil {
                problems.append("headers of \(seq)")
            }
            if message.topic != topic { problems.append("topic of \(seq)") }
            if message.timestampMs == nil { problems.append("timestamp of \(seq)") }
            if delivered[UInt64(seq)] != DeliveryLog.Entry(partition: message.partition, offset: message.offset) {
                problems.append("position of \(seq) differs from its delivery report")
            }
            if let last = lastOffset[message.partition], message.offset <= last {
                problems.append("partition \(message.partition) went from \(last) to \(message.offset)")
            }
            lastOffset[message.partition] = message.offset
            let key = message.keyString ?? ""
            if let last = lastSeqPerKey[key], seq <= last { problems.append("key \(key) out of order at \(seq)") }
            lastSeqPerKey[key] = seq
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        #expect(seen.allSatisfy { $0 })
        #expect(lastOffset.count == 4, "keys spread over every partition")
    }

    /// The lending poll (each message read where librdkafka holds it) sees exactly what the copying poll returns:
    /// topic, partition, offset, timestamp, key, value and headers, including records without a key, tombstones,
    /// empty values and headers without a value; one topic identity per topic.
    @Test(.timeLimit(.minutes(3)))
    func lentMessagesAreTheMessagesACopyingPollReturns() throws {
        let count = 3_000
        let topics = [try TestBroker.createTopic("lend-a", partitions: 3), try TestBroker.createTopic("lend-b", partitions: 1)]
        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<count {
            let key: [UInt8]? = i % 7 == 0 ? nil : Array("k-\(i % 50)".utf8)
            let value: [UInt8]? = i % 11 == 0 ? nil : i % 13 == 0 ? [] : Array("{\"i\":\(i),\"pad\":\"\(String(repeating: "x", count: i % 300))\"}".utf8)
            var headers = [KafkaHeader(name: "i", value: String(i))]
            if i % 3 == 0 { headers.append(KafkaHeader(name: "none", value: nil)) }
            try producer.produce(topic: topics[i % 2], key: key, value: value, headers: headers, blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(30))

        let copying = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("copying")), logger: TestBroker.logger)
        try copying.subscribe(topics)
        let copied = try pollUntil(copying) { $0.count >= count }
        try copying.close()

        let lending = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("lending")), logger: TestBroker.logger)
        try lending.subscribe(topics)
        var lent: [KafkaMessage] = []
        var identities: [String: Set<KafkaTopicID>] = [:]
        var problems: [String] = []
        let clock = ContinuousClock()
        let end = clock.now + .seconds(60)
        while lent.count < count, clock.now < end {
            var seen = 0
            let summary = try lending.poll(maxMessages: 500, timeout: .milliseconds(100)) { view in
                seen += 1
                let message = KafkaMessage(copying: view)
                // The view's own fields, read in place, against the copy made of them.
                if view.value.map(Array.init) != message.value.map(Array.init) { problems.append("value at \(view.offset)") }
                if view.key.map(Array.init) != message.key.map(Array.init) { problems.append("key at \(view.offset)") }
                if view.topicPartition != message.topicPartition { problems.append("place at \(view.offset)") }
                identities[view.topic, default: []].insert(view.topicID)
                lent.append(message)
            }
            if summary.messages != seen { problems.append("summary counted \(summary.messages) of \(seen)") }
        }
        try lending.close()

        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(copied.count == count && lent.count == count)
        let byPlace = { (messages: [KafkaMessage]) in
            Dictionary(messages.map { ("\($0.topic)/\($0.partition)@\($0.offset)", $0) }, uniquingKeysWith: { first, _ in first })
        }
        let expected = byPlace(copied)
        let got = byPlace(lent)
        #expect(expected.count == count)
        let differing = got.filter { expected[$0.key] != $0.value }.map(\.key)
        #expect(got.count == count && differing.isEmpty, "\(differing.count) lent messages differ from the copied ones, e.g. \(differing.prefix(3))")
        #expect(lent.contains { $0.key == nil } && lent.contains { $0.value == nil } && lent.contains { $0.value?.isEmpty == true })
        #expect(Set(identities.keys) == Set(topics) && identities.values.allSatisfy { $0.count == 1 })
        #expect(Set(identities.values.flatMap { $0 }).count == 2, "the two topics' identities differ")
    }

    @Test(.timeLimit(.minutes(3)))
    func reopenedConsumerResumesExactlyAfterTheCommittedOffsets() throws {
        let topic = try TestBroker.createTopic("resume", partitions: 2)
        let group = TestBroker.unique("resume-group")
        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<1000 {
            try producer.produce(topic: topic, partition: Int32(i % 2), key: nil, value: Array("m\(i)".utf8))
        }
        try producer.flush(timeout: .seconds(30))

        let first = try KafkaConsumer(configuration: try TestBroker.consumerConfiguration(group: group), logger: TestBroker.logger)
        try first.subscribe([topic])
        let read = try pollUntil(first) { $0.count >= 300 }
        let processed = Array(read.prefix(300))
        for message in processed { try first.store(processed: message) }
        try first.close()

        // A partition none of whose messages were processed has nothing committed and restarts at 0.
        var expectedCommitted: [Int32: Int64] = [0: KafkaOffset.invalid, 1: KafkaOffset.invalid]
        for message in processed { expectedCommitted[message.partition] = message.offset + 1 }
        let expectedStart = expectedCommitted.mapValues { $0 == KafkaOffset.invalid ? 0 : $0 }

        let second = try KafkaConsumer(configuration: try TestBroker.consumerConfiguration(group: group), logger: TestBroker.logger)
        try second.subscribe([topic])
        let rest = try pollUntil(second) { $0.count >= 1000 - processed.count }
        let committed = try second.committed([KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)])
        try second.close()

        for entry in committed {
            #expect(entry.offset == expectedCommitted[entry.partition], "committed \(entry)")
        }
        for partition in [Int32(0), 1] {
            let firstOffset = rest.first { $0.partition == partition }?.offset
            #expect(firstOffset == expectedStart[partition], "partition \(partition) resumed at \(String(describing: firstOffset))")
        }
        let values = Set((processed + rest).compactMap(\.valueString))
        #expect(rest.count == 1000 - processed.count)
        #expect(values.count == 1000)
    }

    @Test(.timeLimit(.minutes(3)))
    func pausedPartitionsDeliverNothingUntilResumed() throws {
        let topic = try TestBroker.createTopic("pause", partitions: 2)
        let consumer = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("pause-group")),
            logger: TestBroker.logger
        )
        try consumer.subscribe([topic])
        #expect(try eventually { _ = try consumer.poll(timeout: .milliseconds(50)); return try consumer.assignment().count == 2 })
        let paused = KafkaTopicPartition(topic: topic, partition: 0)
        try consumer.pause([paused])

        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<400 {
            try producer.produce(topic: topic, partition: Int32(i % 2), key: nil, value: Array("p\(i)".utf8))
        }
        try producer.flush(timeout: .seconds(30))

        let whilePaused = try pollUntil(consumer, deadline: .seconds(20)) { $0.count >= 200 }
        let extra = try pollUntil(consumer, deadline: .seconds(2)) { _ in false }
        #expect(whilePaused.count + extra.count == 200)
        #expect((whilePaused + extra).allSatisfy { $0.partition == 1 })

        try consumer.resume([paused])
        let afterResume = try pollUntil(consumer, deadline: .seconds(30)) { $0.count >= 200 }
        #expect(afterResume.count == 200)
        #expect(afterResume.allSatisfy { $0.partition == 0 })
        #expect(afterResume.map(\.offset) == Array(0..<200))
        try consumer.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func seekRereadsFromTheGivenOffset() throws {
        let topic = try TestBroker.createTopic("seek", partitions: 1)
        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<100 { try producer.produce(topic: topic, key: nil, value: Array("s\(i)".utf8)) }
        try producer.flush(timeout: .seconds(30))

        let consumer = try KafkaConsumer(
            configuration: try TestBroker.consumerConfiguration(group: TestBroker.unique("seek-group")),
            logger: TestBroker.logger
        )
        try consumer.subscribe([topic])
        let all = try pollUntil(consumer) { $0.count >= 100 }
        #expect(all.count == 100)
        try consumer.seek([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 90)])
        let again = try pollUntil(consumer, deadline: .seconds(20)) { $0.count >= 10 }
        #expect(again.map(\.offset) == Array(90..<100))
        #expect(again.first?.valueString == "s90")
        try consumer.close()
    }
}
