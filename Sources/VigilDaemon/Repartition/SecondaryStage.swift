import Foundation
import Logging
import Synchronization
import VigilCore
import VigilFeatures
import VigilKafka

/// The secondary stage of `pipeline.repartition`: reads the repartition topics in the group `<group>-secondary`,
/// computes each secondary entity's features for its partitions' events in their order, and sends the values
/// back to the instance that asked (`SecondaryReply` on the partition the request names).
///
/// Each assigned partition has its own state (`SecondaryPartitionState`: the feature engine and the highest input
/// offset counted per input partition, so an event sent again is answered without being counted twice), and it
/// moves with the partition: on revoke it is written to the changelog (when checkpoints are on) and the next
/// owner restores it and reads on from where it was cut. Offsets are committed once the replies of everything
/// before them are acknowledged.
///
/// `@unchecked Sendable`: every mutable property is touched only by the stage's thread — `run()` and the
/// rebalance hooks librdkafka calls from inside `poll` on that thread. `stopRequested` is atomic.
final class SecondaryStage: @unchecked Sendable {
    private let config: VigilConfiguration
    private let topics: RepartitionTopics
    private let logger: Logger
    private let counters: DaemonCounters
    /// Where the stage publishes the secondary entities' keys and bytes (owner 0: with repartitioning the router
    /// holds none).
    private let stateGauges: EntityStateGauges?
    private var polls = 0
    private let options: KafkaClientOptions
    private let producer: KafkaProducer
    private let repliesTopic: KafkaProducerTopic
    private let changelog: KafkaProducerTopic?
    private let deliveries: SPSCRing<DeliveredOutput>.Consumer
    /// Closed once `run` stops draining `deliveries` (before the producer's last reports).
    private let deliveryGate: DeliveryGate
    private var consumer: KafkaConsumer!
    /// Entity index by request topic name.
    private let entityOfTopic: [String: Int]
    /// Feature positions each secondary entity computes.
    private let positions: [Int: [Int]]

    private var partitions: [KafkaTopicPartition] = []
    private var partitionIndex: [KafkaTopicPartition: Int] = [:]
    /// The last request's topic handle and partition, with their index and entity (see `place(of:)`).
    private var lastPlace: (topic: KafkaTopicID?, partition: Int32, index: Int, entity: Int?) = (nil, -1, -1, nil)
    /// State by partition index, for assigned partitions only.
    private var states: [Int: SecondaryPartitionState] = [:]
    private var tracker = OffsetTracker()
    private var vector = FeatureVector.undefined
    private var event = Event()
    private var buffer: [UInt8] = []
    private var lastCommit = ContinuousClock.now
    private var lastCheckpoint = ContinuousClock.now
    /// Next offset covered by each partition's last written snapshot.
    private var written: [Int: Int64] = [:]
    private var chunkCounts: [String: Int] = [:]
    private var unacknowledgedChunks = 0
    private var nextCheckpointID = UInt64(Date().timeIntervalSince1970 * 1000) << 12
    let stopRequested = Atomic<Bool>(false)
    /// Partitions of the repartition topics assigned now (readiness, tests).
    let assignedPartitions = Atomic<Int>(0)

