import Foundation
import Logging
import Synchronization
import VigilCore
import VigilKafka

/// The consumer thread: reads batches, decodes and validates, dead-letters refusals, routes events to the
/// workers, applies back-pressure, tracks offsets and commits.
///
/// `@unchecked Sendable`: every mutable property is touched only by the consumer thread — `run()` and the
/// rebalance hooks, which librdkafka calls from inside `poll` on that same thread. `stopRequested` is the
/// one field other threads write, and it is atomic.
///
/// The properties read for every message are `@exclusivity(unchecked)`: a class's properties are otherwise checked
/// at run time on each access (12 runtime calls per message), and on this one thread no two accesses overlap.
final class ConsumerLoop: @unchecked Sendable {
    let config: VigilConfiguration
    let logger: Logger
    let counters: DaemonCounters
    let pool: WorkerPool
    let producer: KafkaProducer
    private let deadLetterTopic: KafkaProducerTopic
    private let decoder: EventDecoder
    @exclusivity(unchecked) var router: Router
    private let deliveries: SPSCRing<DeliveredOutput>.Consumer
    private let expectations: SPSCRing<ExpectedOutputs>.Consumer
    private(set) var consumer: KafkaConsumer!

    @exclusivity(unchecked) var tracker = OffsetTracker()
    @exclusivity(unchecked) private var partitionIndex: [KafkaTopicPartition: Int] = [:]
    var partitions: [KafkaTopicPartition] = []
    /// Each partition index's name as every instance names it (for the repartition hop).
    var sources: [EventSource] = []
    @exclusivity(unchecked) var watermarks: [Int64] = []
    var assigned: Set<Int> = []
    /// Routed-to-be items that did not fit in their worker's ring, in input order.
    @exclusivity(unchecked) var pending: [WorkItem] = []
    @exclusivity(unchecked) var pendingStart = 0
    /// The input's back-pressure pause, kept in step with librdkafka's per-partition flags.
    private var pause = InputPauseState()
    /// Partitions assigned since the last poll returned: their pause flags are set once the client has taken them.
    private var pauseCheckDue: [KafkaTopicPartition] = []
    private var paused: Bool { pause.isPaused }
    /// Whether the current backlog (events read but not yet taken by the workers) still moves.
    private var stallWatch = BacklogStallWatch(limit: .milliseconds(500))
    /// Items that have left the backlog so far — for the workers, or out of the secondary join — the stall
    /// watch's measure of progress.
    var handedOn = 0
    private var lastCommit = ContinuousClock.now
    @exclusivity(unchecked) private var lastTopic = ""
    @exclusivity(unchecked) private var lastTopicPartition: Int32 = -1
    @exclusivity(unchecked) private var lastIndex = -1
    @exclusivity(unchecked) private var lastViewTopic: KafkaTopicID?
    @exclusivity(unchecked) private var lastViewPartition: Int32 = -1
    @exclusivity(unchecked) private var lastViewIndex = -1
    /// Read-to-delivery latency of every input event.
    @exclusivity(unchecked) private var latency: LatencyRecorder
    /// Where the router publishes the secondary entities' keys and bytes (owner 0).
    private let stateGauges: EntityStateGauges?
    private let statistics: KafkaStatisticsGauges?
    private var polls = 0
    /// Wall-clock time the current poll batch was read (microseconds since the epoch), for input delays.
    @exclusivity(unchecked) private var batchReadAtWallMicroseconds: Int64 = 0
    /// When the current poll batch was read (`DispatchTime` nanoseconds): every message of the batch counts as read
    /// then, which is when the poll handed it over (a clock read per message was 3 % of this thread's time, and it
    /// left out the time a message waited in its batch while those before it were handled).
    @exclusivity(unchecked) private var batchReadAtNs: UInt64 = 0
    /// Per partition index: offsets below this were processed and their outputs delivered before a restore, so
    /// they are read again only to rebuild state.
    @exclusivity(unchecked) var replayUntil: [Int64] = []
    /// `delivery: exactly_once`: outputs, snapshots and offsets go in transactions.
    let exactlyOnce: Bool
    /// The consumer thread's transaction is open (exactly_once).
    var transactionOpen = false
    /// The client settings, for the changelog reader.
    var clientOptions = KafkaClientOptions(bootstrapServers: [])
    /// Checkpoints in progress and what was last written (see ConsumerLoop+Checkpoints).
    var checkpoints: CheckpointState
    let stopRequested = Atomic<Bool>(false)
    /// True once the first assignment's partitions have their saved state installed (or none was to be had).
    let stateRestored = Atomic<Bool>(false)
    /// Partitions assigned now (read by readiness checks).
    let assignedPartitions = Atomic<Int>(0)
    /// `pipeline.repartition`: requests, replies and the events waiting for them.
    @exclusivity(unchecked) var secondary: SecondaryRequester?

