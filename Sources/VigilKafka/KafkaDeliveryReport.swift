/// The outcome of one produced message, reported on the producer's polling thread.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// The offset the message was written at, or `KafkaOffset.invalid` when delivery failed.
    public var offset: Int64
    /// The value passed as `context` to `produce`, so the caller can find the message again without a lookup.
    public var context: UInt64
    /// Why delivery failed, or `nil` when it succeeded.
    public var error: KafkaError?

    public init(topic: String, partition: Int32, offset: Int64, context: UInt64, error: KafkaError?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.context = context
        self.error = error
    }
}
