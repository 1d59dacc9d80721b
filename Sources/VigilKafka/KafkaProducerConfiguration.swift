/// Typed configuration of a `KafkaProducer`.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    /// Message compression (`compression.codec`).
    public enum Compression: String, Sendable, Hashable {
        case none, gzip, snappy, lz4, zstd
    }

    /// Which replicas must acknowledge a write (`acks`).
    public enum Acks: String, Sendable, Hashable {
        case none = "0"
        case leader = "1"
        case all = "all"
    }

    public var client: KafkaClientOptions
    /// `enable.idempotence`: no duplicates or reordering from retries. On by default.
    public var idempotence: Bool
    /// `transactional.id`: set it to use transactions (implies idempotence).
    public var transactionalID: String?
    /// `transaction.timeout.ms`.
    public var transactionTimeout: Duration
    public var acks: Acks
    public var compression: Compression
    /// `linger.ms`: how long to wait to fill a batch.
    public var linger: Duration
    /// `batch.num.messages`.
    public var batchMessages: Int
    /// `queue.buffering.max.messages`: the bound of the local queue.
    public var maxQueuedMessages: Int
    /// `message.timeout.ms`: how long a message may wait for delivery, retries included; zero is forever.
    public var messageTimeout: Duration
    /// Any librdkafka property, applied last and so overriding the typed settings.
    public var properties: [String: String]

    public init(
        client: KafkaClientOptions,
        idempotence: Bool = true,
        transactionalID: String? = nil,
        transactionTimeout: Duration = .seconds(60),
        acks: Acks = .all,
        compression: Compression = .lz4,
        linger: Duration = .milliseconds(5),
        batchMessages: Int = 10_000,
        maxQueuedMessages: Int = 1_000_000,
        messageTimeout: Duration = .seconds(300),
        properties: [String: String] = [:]
    ) {
        self.client = client
        self.idempotence = idempotence
        self.transactionalID = transactionalID
        self.transactionTimeout = transactionTimeout
        self.acks = acks
        self.compression = compression
        self.linger = linger
        self.batchMessages = batchMessages
        self.maxQueuedMessages = maxQueuedMessages
        self.messageTimeout = messageTimeout
        self.properties = properties
    }

    /// The configuration flattened to librdkafka properties; `properties` are merged last.
    public func librdkafkaProperties() -> [String: String] {
        var p = client.properties()
        p["enable.idempotence"] = idempotence || transactionalID != nil ? "true" : "false"
        if let transactionalID {
            p["transactional.id"] = transactionalID
            p["transaction.timeout.ms"] = String(transactionTimeout.wholeMilliseconds)
        }
        p["acks"] = acks.rawValue
        p["compression.codec"] = compression.rawValue
        p["linger.ms"] = String(linger.wholeMilliseconds)
        p["batch.num.messages"] = String(batchMessages)
        p["queue.buffering.max.messages"] = String(maxQueuedMessages)
        // librdkafka refuses a message timeout longer than the transaction timeout.
        let effectiveMessageTimeout = transactionalID == nil ? messageTimeout : min(messageTimeout, transactionTimeout)
        p["message.timeout.ms"] = String(effectiveMessageTimeout.wholeMilliseconds)
        p.merge(properties) { _, passthrough in passthrough }
        return p
    }
}