    init(
        config: VigilConfiguration,
        model: ScoringModel,
        logger: Logger,
        counters: DaemonCounters,
        pool: WorkerPool,
        producer: KafkaProducer,
        deliveries: SPSCRing<DeliveredOutput>.Consumer,
        expectations: SPSCRing<ExpectedOutputs>.Consumer,
        latency: LatencyRecorder,
        stateGauges: EntityStateGauges? = nil,
        statistics: KafkaStatisticsGauges? = nil,
        initialSnapshots: SnapshotAssembler? = nil,
        secondary: SecondaryRequester? = nil
    ) throws {
        self.secondary = secondary
        self.checkpoints = try CheckpointState(config: config, producer: producer, initialSnapshots: initialSnapshots)
        self.exactlyOnce = config.kafka.delivery == .exactlyOnce
        self.latency = latency
        self.stateGauges = stateGauges
        self.statistics = statistics
        self.config = config
        self.logger = logger
        self.counters = counters
        self.pool = pool
        self.producer = producer
        self.deadLetterTopic = try producer.topic(config.kafka.deadLetterTopic)
        self.decoder = EventDecoder(schema: config.schema)
        self.router = Router(model: model, computesSecondary: secondary == nil)
        self.deliveries = deliveries
        self.expectations = expectations
        pending.reserveCapacity(config.pipeline.pollBatch)
    }

    /// Creates the Kafka consumer with this loop's rebalance hooks and subscribes.
    func connect(options: KafkaClientOptions) throws {
        clientOptions = options
        let configuration = KafkaConsumerConfiguration(
            client: options,
            groupID: config.kafka.groupID,
            isolationLevel: .readCommitted,
            assignmentStrategy: .cooperativeSticky,
            properties: config.kafka.properties
        )
        let handler = KafkaRebalanceHandler(
            partitionsAssigned: { [weak self] partitions in self?.assign(&partitions) },
            partitionsRevoked: { [weak self] partitions, lost in self?.revoke(partitions, lost: lost) }
        )
        let logger = self.logger
        var onStatistics: (@Sendable (String) -> Void)?
        if let statistics { onStatistics = { json in statistics.receive(role: "consumer", json: json) } }
        consumer = try KafkaConsumer(
            configuration: configuration,
            rebalance: handler,
            onCommit: { result in
                if case .failure(let error) = result { logger.warning("offset commit failed", metadata: ["error": "\(error)"]) }
            },
            onStatistics: onStatistics,
            onError: { [counters] error in
                counters.kafkaErrors.add(1, ordering: .relaxed)
                logger.warning("kafka consumer error", metadata: ["error": "\(error)"])
            },
            logger: logger
        )
        try consumer.subscribe(config.kafka.inputTopics)
    }

    // MARK: Main loop

