import Foundation
import Logging
import VigilKafka

/// The internal topics of `pipeline.repartition`, named after the consumer group as Kafka Streams names its own:
///
/// - `<group>-repartition-<entity>`: one per secondary entity with features, keyed by that entity's key, so all
///   of a merchant's events land in one partition and one group member computes its features, in that order.
/// - `<group>-secondary-features`: the computed values going back to the instance that asked; an instance reads
///   the partitions numbered like its input partitions (modulo the count), outside any group.
///
/// The secondary stage reads the repartition topics in the group `<group>-secondary`, so the input topics'
/// group and its committed offsets stay the user's.
public struct RepartitionTopics: Sendable, Equatable {
    /// Request topic by secondary entity index (only entities with features).
    public var requests: [Int: String]
    public var replies: String
    public var stageGroup: String

    public init(config: VigilConfiguration) {
        let group = config.kafka.groupID
        var requests: [Int: String] = [:]
        for feature in config.features where feature.entity != 0 {
            requests[feature.entity] = "\(group)-repartition-\(config.schema.entities[feature.entity].name)"
        }
        self.requests = requests
        replies = "\(group)-secondary-features"
        stageGroup = "\(group)-secondary"
    }

    /// Secondary entities that have features, ascending.
    public var entities: [Int] { requests.keys.sorted() }

    /// Creates the internal topics when missing, with as many partitions as the widest input topic (so each
    /// instance's share of the secondary work follows its share of the input), and returns the replies topic's
    /// partition count.
    @discardableResult
    func ensure(inputTopics: [String], options: KafkaClientOptions, properties: [String: String], logger: Logger) throws -> Int32 {
        let admin = try KafkaAdmin(client: options, properties: properties, logger: logger)
        let existing = Dictionary(try admin.listTopics().map { ($0.name, $0.partitions.count) }, uniquingKeysWith: { a, _ in a })
        let widest = inputTopics.compactMap { existing[$0] }.max() ?? 1
        let wanted = entities.map { requests[$0]! } + [replies]
        let missing = wanted.filter { existing[$0] == nil }
        if !missing.isEmpty {
            try admin.createTopics(missing.map { KafkaTopicSpecification(name: $0, partitions: Int32(widest)) }, ignoreExisting: true)
            logger.info("created the repartition topics \(missing.joined(separator: ", ")) with \(widest) partitions")
        }
        for _ in 0..<50 {
            if let count = try admin.listTopics().first(where: { $0.name == replies })?.partitions.count, count > 0 { return Int32(count) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw KafkaError(code: .timedOut, name: "timed out", message: "the replies topic \(replies) has no partitions")
    }
}
