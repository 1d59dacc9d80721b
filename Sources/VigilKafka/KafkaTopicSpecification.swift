/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int32
    /// Topic configs such as `cleanup.policy=compact` or `retention.ms`.
    public var configs: [String: String]

    public init(name: String, partitions: Int32 = 1, replicationFactor: Int32 = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic as the cluster's metadata describes it.
public struct KafkaTopicMetadata: Sendable, Hashable {
    public var name: String
    /// Partition ids, ascending.
    public var partitions: [Int32]

    public init(name: String, partitions: [Int32]) {
        self.name = name
        self.partitions = partitions
    }
}