    /// Runs until a stop is requested, then drains everything in flight, commits and leaves the group.
    func run() {
        while !stopRequested.load(ordering: .acquiring) {
            drainCompletions()
            serviceSecondary(waiting: .zero)
            let joinFull = (secondary?.join.free ?? .max) < config.pipeline.pollBatch
            // Each polled message is decoded straight into a slot of its worker's ring while there is one; the
            // rest wait in `pending` as items built and copied three more times (~1.2 kB each), which at a
            // saturated pipeline was nearly every event. So a poll takes no more messages than the fullest ring
            // has room for, and the loop waits for a good share of a poll's room before reading again.
            let wantedRoom = min(config.pipeline.pollBatch, max(1, pool.ringCapacity / 4))
            var room = secondary == nil ? pool.room : .max
            let ringsFull = room < wantedRoom
            let backlog = pendingStart < pending.count || joinFull || ringsFull
            if backlog {
                // The workers are behind: hand them what is read, waiting briefly for room, and read no more
                // meanwhile (librdkafka's bounded prefetch queue holds the next messages). Only a backlog the
                // workers take nothing of pauses the partitions (BacklogStallWatch): a pause drops the prefetched
                // messages and a resume fetches them again, which costs a broker round trip each time.
                if joinFull { serviceSecondary(waiting: .milliseconds(1)) }
                if pendingStart < pending.count {
                    flushPending(wait: true, atMost: .milliseconds(2))
                } else if ringsFull {
                    room = waitForRoom(wantedRoom, atMost: .milliseconds(2))
                }
                if !paused, stallWatch.isStalled(handedOn: handedOn &+ pool.released, now: .now) { setPaused(true) }
            } else {
                stallWatch.backlogCleared()
                if paused, pool.occupancy < 0.5 { setPaused(false) }
            }
            do {
                let stillBehind = pendingStart < pending.count || joinFull || room < wantedRoom
                if !(stillBehind && !paused) {
                    // While outputs are in flight, come back soon to take their deliveries (commits and latency
                    // follow them: finished events are taken between polls, so this wait is the latency's floor;
                    // 1 ms rather than 5 took the p50 at 10 k events/s from 5.4 to 3.3 ms). An idle input can wait
                    // longer. Paused, this only serves callbacks. Each message is handled where librdkafka holds it.
                    var first = true
                    let polled = try consumer.poll(
                        maxMessages: paused ? 1 : min(config.pipeline.pollBatch, room),
                        timeout: paused ? .milliseconds(1) : tracker.inFlight > 0 ? .milliseconds(1) : .milliseconds(50)
                    ) { message in
                        if first {
                            first = false
                            batchReadAtWallMicroseconds = Int64(Date().timeIntervalSince1970 * 1_000_000)
                            batchReadAtNs = DispatchTime.now().uptimeNanoseconds
                        }
                        handle(message)
                    }
                    counters.consumed.add(polled.messages, ordering: .relaxed)
                    for error in polled.errors {
                        counters.kafkaErrors.add(1, ordering: .relaxed)
                        logger.warning("kafka: \(error.name): \(error.message)")
                    }
                }
                if !pauseCheckDue.isEmpty {
                    applyPause(to: pauseCheckDue)
                    pauseCheckDue.removeAll()
                }
                polls &+= 1
                if polls & 15 == 0 { stateGauges?.publish(owner: 0) { router.usage(entity: $0) } }
            } catch {
                logger.critical("fatal consumer error: \(error)")
                break
            }
            commitIfDue(force: false)
            advanceCheckpoints()
            checkpointIfDue()
        }
        shutdown()
    }

    private func shutdown() {
        logger.info("stopping: draining in-flight events")
        if !drainSecondary(partitions: nil, within: .seconds(8)) {
            logger.warning("stopping with events still waiting for secondary features; they will be read again")
        }
        flushPending(wait: true)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(8)
        while tracker.inFlight > 0, clock.now < deadline {
            drainCompletions()
            Thread.sleep(forTimeInterval: 0.001)
        }
        if tracker.inFlight > 0 {
            logger.warning("stopping with \(tracker.inFlight) events still in flight; they will be read again")
        }
        checkpointAndWait(Array(assigned), reason: "shutdown")
        commitIfDue(force: true, synchronous: true)
        do {
            try consumer.close()
        } catch {
            logger.warning("closing the consumer: \(error)")
        }
        secondary?.close()
    }

    // MARK: Messages

    func index(of topic: String, _ partition: Int32) -> Int {
        if partition == lastTopicPartition, topic == lastTopic { return lastIndex }
        let key = KafkaTopicPartition(topic: topic, partition: partition)
        let index: Int
        if let known = partitionIndex[key] {
            index = known
        } else {
            index = partitions.count
            partitions.append(key)
            sources.append(EventSource(topic: FNV1a.hash(topic), partition: partition))
            watermarks.append(.min)
            replayUntil.append(.min)
            partitionIndex[key] = index
        }
        lastTopic = topic
        lastTopicPartition = partition
        lastIndex = index
        return index
    }

