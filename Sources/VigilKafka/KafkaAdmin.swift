public import Logging

/// Topic administration: create, delete, describe and list topics.
///
/// Each call blocks until the cluster answers or the timeout passes: call it from a dedicated thread.
public final class KafkaAdmin: Sendable {
    let client: RDKafkaClient
    private let pollThread: KafkaPollThread

    /// Creates an admin client; `properties` are extra librdkafka properties applied last.
    public init(client options: KafkaClientOptions, properties: [String: String] = [:], logger: Logger) throws(KafkaError) {
        var all = options.properties()
        all.merge(properties) { _, passthrough in passthrough }
        let client = try RDKafkaClient(kind: .producer, properties: all, callbacks: RDKafkaCallbacks(logger: logger))
        self.client = client
        self.pollThread = KafkaPollThread(name: "vigil.admin") { client.poll(timeoutMs: 100) }
    }

    deinit {
        pollThread.stop()
    }

    /// Creates topics.
    ///
    /// - Parameter ignoreExisting: treat `TOPIC_ALREADY_EXISTS` as success.
    /// - Throws: the first per-topic error.
    public func createTopics(
        _ topics: [KafkaTopicSpecification],
        ignoreExisting: Bool = true,
        timeout: Duration = .seconds(30)
    ) throws(KafkaError) {
        let outcome = try client.createTopics(topics, timeoutMs: timeout.timeoutMilliseconds)
        for topic in topics {
            guard let result = outcome[topic.name] else {
                throw KafkaError(librdkafkaCode: KafkaError.Code.fail.rawValue, message: "no result for topic \(topic.name)")
            }
            if let error = result, !(ignoreExisting && error.code == .topicAlreadyExists) {
                throw error
            }
        }
    }

    /// Deletes topics.
    public func deleteTopics(_ names: [String], timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.deleteTopics(names, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// A topic's configuration entries, such as `cleanup.policy`.
    public func topicConfiguration(_ name: String, timeout: Duration = .seconds(30)) throws(KafkaError) -> [String: String] {
        try client.describeTopicConfig(name, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Every topic with its partitions, sorted by name.
    public func listTopics(timeout: Duration = .seconds(10)) throws(KafkaError) -> [KafkaTopicMetadata] {
        try client.topicMetadata(timeoutMs: timeout.timeoutMilliseconds)
    }
}