    init(
        config: VigilConfiguration, topics: RepartitionTopics, logger: Logger, counters: DaemonCounters, options: KafkaClientOptions,
        stateGauges: EntityStateGauges? = nil
    ) throws {
        self.config = config
        self.stateGauges = stateGauges
        self.topics = topics
        self.logger = logger
        self.counters = counters
        self.options = options
        entityOfTopic = Dictionary(uniqueKeysWithValues: topics.requests.map { ($0.value, $0.key) })
        var positions: [Int: [Int]] = [:]
        for (position, feature) in config.features.enumerated() where feature.entity != 0 { positions[feature.entity, default: []].append(position) }
        self.positions = positions
        let (deliveryProducer, deliveryConsumer) = SPSCRing<DeliveredOutput>.makeRing(capacity: 1 << 16)
        deliveries = deliveryConsumer
        let gate = DeliveryGate()
        deliveryGate = gate
        let deliveryLogger = logger
        // Linger 5 ms and fetch waits of 20 ms (here and for the replies): on the dev broker, waits of 1-10 ms made
        // it spend over a core answering fetches and took the p50 latency at 10 k events/s from 65 ms to 80-170 ms
        // (BENCHMARKS.md, "Scaling out").
        producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: options, linger: .milliseconds(5), properties: config.kafka.properties),
            onDelivery: forwardingDeliveries(to: deliveryProducer, gate: gate, counters: counters, logger: logger),
            onError: { error in
                counters.kafkaErrors.add(1, ordering: .relaxed)
                deliveryLogger.warning("kafka producer error (secondary stage)", metadata: ["error": "\(error)"])
            },
            logger: logger
        )
        repliesTopic = try producer.topic(topics.replies)
        changelog = config.checkpoints.intervalMs != nil ? try producer.topic(config.checkpoints.topic) : nil
        buffer.reserveCapacity(1024)
    }

    /// Joins the stage's group.
    func connect() throws {
        let handler = KafkaRebalanceHandler(
            partitionsAssigned: { [weak self] partitions in self?.assign(&partitions) },
            partitionsRevoked: { [weak self] partitions, lost in self?.revoke(partitions, lost: lost) }
        )
        let logger = self.logger
        consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: options, groupID: topics.stageGroup, isolationLevel: .readUncommitted, assignmentStrategy: .cooperativeSticky,
                fetchMaxWait: .milliseconds(20), properties: config.kafka.properties),
            rebalance: handler,
            onError: { [counters] error in
                counters.kafkaErrors.add(1, ordering: .relaxed)
                logger.warning("kafka consumer error (secondary stage)", metadata: ["error": "\(error)"])
            },
            logger: logger
        )
        try consumer.subscribe(topics.entities.map { topics.requests[$0]! })
    }

    /// Runs until a stop is requested, then checkpoints, commits and leaves the group.
    func run() {
        while !stopRequested.load(ordering: .acquiring) {
            drainDeliveries()
            do {
                // Each request is handled where librdkafka holds it.
                let polled = try consumer.poll(maxMessages: config.pipeline.pollBatch, timeout: .milliseconds(tracker.inFlight > 0 ? 1 : 20)) {
                    handle($0)
                }
                for error in polled.errors {
                    counters.kafkaErrors.add(1, ordering: .relaxed)
                    logger.warning("kafka (secondary stage): \(error.name): \(error.message)")
                }
                polls &+= 1
                if polls & 15 == 0 { publishUsage() }
            } catch {
                logger.critical("fatal consumer error in the secondary stage: \(error)")
                break
            }
            commitIfDue(force: false)
            if let interval = config.checkpoints.intervalMs, ContinuousClock.now - lastCheckpoint >= .milliseconds(interval) {
                lastCheckpoint = .now
                checkpoint(Array(states.keys))
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while tracker.inFlight > 0, clock.now < deadline {
            drainDeliveries()
            Thread.sleep(forTimeInterval: 0.001)
        }
        checkpoint(Array(states.keys))
        commitIfDue(force: true, synchronous: true)
        do { try consumer.close() } catch { logger.warning("closing the secondary stage's consumer: \(error)") }
        deliveryGate.open.store(false, ordering: .releasing)
        do { try producer.close(timeout: .seconds(5)) } catch { logger.warning("closing the secondary stage's producer: \(error)") }
    }

    /// Keys and bytes over every assigned partition's engine, per secondary entity.
    private func publishUsage() {
        stateGauges?.publish(owner: 0) { entity in
            // An entity this stage computes reads 0 while it owns no partition of it (not the last figure published).
            EntityStateUsage.total(states.values.lazy.map { $0.engine.usage(entity: entity) })
                ?? (positions[entity] != nil ? EntityStateUsage(keys: 0, bytes: 0, evicted: 0, expired: 0) : nil)
        }
    }

    private func index(of partition: KafkaTopicPartition) -> Int {
        if let known = partitionIndex[partition] { return known }
        partitions.append(partition)
        partitionIndex[partition] = partitions.count - 1
        return partitions.count - 1
    }

    /// A request's partition index and the entity its topic carries: the last request's when it is of the same
    /// topic handle and partition (a poll returns each partition's messages in runs), otherwise looked up by name.
    private func place(of message: KafkaMessageView) -> (index: Int, entity: Int?) {
        if message.partition == lastPlace.partition, message.topicID == lastPlace.topic { return (lastPlace.index, lastPlace.entity) }
        let index = index(of: message.topicPartition)
        let entity = entityOfTopic[message.topic]
        lastPlace = (message.topicID, message.partition, index, entity)
        return (index, entity)
    }

    private func handle(_ message: KafkaMessageView) {
        let (index, entity) = place(of: message)
        guard tracker.register(partition: index, offset: message.offset), states[index] != nil else { return }
        let header: SecondaryRequest.Header
        do {
            guard let value = message.value else { throw StateError("a request without a value") }
            event = Event()
            header = try SecondaryRequest.decode(value, into: &event)
            guard header.entity == entity, let positions = positions[header.entity] else {
                throw StateError("a request for entity \(header.entity) on \(message.topic)")
            }
            if !states[index]!.count(header.source, offset: event.offset) {
                // Sent again: answered from the state as it is (which holds the event already), not added twice.
                event.watermarkMs = .max
                counters.secondaryDuplicates.add(1, ordering: .relaxed)
            }
            vector = .undefined
            vector.withUnsafeMutableBufferPointer { states[index]!.engine.process(event, into: $0) }
            vector.withUnsafeBufferPointer { SecondaryReply.encode(header, positions: positions, vector: $0, into: &buffer) }
        } catch {
            // Only another build's records can be unreadable here; the asker resends after its timeout.
            logger.error("unreadable repartition request skipped", metadata: ["source": "\(message.topicPartition)@\(message.offset)", "error": "\(error)"])
            tracker.complete(partition: index, offset: message.offset)
            return
        }
        counters.secondaryComputed.add(1, ordering: .relaxed)
        do {
            try buffer.withUnsafeBytes { value in
                try producer.produce(
                    to: repliesTopic, partition: header.replyPartition, key: nil, value: value,
                    context: OutputContext.make(partition: Int32(index), offset: message.offset), blockWhenFull: true)
            }
            tracker.expect(partition: index, offset: message.offset, outputs: 1)
        } catch {
            // Left in flight (never committed past); the asker resends after its timeout.
            logger.error("sending secondary features for \(message.topicPartition)@\(message.offset) failed: \(error)")
        }
    }

    private func drainDeliveries() {
        deliveries.drain { done in
            if done.partition == OutputContext.checkpointPartition {
                unacknowledgedChunks = max(0, unacknowledgedChunks - 1)
            } else {
                tracker.delivered(partition: Int(done.partition), offset: done.offset)
            }
        }
    }

    private func commitIfDue(force: Bool, synchronous: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - lastCommit >= .milliseconds(config.pipeline.commitIntervalMs) else { return }
        lastCommit = now
        drainDeliveries()
        let moved = tracker.takeCommittable()
        guard !moved.isEmpty else { return }
        let offsets = moved.map { KafkaTopicPartitionOffset(partitions[$0.partition], offset: $0.offset) }
        do {
            try consumer.store(offsets)
            try consumer.commit(async: !synchronous)
        } catch {
            logger.warning("committing \(offsets) (secondary stage): \(error)")
        }
    }

    // MARK: State moving with partitions

    private func snapshotKey(_ partition: KafkaTopicPartition) -> String {
        "\(config.kafka.groupID)/secondary/\(partition.topic)/\(partition.partition)"
    }

    /// Writes the state of these partitions to the changelog once the replies of every event in it are
    /// acknowledged (a restore never skips an unanswered request), and waits (bounded) for the writes.
    private func checkpoint(_ indices: [Int]) {
        guard let changelog else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(6)
        let id = nextCheckpointID
        nextCheckpointID += 1
        let context = OutputContext.make(partition: OutputContext.checkpointPartition, offset: Int64(id & 0x0000_FFFF_FFFF_FFFF))
        var written = 0
        for index in indices.sorted() {
            guard let state = states[index], let last = tracker.lastRegistered(partition: index), self.written[index] != last + 1 else { continue }
            while (tracker.committable(partition: index) ?? .min) < last + 1, clock.now < deadline {
                drainDeliveries()
                Thread.sleep(forTimeInterval: 0.0005)
            }
            guard (tracker.committable(partition: index) ?? .min) >= last + 1 else {
                logger.error("secondary state of \(partitions[index]) not checkpointed: replies not acknowledged in time")
                counters.checkpointFailures.add(1, ordering: .relaxed)
                continue
            }
            let partition = partitions[index]
            let cut = PartitionCut(
                topic: partition.topic, partition: partition.partition, nextOffset: last + 1, watermarkMs: .min, checkpoint: id,
                createdAtMs: Int64(Date().timeIntervalSince1970 * 1000))
            let snapshot = PartitionSnapshot(cut, scorer: state.encoded())
            let key = snapshotKey(partition)
            do {
                let chunks = try SnapshotChunks.forEachChunk(of: snapshot.encoded(), base: key, checkpoint: id) { chunkKey, value in
                    try Array(chunkKey.utf8).withUnsafeBytes { k in
                        try producer.produce(to: changelog, key: k, value: value, context: context, blockWhenFull: true)
                    }
                    unacknowledgedChunks += 1
                }
                for stale in chunks..<max(chunks, chunkCounts[key] ?? 0) {
                    try Array("\(key)#\(stale)".utf8).withUnsafeBytes { k in
                        try producer.produce(to: changelog, key: k, value: nil, context: context, blockWhenFull: true)
                    }
                    unacknowledgedChunks += 1
                }
                chunkCounts[key] = chunks
                self.written[index] = last + 1
                written += 1
            } catch {
                counters.checkpointFailures.add(1, ordering: .relaxed)
                logger.error("writing the secondary state of \(partition) failed", metadata: ["error": "\(error)"])
            }
        }
        while unacknowledgedChunks > 0, clock.now < deadline {
            drainDeliveries()
            Thread.sleep(forTimeInterval: 0.0005)
        }
        if unacknowledgedChunks > 0 {
            logger.error("secondary-state checkpoint \(id) not acknowledged in time")
            counters.checkpointFailures.add(1, ordering: .relaxed)
        } else if written > 0 {
            logger.info("secondary state checkpointed", metadata: ["id": "\(id)", "partitions": "\(written)"])
        }
    }

    private func assign(_ list: inout [KafkaTopicPartitionOffset]) {
        var snapshots: SnapshotAssembler?
        if changelog != nil {
            do {
                snapshots = try ChangelogReader.read(options: options, topic: config.checkpoints.topic, properties: config.kafka.properties, logger: logger)
            } catch {
                logger.error("reading the changelog for the secondary stage failed; its partitions start cold", metadata: ["error": "\(error)"])
            }
        }
        // Where a snapshot is ahead of the group's commit (a crash came between the two), the restore point is
        // committed: its snapshot was written only once every reply up to it was acknowledged.
        var committed: [KafkaTopicPartition: Int64] = [:]
        if snapshots != nil {
            do {
                for entry in try consumer.committed(list.map(\.topicPartition)) { committed[entry.topicPartition] = entry.offset }
            } catch {
                logger.warning("reading the secondary stage's committed offsets failed; restored offsets are committed with the next reply", metadata: ["error": "\(error)"])
            }
        }
        for i in list.indices {
            let index = index(of: list[i].topicPartition)
            guard let entity = entityOfTopic[list[i].topic] else { continue }
            tracker.assign(index)
            let fresh = FeatureEngine(specs: config.features, tables: config.tables, ownedEntities: [entity])
            var state = SecondaryPartitionState(engine: fresh)
            written[index] = nil
            do {
                if let stored = try snapshots?.snapshot(snapshotKey(list[i].topicPartition)) {
                    let decoded = try PartitionSnapshot(decoding: stored.payload)
                    let snapshot = decoded.cut
                    state = try SecondaryPartitionState(decoding: decoded.scorer, engine: fresh)
                    list[i] = KafkaTopicPartitionOffset(list[i].topicPartition, offset: snapshot.nextOffset)
                    written[index] = snapshot.nextOffset
                    if let done = committed[list[i].topicPartition], done < snapshot.nextOffset { tracker.resume(partition: index, at: snapshot.nextOffset) }
                    counters.partitionsRestored.add(1, ordering: .relaxed)
                    logger.info("restored secondary state of \(list[i].topicPartition) from checkpoint \(snapshot.checkpoint); reading from \(snapshot.nextOffset)")
                }
            } catch {
                state = SecondaryPartitionState(engine: fresh)
                counters.snapshotErrors.add(1, ordering: .relaxed)
                logger.error("the secondary snapshot of \(list[i].topicPartition) is unusable; it starts cold", metadata: ["error": "\(error)"])
            }
            states[index] = state
        }
        assignedPartitions.store(states.count, ordering: .relaxed)
        logger.info("secondary stage assigned \(list.map(\.topicPartition.description).joined(separator: ", "))")
    }

    private func revoke(_ list: [KafkaTopicPartition], lost: Bool) {
        let indices = list.compactMap { partitionIndex[$0] }
        if !lost {
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while indices.contains(where: { tracker.inFlight(partition: $0) > 0 }), clock.now < deadline {
                drainDeliveries()
                Thread.sleep(forTimeInterval: 0.001)
            }
            checkpoint(indices)
            let offsets = indices.compactMap { index in
                tracker.committable(partition: index).map { KafkaTopicPartitionOffset(partitions[index], offset: $0) }
            }
            if !offsets.isEmpty {
                do { try consumer.commit(offsets, async: false) } catch { logger.warning("committing revoked secondary partitions: \(error)") }
            }
        }
        for index in indices {
            tracker.revoke(index)
            states[index] = nil
            written[index] = nil
        }
        assignedPartitions.store(states.count, ordering: .relaxed)
        publishUsage()
        logger.info("secondary stage \(lost ? "lost" : "revoked") \(list.map(\.description).joined(separator: ", "))")
    }
}
