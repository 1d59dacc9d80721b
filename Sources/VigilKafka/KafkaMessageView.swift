internal import CRdKafka

/// A message where librdkafka holds it, lent to the body of `KafkaConsumer.poll(maxMessages:timeout:_:)` for one
/// call.
///
/// Its key and value point into librdkafka's fetch buffers: reading them copies nothing and takes no reference.
/// The view and every pointer it gives are valid only until that call of the body returns;
/// `KafkaMessage(copying:)` makes a message to keep.
public struct KafkaMessageView {
    /// The `rd_kafka_message_t`, untyped so that the C module stays out of the public interface.
    private let message: UnsafeMutableRawPointer
    // The client outlives every poll, and a view lives only inside one.
    private unowned(unsafe) let callbacks: RDKafkaCallbacks

    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>, callbacks: RDKafkaCallbacks) {
        self.message = UnsafeMutableRawPointer(message)
        self.callbacks = callbacks
    }

    private var record: UnsafeMutablePointer<rd_kafka_message_t> { message.assumingMemoryBound(to: rd_kafka_message_t.self) }

    /// The topic's name (cached per topic by the client).
    public var topic: String { callbacks.topicName(record.pointee.rkt) }

    /// Equal for every message of one topic read by one consumer: telling topics apart without their names.
    public var topicID: KafkaTopicID { KafkaTopicID(rawValue: UInt(bitPattern: UnsafeRawPointer(record.pointee.rkt))) }

    public var partition: Int32 { record.pointee.partition }

    public var offset: Int64 { record.pointee.offset }

    /// The record's timestamp in milliseconds since the epoch, or `nil` when the record has none.
    public var timestampMs: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(record, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
    }

    /// The key's bytes, or `nil` for a record without one.
    public var key: UnsafeRawBufferPointer? {
        record.pointee.key.map { UnsafeRawBufferPointer(start: $0, count: record.pointee.key_len) }
    }

    /// The value's bytes, or `nil` for a tombstone.
    public var value: UnsafeRawBufferPointer? {
        record.pointee.payload.map { UnsafeRawBufferPointer(start: $0, count: record.pointee.len) }
    }

    /// The record's headers, in order (copied).
    public var headers: [KafkaHeader] {
        var result: [KafkaHeader] = []
        forEachHeader { name, value in result.append(KafkaHeader(name: name, value: value.map { ArraySlice($0) })) }
        return result
    }

    /// Each header's name and value bytes (nil for a header without a value), in order, where librdkafka holds them.
    func forEachHeader(_ body: (String, UnsafeRawBufferPointer?) -> Void) {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(record, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return }
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            body(name.map { String(cString: $0) } ?? "", value.map { UnsafeRawBufferPointer(start: $0, count: size) })
            index += 1
        }
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}

/// The identity of a topic as one consumer reads it (see `KafkaMessageView.topicID`).
public struct KafkaTopicID: Hashable, Sendable {
    public let rawValue: UInt
}

extension KafkaMessage {
    /// A message holding copies of everything `view` lends.
    public init(copying view: KafkaMessageView) {
        self.init(
            topic: view.topic,
            partition: view.partition,
            offset: view.offset,
            timestampMs: view.timestampMs,
            key: view.key.map { ArraySlice($0) },
            value: view.value.map { ArraySlice($0) },
            headers: ArraySlice(view.headers)
        )
    }
}
