/// Typed configuration of a `KafkaConsumer`.
///
/// Vigil always stores offsets itself (`enable.auto.offset.store=false`): an offset is stored only once the
/// message's outputs are delivered, and commits (automatic or manual) only ever cover stored offsets.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    /// Where to start when a partition has no committed offset (`auto.offset.reset`).
    public enum OffsetReset: String, Sendable, Hashable {
        case earliest, latest, error
    }

    /// Which records are visible (`isolation.level`).
    public enum IsolationLevel: String, Sendable, Hashable {
        case readCommitted = "read_committed"
        case readUncommitted = "read_uncommitted"
    }

    /// The assignment protocol (`partition.assignment.strategy`).
    public enum AssignmentStrategy: String, Sendable, Hashable {
        /// Eager: every rebalance revokes all partitions first.
        case range
        /// Eager, round robin.
        case roundRobin = "roundrobin"
        /// Incremental: only the partitions that move are revoked.
        case cooperativeSticky = "cooperative-sticky"
    }

    /// How stored offsets reach the broker.
    public enum CommitMode: Sendable, Hashable {
        /// Only when `commit` is called.
        case manual
        /// Stored offsets are committed in the background at this interval (`auto.commit.interval.ms`).
        case automatic(interval: Duration)
    }

    public var client: KafkaClientOptions
    /// `group.id`.
    public var groupID: String
    /// `group.instance.id` for static membership, or `nil`.
    public var groupInstanceID: String?
    public var offsetReset: OffsetReset
    public var isolationLevel: IsolationLevel
    public var assignmentStrategy: AssignmentStrategy
    public var commitMode: CommitMode
    /// `session.timeout.ms`.
    public var sessionTimeout: Duration
    /// `heartbeat.interval.ms`.
    public var heartbeatInterval: Duration
    /// `max.poll.interval.ms`.
    public var maxPollInterval: Duration
    /// `fetch.wait.max.ms`.
    public var fetchMaxWait: Duration
    /// `queued.min.messages`: messages librdkafka prefetches per partition.
    public var queuedMinMessages: Int
    /// `fetch.queue.backoff.ms`: how long librdkafka waits before fetching a partition again once its prefetch
    /// queue is full. librdkafka's default, 1 s, starves a consumer that reads a little slower than the broker
    /// delivers: the queue fills, fetching stops for a second, the queue drains in a fraction of it and polls
    /// come back empty for the rest (BENCHMARKS.md: the bench pipeline lost 2 of its 7 seconds so). A short wait
    /// costs a timer check per partition, not a request.
    public var fetchQueueBackoff: Duration
    /// `enable.partition.eof`: report reaching the end of a partition.
    public var reportPartitionEOF: Bool
    /// Any librdkafka property, applied last and so overriding the typed settings.
    public var properties: [String: String]

    public init(
        client: KafkaClientOptions,
        groupID: String,
        groupInstanceID: String? = nil,
        offsetReset: OffsetReset = .earliest,
        isolationLevel: IsolationLevel = .readCommitted,
        assignmentStrategy: AssignmentStrategy = .cooperativeSticky,
        commitMode: CommitMode = .manual,
        sessionTimeout: Duration = .seconds(6),
        heartbeatInterval: Duration = .seconds(1),
        maxPollInterval: Duration = .seconds(30),
        fetchMaxWait: Duration = .milliseconds(100),
        queuedMinMessages: Int = 100_000,
        fetchQueueBackoff: Duration = .milliseconds(10),
        reportPartitionEOF: Bool = false,
        properties: [String: String] = [:]
    ) {
        self.client = client
        self.groupID = groupID
        self.groupInstanceID = groupInstanceID
        self.offsetReset = offsetReset
        self.isolationLevel = isolationLevel
        self.assignmentStrategy = assignmentStrategy
        self.commitMode = commitMode
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.maxPollInterval = maxPollInterval
        self.fetchMaxWait = fetchMaxWait
        self.queuedMinMessages = queuedMinMessages
        self.fetchQueueBackoff = fetchQueueBackoff
        self.reportPartitionEOF = reportPartitionEOF
        self.properties = properties
    }

    /// The configuration flattened to librdkafka properties; `properties` are merged last.
    public func librdkafkaProperties() -> [String: String] {
        var p = client.properties()
        p["group.id"] = groupID
        if let groupInstanceID { p["group.instance.id"] = groupInstanceID }
        p["auto.offset.reset"] = offsetReset.rawValue
        p["isolation.level"] = isolationLevel.rawValue
        p["partition.assignment.strategy"] = assignmentStrategy.rawValue
        p["enable.auto.offset.store"] = "false"
        switch commitMode {
        case .manual:
            p["enable.auto.commit"] = "false"
        case .automatic(let interval):
            p["enable.auto.commit"] = "true"
            p["auto.commit.interval.ms"] = String(interval.wholeMilliseconds)
        }
        p["session.timeout.ms"] = String(sessionTimeout.wholeMilliseconds)
        p["heartbeat.interval.ms"] = String(heartbeatInterval.wholeMilliseconds)
        p["max.poll.interval.ms"] = String(maxPollInterval.wholeMilliseconds)
        p["fetch.wait.max.ms"] = String(fetchMaxWait.wholeMilliseconds)
        p["queued.min.messages"] = String(queuedMinMessages)
        p["fetch.queue.backoff.ms"] = String(fetchQueueBackoff.wholeMilliseconds)
        p["enable.partition.eof"] = reportPartitionEOF ? "true" : "false"
        p.merge(properties) { _, passthrough in passthrough }
        return p
    }
}
