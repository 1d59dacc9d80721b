public import Logging
import Synchronization

/// A group consumer over librdkafka with manual offset storage, synchronous rebalance hooks and batch reads.
///
/// Reading (`poll`) blocks up to its timeout and serves rebalance, commit and log callbacks on the calling
/// thread: call it from one dedicated thread, never from Swift's cooperative pool. The other methods may be
/// called from any thread; librdkafka synchronises them.
public final class KafkaConsumer: Sendable {
    let client: RDKafkaClient
    public let configuration: KafkaConsumerConfiguration
    private let isClosed = Atomic<Bool>(false)

    /// Creates the consumer; it joins the group on `subscribe`.
    ///
    /// - Parameters:
    ///   - rebalance: hooks run on the polling thread before partitions are assigned or revoked.
    ///   - onCommit: the outcome of every commit, run on the polling thread.
    ///   - onStatistics: librdkafka's statistics JSON, every `client.statisticsInterval`.
    ///   - onError: errors librdkafka reports outside any call (brokers down, fatal errors).
    ///   - logger: receives librdkafka's logs.
    public init(
        configuration: KafkaConsumerConfiguration,
        rebalance: KafkaRebalanceHandler = KafkaRebalanceHandler(),
        onCommit: (@Sendable (Result<[KafkaTopicPartitionOffset], KafkaError>) -> Void)? = nil,
        onStatistics: (@Sendable (String) -> Void)? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        logger: Logger
    ) throws(KafkaError) {
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            rebalance: rebalance,
            commit: onCommit,
            statistics: onStatistics,
            error: onError
        )
        self.client = try RDKafkaClient(kind: .consumer, properties: configuration.librdkafkaProperties(), callbacks: callbacks)
        self.configuration = configuration
    }

    /// Subscribes to topics; partitions arrive through the rebalance hooks while polling.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        try client.subscribe(topics: topics)
    }

    /// Reads exactly these partitions from these offsets, without joining a group (for reading a whole topic,
    /// such as a changelog). Offsets may be logical (`KafkaOffset.beginning`, `.end`).
    public func assign(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        try client.assign(offsets)
    }

    /// The first offset still held and the offset the next message will get, as the partition's leader says.
    public func watermarks(_ partition: KafkaTopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> (low: Int64, high: Int64) {
        try client.watermarks(partition, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Reads up to `maxMessages` messages, waiting up to `timeout` for the first.
    ///
    /// - Returns: the messages and any non-fatal errors, possibly none of either.
    /// - Throws: `KafkaError` with `isFatal` when the consumer can no longer be used.
    public func poll(maxMessages: Int = 1000, timeout: Duration = .milliseconds(100)) throws(KafkaError) -> KafkaMessageBatch {
        let batch = try client.pollBatch(maxMessages: maxMessages, timeoutMs: timeout.timeoutMilliseconds)
        if batch.errors.contains(where: { $0.code == .fatal }), let fatal = client.fatalClientError() {
            throw fatal
        }
        return batch
    }

    /// Reads up to `maxMessages` messages as `poll(maxMessages:timeout:)` does, but lends each to `body` where
    /// librdkafka holds it instead of copying the batch into Swift values: no allocation and no reference
    /// counting per message. A view is valid only during its call of `body` (`KafkaMessage(copying:)` keeps one).
    ///
    /// - Returns: how many messages `body` saw, and any non-fatal errors.
    /// - Throws: `KafkaError` with `isFatal` when the consumer can no longer be used.
    public func poll(maxMessages: Int = 1000, timeout: Duration = .milliseconds(100), _ body: (KafkaMessageView) -> Void) throws(KafkaError) -> KafkaPollSummary {
        let summary = try client.pollLending(maxMessages: maxMessages, timeoutMs: timeout.timeoutMilliseconds, body)
        if summary.errors.contains(where: { $0.code == .fatal }), let fatal = client.fatalClientError() {
            throw fatal
        }
        return summary
    }

    /// Marks offsets as processed; each offset is the *next* one to read (the processed offset + 1).
    /// Stored offsets are what `commit()` and automatic commits send.
    public func store(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        try client.storeOffsets(offsets)
    }

    /// Marks a message as processed (stores its offset + 1).
    public func store(processed message: KafkaMessage) throws(KafkaError) {
        try client.storeOffsets([KafkaTopicPartitionOffset(message.topicPartition, offset: message.offset + 1)])
    }

    /// Commits `offsets`, or every stored offset when `nil`.
    ///
    /// - Parameter async: return at once and report the outcome through `onCommit`; otherwise block until the
    ///   broker acknowledges. Nothing to commit is not an error.
    public func commit(_ offsets: [KafkaTopicPartitionOffset]? = nil, async: Bool = false) throws(KafkaError) {
        try client.commit(offsets, async: async)
    }

    /// The group's committed offsets for these partitions; `KafkaOffset.invalid` where nothing is committed.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError)
        -> [KafkaTopicPartitionOffset]
    {
        try client.committed(partitions, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// The next offset this consumer will read in each partition.
    public func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try client.position(partitions)
    }

    /// The partitions assigned to this consumer now.
    public func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        try client.assignment().sorted()
    }

    /// Stops fetching from these partitions; messages already fetched are discarded and re-fetched on resume.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try client.pause(partitions)
    }

    /// Resumes fetching paused partitions from their current positions.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try client.resume(partitions)
    }

    /// Moves the read position of assigned partitions.
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try client.seek(offsets, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// The group metadata a transactional producer needs to commit this consumer's offsets.
    public func groupMetadata() -> KafkaConsumerGroupMetadata? {
        client.groupMetadata()
    }

    /// Commits every stored offset, then leaves the group (running the revoke hook). Idempotent.
    ///
    /// Blocks until the group is left: call it from the polling thread or after polling stopped.
    public func close() throws(KafkaError) {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var commitError: KafkaError?
        do {
            try client.commit(nil, async: false)
        } catch {
            commitError = error
        }
        try client.closeConsumer()
        if let commitError { throw commitError }
    }

    /// The version of the librdkafka library in use.
    public static var librdkafkaVersion: String { RDKafkaClient.librdkafkaVersion }
}
