import Foundation
import Logging
import VigilCore
import VigilKafka

/// The consumer thread's side of `pipeline.repartition`: sends each event to its secondary entities' repartition
/// topics, reads the replies addressed to this instance, and holds the events (`SecondaryJoin`) until every
/// entity has answered.
///
/// Replies come back on the partitions of the replies topic numbered like this instance's input partitions
/// (modulo their count); the instance reads those outside any group, from the end as it was when it started
/// listening, so it sees every reply to what it sent since. Tickets are matched with a per-process instance id,
/// so another instance's replies on a shared partition, and replies to a previous owner's requests, are ignored.
struct SecondaryRequester {
    /// How long an event waits for a reply before its requests are sent again (`pipeline.repartition_resend_after`).
    let resendAfterNs: UInt64

    let instance = UInt64.random(in: 1...UInt64.max)
    let entities: [Int]
    private let requestTopics: [KafkaProducerTopic?]
    let replyPartitionCount: Int32
    private let repliesTopic: String
    private let replies: KafkaConsumer
    /// Replies-topic partitions read, with the offset reading started at.
    private var listening: [Int32: Int64] = [:]
    var join: SecondaryJoin
    private var buffer: [UInt8] = []
    private var lastOverdueCheckNs: UInt64 = 0

    init(config: VigilConfiguration, topics: RepartitionTopics, replyPartitionCount: Int32, producer: KafkaProducer, options: KafkaClientOptions, logger: Logger) throws {
        entities = topics.entities
        resendAfterNs = UInt64(config.pipeline.repartitionResendAfterMs) * 1_000_000
        var requestTopics = [KafkaProducerTopic?](repeating: nil, count: config.schema.entities.count)
        for entity in entities { requestTopics[entity] = try producer.topic(topics.requests[entity]!) }
        self.requestTopics = requestTopics
        self.replyPartitionCount = replyPartitionCount
        repliesTopic = topics.replies
        replies = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: options, groupID: "\(config.kafka.groupID)-replies-reader", offsetReset: .latest,
                isolationLevel: .readUncommitted, fetchMaxWait: .milliseconds(20), properties: config.kafka.properties),
            logger: logger
        )
        join = SecondaryJoin(capacity: max(4096, config.pipeline.pollBatch * 4))
        buffer.reserveCapacity(1024)
    }

    /// The replies partition for an input partition number.
    func replyPartition(for inputPartition: Int32) -> Int32 { inputPartition % replyPartitionCount }

    /// Starts reading the replies partitions of these input partitions (from their current end); partitions
    /// already read keep their position.
    mutating func listen(toInputPartitions inputs: [Int32]) throws {
        let wanted = Set(inputs.map(replyPartition(for:))).subtracting(listening.keys)
        guard !wanted.isEmpty else { return }
        for partition in wanted {
            listening[partition] = try replies.watermarks(KafkaTopicPartition(topic: repliesTopic, partition: partition)).high
        }
        let current = try replies.position(listening.keys.map { KafkaTopicPartition(topic: repliesTopic, partition: $0) })
        var offsets: [KafkaTopicPartitionOffset] = []
        for (partition, start) in listening {
            let position = current.first { $0.topicPartition.partition == partition }?.offset ?? -1
            offsets.append(KafkaTopicPartitionOffset(KafkaTopicPartition(topic: repliesTopic, partition: partition), offset: max(position, start)))
        }
        try replies.assign(offsets)
    }

    /// Queues `item` and sends its requests (none for an event without the entities' keys). An event read again
    /// (after a restore, or by a partition's next owner) is sent again too: the secondary stage recognises it by
    /// its source and offset, answers from its state as it is, and does not count it twice.
    mutating func enqueue(_ item: WorkItem, source: EventSource, producer: KafkaProducer, counters: DaemonCounters, logger: Logger) {
        var awaiting: UInt8 = 0
        for entity in entities where item.event.entities[entity].isPresent { awaiting |= 1 << UInt8(entity) }
        let now = DispatchTime.now().uptimeNanoseconds
        let ticket = join.append(item, awaiting: awaiting, nowNs: now)
        send(item.event, ticket: ticket, awaiting: awaiting, source: source, producer: producer, counters: counters, logger: logger)
    }

    private mutating func send(_ event: Event, ticket: UInt64, awaiting: UInt8, source: EventSource, producer: KafkaProducer, counters: DaemonCounters, logger: Logger) {
        for entity in entities where awaiting & (1 << UInt8(entity)) != 0 {
            let header = SecondaryRequest.Header(
                instance: instance, ticket: ticket, replyPartition: replyPartition(for: source.partition), entity: entity, source: source)
            SecondaryRequest.encode(event, header, into: &buffer)
            do {
                try event.entities[entity].withBytes { key in
                    try buffer.withUnsafeBytes { value in
                        try producer.produce(
                            to: requestTopics[entity]!, key: key, value: value,
                            context: OutputContext.make(partition: OutputContext.requestPartition, offset: 0), blockWhenFull: true)
                    }
                }
                counters.secondaryRequests.add(1, ordering: .relaxed)
            } catch {
                // The event stays waiting; the overdue check sends it again.
                logger.error("sending a repartition request failed: \(error)")
            }
        }
    }

    /// Reads the replies that have arrived (waiting up to `timeout` for the first) into the join queue.
    mutating func receive(timeout: Duration, counters: DaemonCounters, logger: Logger) {
        guard !listening.isEmpty else { return }
        do {
            // Each reply is read where librdkafka holds it.
            _ = try replies.poll(maxMessages: 10_000, timeout: timeout) { message in
                guard let value = message.value else { return }
                let joined: Bool
                do {
                    let reply = try SecondaryReply.decode(value)
                    joined = reply.instance == instance && reply.entity < 8 && join.fill(ticket: reply.ticket, entity: reply.entity, reply.values)
                } catch {
                    logger.error("unreadable secondary-feature reply skipped", metadata: ["source": "\(message.topicPartition)@\(message.offset)", "error": "\(error)"])
                    return
                }
                if joined { counters.secondaryReplies.add(1, ordering: .relaxed) } else { counters.secondaryStaleReplies.add(1, ordering: .relaxed) }
            }
        } catch {
            logger.error("reading secondary-feature replies: \(error)")
        }
    }

    /// Sends again the requests of events that waited longer than `resendAfterNs` (checked once a second).
    mutating func resendOverdue(source: (Int) -> EventSource, producer: KafkaProducer, counters: DaemonCounters, logger: Logger) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now &- lastOverdueCheckNs >= 1_000_000_000, now > resendAfterNs else { return }
        lastOverdueCheckNs = now
        var overdue: [(UInt64, WorkItem, UInt8)] = []
        join.overdue(beforeNs: now - resendAfterNs, nowNs: now) { overdue.append(($0, $1, $2)) }
        guard !overdue.isEmpty else { return }
        logger.warning("\(overdue.count) events waited over \(resendAfterNs / 1_000_000) ms for secondary features; sending their requests again")
        for (ticket, item, awaiting) in overdue {
            send(item.event, ticket: ticket, awaiting: awaiting, source: source(Int(item.event.partition)), producer: producer, counters: counters, logger: logger)
            counters.secondaryResent.add(1, ordering: .relaxed)
        }
    }

    func close() {
        do { try replies.close() } catch {}
    }
}