    /// The partition index of a message: the last one's when it is of the same topic handle and partition (a poll
    /// returns each partition's messages in runs), otherwise looked up by name. (librdkafka holds a subscribed
    /// topic's handle while its partitions are assigned, so the identity does not pass to another topic meanwhile.)
    private func index(of message: KafkaMessageView) -> Int {
        if message.partition == lastViewPartition, message.topicID == lastViewTopic { return lastViewIndex }
        lastViewIndex = index(of: message.topic, message.partition)
        lastViewTopic = message.topicID
        lastViewPartition = message.partition
        return lastViewIndex
    }

    private func handle(_ message: KafkaMessageView) {
        let index = index(of: message)
        let readAt = batchReadAtNs
        if let timestampMs = message.timestampMs { latency.record(inputDelayMicroseconds: batchReadAtWallMicroseconds &- timestampMs &* 1000) }
        guard tracker.register(partition: index, offset: message.offset, readAtNs: readAt) else {
            logger.debug("message from an unassigned partition or an old offset skipped: \(message.topicPartition)@\(message.offset)")
            return
        }
        let worker = pool.worker(forPartition: Int32(index))
        if secondary == nil, pendingStart == pending.count, let slot = pool.reserve(forWorker: worker) {
            // Decoded and completed where the worker will read it; a refused message leaves the slot unpublished.
            guard decode(message, partition: index, readAt: readAt, into: &slot.pointee.event) else { return }
            router.prepare(slot)
            pool.publishReserved(forWorker: worker)
            return
        }
        var event = Event()
        guard decode(message, partition: index, readAt: readAt, into: &event) else { return }
        if secondary != nil {
            secondary!.enqueue(WorkItem(event: event), source: sources[index], producer: producer, counters: counters, logger: logger)
            return
        }
        // The worker's ring is full, or events wait before this one.
        pending.append(router.prepare(event))
    }

    /// Decodes `message` into `event` (whatever it held: the decoder resets every field but the source fields set
    /// here) and advances its partition's watermark; false when the message was refused (dead-lettered).
    private func decode(_ message: KafkaMessageView, partition index: Int, readAt: UInt64, into event: inout Event) -> Bool {
        event.partition = Int32(index)
        event.offset = message.offset
        event.watermarkMs = watermarks[index]
        event.consumedAtNs = readAt
        event.isReplay = message.offset < replayUntil[index]
        guard let value = message.value else {
            deadLetter(message, partition: index, DecodeError(.emptyMessage, "the message has no value (a tombstone)"))
            return false
        }
        do {
            try decoder.decode(value, into: &event)
        } catch {
            deadLetter(message, partition: index, error)
            return false
        }
        let watermark = event.timeMs &- config.maxLatenessMs
        if watermark > watermarks[index] { watermarks[index] = watermark }
        return true
    }

    /// Routes the events held back while the workers' rings were full; with `wait`, waits for room (at most
    /// `atMost`, when given).
    func flushPending(wait: Bool, atMost: Duration? = nil) {
        var backoff = IdleBackoff(maximumMicroseconds: 200)
        let deadline = atMost.map { ContinuousClock.now + $0 }
        let first = pendingStart
        while pendingStart < pending.count {
            if pool.route(pending[pendingStart]) {
                pendingStart += 1
                continue
            }
            guard wait else { break }
            if let deadline, ContinuousClock.now >= deadline { break }
            drainCompletions()
            backoff.idle()
        }
        handedOn &+= pendingStart - first
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
    }

    /// Waits until the fullest worker ring has `wanted` free slots, or `atMost` has passed, taking deliveries
    /// meanwhile; returns the room there is.
    private func waitForRoom(_ wanted: Int, atMost: Duration) -> Int {
        var backoff = IdleBackoff(maximumMicroseconds: 200)
        let deadline = ContinuousClock.now + atMost
        var room = pool.room
        while room < wanted, ContinuousClock.now < deadline {
            drainCompletions()
            backoff.idle()
            room = pool.room
        }
        return room
    }

