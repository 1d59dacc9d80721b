public import Logging

/// Metadata keys of the Kafka layer's log records.
public enum KafkaLoggingKeys {
    /// librdkafka's log facility (`FETCH`, `CGRPOP`...).
    public static let facility: Logger.Metadata.Key = "rdkafka.facility"
    public static let error: Logger.Metadata.Key = "error"
    public static let partitions: Logger.Metadata.Key = "partitions"
    public static let rebalanceProtocol: Logger.Metadata.Key = "rebalance.protocol"
    public static let topic: Logger.Metadata.Key = "topic"
}
