/// A record read from Kafka.
///
/// `key`, `value` and header values are slices of one byte buffer shared by the whole batch the message
/// arrived in: reading a batch copies each payload exactly once, out of librdkafka's buffers, and
/// holding a message keeps that batch's buffer alive.
public struct KafkaMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The record's timestamp in milliseconds since the epoch, or `nil` when the record has none.
    public var timestampMs: Int64?
    /// The key, or `nil` for a record without one.
    public var key: ArraySlice<UInt8>?
    /// The value, or `nil` for a tombstone.
    public var value: ArraySlice<UInt8>?
    /// The record's headers, in order.
    public var headers: ArraySlice<KafkaHeader>

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        timestampMs: Int64?,
        key: ArraySlice<UInt8>?,
        value: ArraySlice<UInt8>?,
        headers: ArraySlice<KafkaHeader>
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMs = timestampMs
        self.key = key
        self.value = value
        self.headers = headers
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// The value of the first header with this name.
    public func header(_ name: String) -> KafkaHeader? {
        headers.first { $0.name == name }
    }
}