    private func setPaused(_ wanted: Bool) {
        pause.want(paused: wanted)
        if wanted { counters.pauses.add(1, ordering: .relaxed) }
        applyPause(to: assigned.map { partitions[$0] })
    }

    /// Pauses or resumes those of `list` whose client flag differs from what the loop wants.
    private func applyPause(to list: [KafkaTopicPartition]) {
        let corrections = pause.corrections(for: list)
        guard !corrections.isEmpty else { return }
        do {
            if !corrections.pause.isEmpty { try consumer.pause(corrections.pause) }
            if !corrections.resume.isEmpty { try consumer.resume(corrections.resume) }
            pause.applied(corrections)
        } catch {
            logger.warning("\(paused ? "pausing" : "resuming") input partitions: \(error)")
        }
    }

    private func deadLetter(_ message: KafkaMessageView, partition index: Int, _ error: DecodeError) {
        if message.offset < replayUntil[index] {
            // Dead-lettered before the restore already.
            tracker.complete(partition: index, offset: message.offset)
            return
        }
        counters.deadLetter(error.kind)
        // One line per refusal; the log handler's rate limit keeps a flood of bad input from flooding the log.
        logger.warning("input message dead-lettered", metadata: [
            "kind": "\(error.kind.rawValue)", "reason": "\(error.message)",
            "source": "\(message.topic)/\(message.partition)@\(message.offset)",
        ])
        var headers = message.headers
        headers.append(KafkaHeader(name: "vigil.error.kind", value: error.kind.rawValue))
        headers.append(KafkaHeader(name: "vigil.error.message", value: error.message))
        headers.append(KafkaHeader(name: "vigil.source.topic", value: message.topic))
        headers.append(KafkaHeader(name: "vigil.source.partition", value: String(message.partition)))
        headers.append(KafkaHeader(name: "vigil.source.offset", value: String(message.offset)))
        let context = OutputContext.make(partition: Int32(index), offset: message.offset)
        do {
            try producer.produce(
                to: deadLetterTopic, key: message.key, value: message.value, headers: headers, context: context, blockWhenFull: true)
            tracker.expect(partition: index, offset: message.offset, outputs: 1)
        } catch {
            // Not delivered and not expected: the offset stays in flight, so it is never committed past.
            logger.error("dead-lettering \(message.topicPartition)@\(message.offset) failed: \(error)")
        }
    }

    // MARK: Offsets

    func drainCompletions() {
        deliveries.drain { done in
            if done.partition == OutputContext.checkpointPartition {
                checkpointChunkDelivered(UInt64(done.offset))
            } else if done.partition == OutputContext.requestPartition {
                // A repartition request: its reply, not its delivery, completes the event.
            } else {
                tracker.delivered(partition: Int(done.partition), offset: done.offset)
            }
        }
        expectations.drain { tracker.expect(partition: Int($0.partition), offset: $0.offset, outputs: Int($0.outputs)) }
        let now = DispatchTime.now().uptimeNanoseconds
        tracker.drainFinishedReadTimes { latency.record(readAtNs: $0, nowNs: now, hadOutputs: $1) }
        latency.publishIfDue(nowNs: now)
    }

    private func commitIfDue(force: Bool, synchronous: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - lastCommit >= .milliseconds(config.pipeline.commitIntervalMs) else { return }
        lastCommit = now
        if exactlyOnce {
            commitTransaction()
            return
        }
        drainCompletions()
        let moved = tracker.takeCommittable()
        guard !moved.isEmpty else { return }
        let offsets = moved.map { KafkaTopicPartitionOffset(partitions[$0.partition], offset: $0.offset) }
        do {
            try consumer.store(offsets)
            try consumer.commit(async: !synchronous)
            counters.commits.add(1, ordering: .relaxed)
        } catch {
            logger.warning("committing \(offsets): \(error)")
        }
    }

