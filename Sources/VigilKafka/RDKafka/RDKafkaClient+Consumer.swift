internal import CRdKafka

extension RDKafkaClient {
    /// Joins the group for these topics (`rd_kafka_subscribe`).
    func subscribe(topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(topics: topics)
        try KafkaError.check(rd_kafka_subscribe(handle, list.pointer), "subscribe to \(topics)")
    }

    /// Reads up to `maxMessages` messages: waits up to `timeoutMs` for the first one, then takes whatever else is
    /// already fetched without waiting (`rd_kafka_consumer_poll`, `rd_kafka_consume_batch_queue`). Callbacks
    /// (rebalance, commits, logs) are served on the calling thread.
    func pollBatch(maxMessages: Int, timeoutMs: Int32) throws(KafkaError) -> KafkaMessageBatch {
        try withPolledMessages(maxMessages: maxMessages, timeoutMs: timeoutMs) { RDKafkaMessageBatchBuilder.build($0, callbacks: callbacks) }
    }

    /// Reads as `pollBatch` does, lending each message to `body` where librdkafka holds it; returns how many
    /// messages `body` saw and the errors the poll reported in their place.
    func pollLending(maxMessages: Int, timeoutMs: Int32, _ body: (KafkaMessageView) -> Void) throws(KafkaError) -> KafkaPollSummary {
        try withPolledMessages(maxMessages: maxMessages, timeoutMs: timeoutMs) { messages in
            var summary = KafkaPollSummary()
            for case let message? in messages {
                if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let detail = message.pointee.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
                    summary.errors.append(KafkaError(rdkafka: message.pointee.err, message: detail))
                    continue
                }
                body(KafkaMessageView(message, callbacks: callbacks))
                summary.messages += 1
            }
            return summary
        }
    }

    /// The messages of one poll (see `pollBatch`), destroyed once `body` returns.
    private func withPolledMessages<Result>(
        maxMessages: Int, timeoutMs: Int32, _ body: (UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>) -> Result
    ) throws(KafkaError) -> Result {
        guard let queue = consumerQueue else {
            throw KafkaError(librdkafkaCode: KafkaError.Code.invalidArgument.rawValue, message: "poll on a client that is not a consumer")
        }
        let capacity = max(1, maxMessages)
        return withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<rd_kafka_message_t>?.self, capacity: capacity) {
            slots in
            var count = Int(max(0, rd_kafka_consume_batch_queue(queue, 0, slots.baseAddress, capacity)))
            if count == 0, timeoutMs > 0, let first = rd_kafka_consumer_poll(handle, timeoutMs) {
                slots[0] = first
                count = 1
                if capacity > 1 {
                    let more = rd_kafka_consume_batch_queue(queue, 0, slots.baseAddress! + 1, capacity - 1)
                    count += Int(max(0, more))
                }
            }
            defer {
                for index in 0..<count { rd_kafka_message_destroy(slots[index]) }
            }
            return body(UnsafeBufferPointer(rebasing: slots[0..<count]))
        }
    }

    /// Stores offsets to be committed: each is the next offset to read (`rd_kafka_offsets_store`).
    func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets)
        try KafkaError.check(rd_kafka_offsets_store(handle, list.pointer), "store offsets")
        if let error = list.firstError { throw error }
    }

    /// Commits the given offsets, or all stored offsets when `nil` (`rd_kafka_commit`).
    /// Nothing to commit is not an error.
    func commit(_ offsets: [KafkaTopicPartitionOffset]?, async: Bool) throws(KafkaError) {
        let list = offsets.map { RDKafkaTopicPartitionList($0) }
        let code = rd_kafka_commit(handle, list?.pointer, async ? 1 : 0)
        if code == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        try KafkaError.check(code, "commit offsets")
        if !async, let error = list?.firstError { throw error }
    }

    /// The committed offsets of these partitions (`rd_kafka_committed`); `KafkaOffset.invalid` where none.
    func committed(_ partitions: [KafkaTopicPartition], timeoutMs: Int32) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        let list = RDKafkaTopicPartitionList(partitions: partitions)
        try KafkaError.check(rd_kafka_committed(handle, list.pointer, timeoutMs), "read committed offsets")
        return list.entries
    }

    /// The current position (next offset to read) of these partitions (`rd_kafka_position`).
    func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        let list = RDKafkaTopicPartitionList(partitions: partitions)
        try KafkaError.check(rd_kafka_position(handle, list.pointer), "read positions")
        return list.entries
    }

    /// The partitions currently assigned to this consumer (`rd_kafka_assignment`).
    func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try KafkaError.check(rd_kafka_assignment(handle, &pointer), "read assignment")
        guard let pointer else { return [] }
        return RDKafkaTopicPartitionList(adopting: pointer).entries.map(\.topicPartition)
    }

    /// Stops fetching these partitions (`rd_kafka_pause_partitions`).
    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions: partitions)
        try KafkaError.check(rd_kafka_pause_partitions(handle, list.pointer), "pause \(partitions)")
    }

    /// Resumes fetching these partitions (`rd_kafka_resume_partitions`).
    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions: partitions)
        try KafkaError.check(rd_kafka_resume_partitions(handle, list.pointer), "resume \(partitions)")
    }

    /// Moves the fetch position of assigned partitions (`rd_kafka_seek_partitions`).
    func seek(_ offsets: [KafkaTopicPartitionOffset], timeoutMs: Int32) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        try KafkaError.check(rd_kafka_seek_partitions(handle, list.pointer, timeoutMs))
        if let error = list.firstError { throw error }
    }

    /// Reads exactly these partitions from these offsets, outside any group rebalancing (`rd_kafka_assign`).
    func assign(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        try KafkaError.check(rd_kafka_assign(handle, list.pointer), "assign")
    }

    /// The low and high watermarks of a partition, asked of its leader (`rd_kafka_query_watermark_offsets`).
    func watermarks(_ partition: KafkaTopicPartition, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        try KafkaError.check(rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeoutMs), "query watermarks")
        return (low, high)
    }

    /// Leaves the group, serving the final revoke (`rd_kafka_consumer_close`).
    func closeConsumer() throws(KafkaError) {
        try KafkaError.check(rd_kafka_consumer_close(handle), "close consumer")
    }

    /// The group's metadata, for `sendOffsetsToTransaction` (`rd_kafka_consumer_group_metadata`).
    func groupMetadata() -> KafkaConsumerGroupMetadata? {
        rd_kafka_consumer_group_metadata(handle).map(KafkaConsumerGroupMetadata.init(adopting:))
    }
}

/// A consumer's group generation and member id, as a transactional producer needs them
/// (`rd_kafka_consumer_group_metadata_t`).
///
/// `@unchecked Sendable`: the C object is immutable once created and only read by librdkafka.
public final class KafkaConsumerGroupMetadata: @unchecked Sendable {
    let pointer: OpaquePointer

    init(adopting pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        rd_kafka_consumer_group_metadata_destroy(pointer)
    }
}
