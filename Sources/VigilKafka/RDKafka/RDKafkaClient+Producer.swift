internal import CRdKafka

extension RDKafkaClient {
    /// A topic handle for producing (`rd_kafka_topic_new`), registered for delivery-report name lookups.
    func makeTopic(_ name: String) throws(KafkaError) -> KafkaProducerTopic {
        guard let topic = rd_kafka_topic_new(handle, name, nil) else {
            throw KafkaError(librdkafkaCode: KafkaError.Code.invalidArgument.rawValue, message: "cannot create topic handle for \(name)")
        }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(topic)))
        callbacks.topicNames.withLock { $0[key] = name }
        return KafkaProducerTopic(pointer: topic, name: name, client: self)
    }

    /// Enqueues one message (`rd_kafka_produceva`); librdkafka copies key, value and headers.
    ///
    /// - Parameters:
    ///   - partition: the partition, or `nil` to let the partitioner choose by key.
    ///   - context: returned in the delivery report.
    ///   - block: wait for room when the local queue is full instead of failing with `queueFull`.
    func produce(
        topic: KafkaProducerTopic,
        partition: Int32?,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader],
        timestampMs: Int64?,
        context: UInt64,
        block: Bool
    ) throws(KafkaError) {
        var cHeaders: OpaquePointer?
        if !headers.isEmpty {
            cHeaders = rd_kafka_headers_new(headers.count)
            for header in headers {
                let code: rd_kafka_resp_err_t
                if let value = header.value {
                    code = value.withUnsafeBytes { bytes in
                        rd_kafka_header_add(cHeaders, header.name, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    code = rd_kafka_header_add(cHeaders, header.name, -1, nil, 0)
                }
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    rd_kafka_headers_destroy(cHeaders)
                    throw KafkaError(rdkafka: code, message: "add header \(header.name)")
                }
            }
        }
        let error: OpaquePointer? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
            var count = 0
            func add(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                var vu = rd_kafka_vu_t()
                vu.vtype = type
                fill(&vu)
                vus[count] = vu
                count += 1
            }
            add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = topic.pointer }
            if let partition { add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition } }
            if let key {
                add(RD_KAFKA_VTYPE_KEY) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    $0.u.mem.size = key.count
                }
            }
            if let value {
                add(RD_KAFKA_VTYPE_VALUE) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    $0.u.mem.size = value.count
                }
            }
            if let cHeaders { add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = cHeaders } }
            if let timestampMs { add(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestampMs } }
            add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(context)) }
            add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY | (block ? RD_KAFKA_MSG_F_BLOCK : 0) }
            return rd_kafka_produceva(handle, vus.baseAddress, count)
        }
        if let error {
            // On failure the headers were not handed over.
            if let cHeaders { rd_kafka_headers_destroy(cHeaders) }
            throw KafkaError(consuming: error)
        }
    }

    /// Waits until every queued message is delivered or failed (`rd_kafka_flush`).
    func flush(timeoutMs: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_flush(handle, timeoutMs), "flush (\(outQueueLength) messages still queued)")
    }

    /// Messages and requests not yet acknowledged (`rd_kafka_outq_len`).
    var outQueueLength: Int { Int(rd_kafka_outq_len(handle)) }

    /// `rd_kafka_init_transactions`.
    func initTransactions(timeoutMs: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_init_transactions(handle, timeoutMs))
    }

    /// `rd_kafka_begin_transaction`.
    func beginTransaction() throws(KafkaError) {
        try KafkaError.check(rd_kafka_begin_transaction(handle))
    }

    /// `rd_kafka_send_offsets_to_transaction`.
    func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset],
        group: KafkaConsumerGroupMetadata,
        timeoutMs: Int32
    ) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        try KafkaError.check(rd_kafka_send_offsets_to_transaction(handle, list.pointer, group.pointer, timeoutMs))
    }

    /// `rd_kafka_commit_transaction`.
    func commitTransaction(timeoutMs: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_commit_transaction(handle, timeoutMs))
    }

    /// `rd_kafka_abort_transaction`.
    func abortTransaction(timeoutMs: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_abort_transaction(handle, timeoutMs))
    }
}

/// A producer's handle on one topic (`rd_kafka_topic_t`), destroyed with this object; obtained once from
/// `KafkaProducer.topic(_:)` so producing needs no name lookup.
///
/// `@unchecked Sendable`: topic handles are thread-safe in librdkafka and immutable here.
public final class KafkaProducerTopic: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Keeps the client alive: a topic handle must be destroyed before its client.
    let client: RDKafkaClient
    /// The topic's name.
    public let name: String

    init(pointer: OpaquePointer, name: String, client: RDKafkaClient) {
        self.pointer = pointer
        self.name = name
        self.client = client
    }

    deinit {
        rd_kafka_topic_destroy(pointer)
    }
}
