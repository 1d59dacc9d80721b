/// The messages and non-fatal errors of one poll.
public struct KafkaMessageBatch: Sendable {
    /// The messages, in the order librdkafka delivered them (per partition, by offset).
    public var messages: [KafkaMessage]
    /// Errors the poll reported alongside messages (a broker down, a partition EOF when enabled...).
    /// The consumer keeps working through them; fatal errors are thrown by `poll` instead.
    public var errors: [KafkaError]
    /// The bytes of all keys, values and header values of this batch, in one buffer.
    public var payloadBytes: Int

    public init(messages: [KafkaMessage] = [], errors: [KafkaError] = [], payloadBytes: Int = 0) {
        self.messages = messages
        self.errors = errors
        self.payloadBytes = payloadBytes
    }

    public var isEmpty: Bool { messages.isEmpty && errors.isEmpty }
}

/// What a lending poll (`KafkaConsumer.poll(maxMessages:timeout:_:)`) read besides the messages it lent.
public struct KafkaPollSummary: Sendable {
    /// How many messages the poll lent to its body.
    public var messages = 0
    /// Errors the poll reported alongside messages; fatal errors are thrown instead.
    public var errors: [KafkaError] = []

    public init() {}
}
