/// Synchronous hooks called on the consumer's polling thread while a rebalance is in progress.
///
/// They run before librdkafka applies the change, so the pipeline can restore state and choose start
/// offsets for new partitions, and drain, snapshot and commit partitions before they are taken away.
/// Eager and cooperative-sticky assignment are both handled: with eager assignment every rebalance revokes
/// the whole assignment first; with cooperative-sticky only the partitions that move are passed.
public struct KafkaRebalanceHandler: Sendable {
    /// Partitions are about to be assigned. Entries start at `KafkaOffset.invalid` (resume from the
    /// committed offset); set an entry's offset to start elsewhere.
    public var partitionsAssigned: @Sendable (_ partitions: inout [KafkaTopicPartitionOffset]) -> Void
    /// Partitions are about to be revoked. `lost` is true when the group already gave them to another member
    /// (the session timed out): committing their offsets then fails and must not be relied upon.
    public var partitionsRevoked: @Sendable (_ partitions: [KafkaTopicPartition], _ lost: Bool) -> Void

    public init(
        partitionsAssigned: @escaping @Sendable (_ partitions: inout [KafkaTopicPartitionOffset]) -> Void = { _ in },
        partitionsRevoked: @escaping @Sendable (_ partitions: [KafkaTopicPartition], _ lost: Bool) -> Void = { _, _ in }
    ) {
        self.partitionsAssigned = partitionsAssigned
        self.partitionsRevoked = partitionsRevoked
    }
}