    /// exactly_once: closes the open transaction — every output of the events read so far, any checkpoint
    /// written since the last commit, and the input offsets after them — and opens the next. Reading pauses
    /// meanwhile (this thread does not poll), so the transaction ends exactly after the last event read.
    ///
    /// A transaction that cannot commit is aborted and the daemon stops: a restart resumes from the last
    /// committed offsets and checkpoint, and replays into state, without output, the events in between.
    private func commitTransaction() {
        flushPending(wait: true)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        // Every output of the events read, and every checkpoint chunk, acknowledged: nothing is outstanding when
        // the commit flushes.
        while tracker.inFlight > 0 || checkpoints.inFlight.contains(where: { ($0.unacknowledged ?? 0) > 0 }), clock.now < deadline {
            drainCompletions()
            advanceCheckpoints()
            Thread.sleep(forTimeInterval: 0.0005)
        }
        guard tracker.inFlight == 0 else {
            abortTransaction(reason: "outputs of \(tracker.inFlight) events were not acknowledged within 30 s")
            return
        }
        let moved = tracker.takeCommittable()
        let offsets = moved.map { KafkaTopicPartitionOffset(partitions[$0.partition], offset: $0.offset) }
        do {
            if !offsets.isEmpty, let group = consumer.groupMetadata() {
                try producer.sendOffsetsToTransaction(offsets, group: group)
            }
            try producer.commitTransaction()
            counters.transactions.add(1, ordering: .relaxed)
            if !offsets.isEmpty { counters.commits.add(1, ordering: .relaxed) }
            try producer.beginTransaction()
        } catch {
            abortTransaction(reason: "\(error)")
        }
    }

    private func abortTransaction(reason: String) {
        counters.transactionsAborted.add(1, ordering: .relaxed)
        logger.critical("transaction aborted; stopping so a restart resumes from the last committed one", metadata: ["reason": "\(reason)"])
        do { try producer.abortTransaction() } catch { logger.error("aborting the transaction: \(error)") }
        stopRequested.store(true, ordering: .releasing)
    }

    // MARK: Rebalance hooks (called inside poll, on this thread)

    private func assign(_ list: inout [KafkaTopicPartitionOffset]) {
        for entry in list {
            let index = index(of: entry.topic, entry.partition)
            tracker.assign(index)
            watermarks[index] = .min
            replayUntil[index] = .min
            assigned.insert(index)
        }
        restorePartitions(&list)
        // librdkafka takes the assignment after this hook returns; a partition paused before it was revoked is
        // still paused then, so its flag is checked after this poll.
        pauseCheckDue.append(contentsOf: list.map(\.topicPartition))
        do {
            try secondary?.listen(toInputPartitions: list.map(\.partition))
        } catch {
            logger.error("listening for secondary-feature replies failed; events wait and are re-sent", metadata: ["error": "\(error)"])
        }
        stateRestored.store(true, ordering: .releasing)
        assignedPartitions.store(assigned.count, ordering: .relaxed)
        logger.info("assigned \(list.map(\.topicPartition.description).joined(separator: ", "))")
    }

    private func revoke(_ list: [KafkaTopicPartition], lost: Bool) {
        let indices = list.compactMap { partitionIndex[$0] }
        if !lost {
            // Finish what was read from these partitions, then commit it, before they go to another member.
            if !drainSecondary(partitions: Set(indices), within: .seconds(10)) {
                logger.warning("revoked partitions' events still wait for secondary features; their next owner reads them again")
            }
            flushPending(wait: true)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while indices.contains(where: { tracker.inFlight(partition: $0) > 0 }), clock.now < deadline {
                drainCompletions()
                Thread.sleep(forTimeInterval: 0.001)
            }
            checkpointAndWait(indices, reason: "revoke")
            let offsets = indices.compactMap { index in
                tracker.committable(partition: index).map { KafkaTopicPartitionOffset(partitions[index], offset: $0) }
            }
            if exactlyOnce {
                commitTransaction()
            } else if !offsets.isEmpty {
                do {
                    try consumer.commit(offsets, async: false)
                } catch {
                    logger.warning("committing revoked partitions: \(error)")
                }
            }
        }
        for index in indices {
            secondary?.join.cancel(partition: index)
            tracker.revoke(index)
            assigned.remove(index)
            dropPartition(index)
        }
        assignedPartitions.store(assigned.count, ordering: .relaxed)
        logger.info("\(lost ? "lost" : "revoked") \(list.map(\.description).joined(separator: ", "))")
    }
}
