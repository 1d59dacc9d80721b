import Logging
import VigilKafka

/// Reads a whole changelog topic — every partition from its start to its current end — into a
/// `SnapshotAssembler`, outside any consumer group.
enum ChangelogReader {
    /// The snapshots on `topic`; an empty assembler when the topic has no messages.
    static func read(options: KafkaClientOptions, topic: String, properties: [String: String], logger: Logger, timeout: Duration = .seconds(30)) throws -> SnapshotAssembler {
        let admin = try KafkaAdmin(client: options, logger: logger)
        guard let metadata = try admin.listTopics().first(where: { $0.name == topic }) else { return SnapshotAssembler() }
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: options, groupID: "vigil-changelog-reader", offsetReset: .earliest, reportPartitionEOF: true, properties: properties),
            logger: logger
        )
        defer { try? consumer.close() }
        var ends: [Int32: Int64] = [:]
        for partition in metadata.partitions {
            let marks = try consumer.watermarks(KafkaTopicPartition(topic: topic, partition: partition))
            if marks.high > marks.low { ends[partition] = marks.high }
        }
        var assembler = SnapshotAssembler()
        guard !ends.isEmpty else { return assembler }
        try consumer.assign(ends.keys.map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic: topic, partition: $0), offset: KafkaOffset.beginning) })
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var remaining = ends
        var sawEnd = false
        var idlePolls = 0
        while !remaining.isEmpty {
            guard clock.now < deadline else {
                throw KafkaError(code: .timedOut, name: "timed out", message: "reading changelog \(topic): partitions \(remaining.keys.sorted()) not read to their end in \(timeout)")
            }
            let batch = try consumer.poll(maxMessages: 1000, timeout: .milliseconds(100))
            for message in batch.messages {
                let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                assembler.add(key: key, value: message.value.map(Array.init))
                if let end = remaining[message.partition], message.offset + 1 >= end { remaining[message.partition] = nil }
            }
            // The end may be a transaction marker (never delivered as a message): the position says when a
            // partition is done. read_committed stops at the last stable offset, so while a transaction is open the
            // end is out of reach: a partition-end event with nothing read for a few polls ends the read there.
            for entry in try consumer.position(remaining.keys.map { KafkaTopicPartition(topic: topic, partition: $0) })
            where entry.offset >= (remaining[entry.topicPartition.partition] ?? .max) {
                remaining[entry.topicPartition.partition] = nil
            }
            if batch.errors.contains(where: { $0.code == .partitionEOF }) { sawEnd = true }
            idlePolls = batch.messages.isEmpty ? idlePolls + 1 : 0
            if sawEnd, idlePolls >= 3 { break }
        }
        return assembler
    }
}
