import Foundation
import VigilCore
import VigilKafka

/// The consumer thread's side of checkpointing: what is in progress and what was last written.
struct CheckpointState {
    /// One checkpoint on its way to the changelog.
    struct InFlight {
        var id: UInt64
        /// Partition index -> (next offset to read after restoring, watermark).
        var cut: [Int: PartitionCut]
        var router: [UInt8]
        var started: ContinuousClock.Instant
        var partitionStates: [Int: [UInt8]]?
        var stage: [UInt8]?
        /// Chunks produced and not yet acknowledged; nil until written.
        var unacknowledged: Int?
        var bytes = 0
    }

    let topic: KafkaProducerTopic?
    let interval: Duration?
    let group: String
    var nextID: UInt64
    var nextRestoreID: UInt64 = 1
    var inFlight: [InFlight] = []
    /// The next offset each partition's last written snapshot covers (unchanged partitions are not rewritten).
    var written: [Int: Int64] = [:]
    /// Chunks stored per changelog key, so a shorter snapshot can delete the leftovers of a longer one.
    var chunkCounts: [String: Int] = [:]
    var lastStart = ContinuousClock.now
    /// The changelog as read at start-up, used for the first assignment (later ones read it again).
    var initialSnapshots: SnapshotAssembler?

    init(config: VigilConfiguration, producer: KafkaProducer, initialSnapshots: SnapshotAssembler?) throws {
        let enabled = config.checkpoints.intervalMs != nil
        topic = enabled ? try producer.topic(config.checkpoints.topic) : nil
        interval = config.checkpoints.intervalMs.map { .milliseconds($0) }
        group = config.kafka.groupID
        // Ids only need to differ between checkpoints of one key; start from the clock so a restarted daemon's
        // ids never repeat its predecessor's.
        nextID = UInt64(Date().timeIntervalSince1970 * 1000) << 12
        self.initialSnapshots = initialSnapshots
    }

    var isEnabled: Bool { topic != nil }
}

extension ConsumerLoop {
    // MARK: Taking checkpoints

    /// Starts an interval checkpoint of every assigned partition when one is due and none is in progress.
    func checkpointIfDue() {
        guard let interval = checkpoints.interval, checkpoints.inFlight.isEmpty, ContinuousClock.now - checkpoints.lastStart >= interval else { return }
        checkpoints.lastStart = .now
        _ = startCheckpoint(Array(assigned))
    }

    /// Takes a checkpoint of these partitions and waits (bounded) until it is on the changelog: on revoke, so the
    /// next owner finds the state as of the last event this daemon scored; at shutdown, so a restart does.
    func checkpointAndWait(_ indices: [Int], reason: String) {
        guard checkpoints.isEnabled, let id = startCheckpoint(indices) else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(6)
        while checkpoints.inFlight.contains(where: { $0.id == id }), clock.now < deadline {
            drainCompletions()
            advanceCheckpoints()
            Thread.sleep(forTimeInterval: 0.001)
        }
        if checkpoints.inFlight.contains(where: { $0.id == id }) {
            logger.error("checkpoint on \(reason) not written in time; the partitions' next owner starts from the previous one")
            abandonCheckpoint(id)
        }
    }

    /// Cuts the stream of these partitions where routing is now: snapshots the router's shared state here and
    /// sends a marker down every worker ring (the workers snapshot their partitions when they reach it, and the
    /// output thread snapshots the stage when the last marker passes).
    ///
    /// - Returns: the checkpoint id, or nil when no partition has anything new since its last snapshot.
    func startCheckpoint(_ indices: [Int]) -> UInt64? {
        guard checkpoints.isEnabled else { return nil }
        // The cut must follow every event read so far: none may still wait for its secondary features.
        guard drainSecondary(partitions: nil, within: .seconds(5)) else {
            logger.warning("checkpoint skipped: events still wait for secondary features")
            return nil
        }
        flushPending(wait: true)
        let id = checkpoints.nextID
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var cut: [Int: PartitionCut] = [:]
        for index in indices where tracker.isAssigned(index) {
            guard let last = tracker.lastRegistered(partition: index), checkpoints.written[index] != last + 1 else { continue }
            cut[index] = PartitionCut(
                topic: partitions[index].topic, partition: partitions[index].partition, nextOffset: last + 1, watermarkMs: watermarks[index],
                checkpoint: id, createdAtMs: now)
        }
        guard !cut.isEmpty else { return nil }
        checkpoints.nextID += 1
        pool.exchange.begin(id, partitions: cut)
        checkpoints.inFlight.append(.init(id: id, cut: cut, router: router.saveState(), started: .now))
        for worker in 0..<pool.count {
            let marker = WorkItem(event: Event(), sequence: router.takeSequence(), control: .checkpoint, controlID: id)
            var backoff = IdleBackoff(maximumMicroseconds: 200)
            while !pool.send(marker, toWorker: worker) {
                drainCompletions()
                backoff.idle()
            }
        }
        return id
    }

    /// Moves checkpoints along: collects the workers' and stage's snapshots, and writes a checkpoint once every
    /// output of the events it covers is acknowledged (so restoring it never skips an undelivered output).
    func advanceCheckpoints() {
        guard !checkpoints.inFlight.isEmpty else { return }
        for failure in pool.exchange.takeRestoreFailures() {
            counters.snapshotErrors.add(1, ordering: .relaxed)
            logger.error("restoring partition \(partitions[failure.partition]) failed; it starts cold", metadata: ["error": "\(failure.message)"])
        }
        var i = 0
        while i < checkpoints.inFlight.count {
            var checkpoint = checkpoints.inFlight[i]
            if checkpoint.stage == nil, let taken = pool.exchange.takeIfComplete(checkpoint.id) {
                checkpoint.partitionStates = taken.partitions
                checkpoint.stage = taken.stage
            }
            if checkpoint.stage != nil, checkpoint.unacknowledged == nil {
                let delivered = checkpoint.cut.allSatisfy { index, cut in
                    !tracker.isAssigned(index) || (tracker.committable(partition: index) ?? .min) >= cut.nextOffset
                }
                if delivered { write(&checkpoint) }
            }
            if checkpoint.unacknowledged == 0 {
                finish(checkpoint)
                checkpoints.inFlight.remove(at: i)
                continue
            }
            if ContinuousClock.now - checkpoint.started > .seconds(120) {
                logger.error("checkpoint \(checkpoint.id) abandoned after 120 s (outputs or changelog writes not acknowledged)")
                abandonCheckpoint(checkpoint.id)
                continue
            }
            checkpoints.inFlight[i] = checkpoint
            i += 1
        }
    }

    /// Produces the checkpoint's chunks: each partition's snapshot, then the shared one.
    private func write(_ checkpoint: inout CheckpointState.InFlight) {
        guard let topic = checkpoints.topic, let stage = checkpoint.stage else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // The workers wrote each partition's snapshot whole (`PartitionSnapshot.encoded(_:capacity:scorer:)`).
        var records: [(key: String, payload: [UInt8])] = []
        for (index, cut) in checkpoint.cut.sorted(by: { $0.key < $1.key }) {
            guard let snapshot = checkpoint.partitionStates?[index] else { continue }
            records.append((PartitionSnapshot.key(group: checkpoints.group, topic: cut.topic, partition: cut.partition), snapshot))
        }
        let shared = SharedSnapshot(checkpoint: checkpoint.id, createdAtMs: now, router: checkpoint.router, stage: stage)
        records.append((SharedSnapshot.key(group: checkpoints.group), shared.encoded()))

        let context = OutputContext.make(partition: OutputContext.checkpointPartition, offset: Int64(checkpoint.id & 0x0000_FFFF_FFFF_FFFF))
        var produced = 0
        do {
            for record in records {
                let chunks = try SnapshotChunks.forEachChunk(of: record.payload, base: record.key, checkpoint: checkpoint.id) { key, value in
                    try Array(key.utf8).withUnsafeBytes { key in
                        try producer.produce(to: topic, key: key, value: value, context: context, blockWhenFull: true)
                    }
                    produced += 1
                    checkpoint.bytes += value.count
                }
                // Leftover chunks of a longer, older snapshot of this key: delete them (tombstones).
                for stale in chunks..<max(chunks, checkpoints.chunkCounts[record.key] ?? 0) {
                    try Array("\(record.key)#\(stale)".utf8).withUnsafeBytes { key in
                        try producer.produce(to: topic, key: key, value: nil, context: context, blockWhenFull: true)
                    }
                    produced += 1
                }
                checkpoints.chunkCounts[record.key] = chunks
            }
            checkpoint.unacknowledged = produced
        } catch {
            counters.checkpointFailures.add(1, ordering: .relaxed)
            logger.error("writing checkpoint \(checkpoint.id) to \(topic.name) failed; the next one retries", metadata: ["error": "\(error)"])
            checkpoint.unacknowledged = produced  // those produced still report; the checkpoint is then dropped
            checkpoint.cut = [:]
        }
    }

    /// One chunk of checkpoint `id` (by its 48-bit context) was acknowledged.
    func checkpointChunkDelivered(_ id: UInt64) {
        guard let i = checkpoints.inFlight.firstIndex(where: { $0.id & 0x0000_FFFF_FFFF_FFFF == id }),
            let remaining = checkpoints.inFlight[i].unacknowledged
        else { return }
        checkpoints.inFlight[i].unacknowledged = max(0, remaining - 1)
    }

    private func finish(_ checkpoint: CheckpointState.InFlight) {
        guard !checkpoint.cut.isEmpty else { return }
        for (index, cut) in checkpoint.cut { checkpoints.written[index] = cut.nextOffset }
        counters.checkpoints.add(1, ordering: .relaxed)
        counters.lastCheckpointBytes.store(checkpoint.bytes, ordering: .relaxed)
        let covered = checkpoint.cut.sorted { $0.key < $1.key }.map { "\(partitions[$0.key])@\($0.value.nextOffset)" }
        logger.info("checkpoint written", metadata: ["id": "\(checkpoint.id)", "bytes": "\(checkpoint.bytes)", "partitions": "\(covered.joined(separator: ","))"])
    }

    private func abandonCheckpoint(_ id: UInt64) {
        pool.exchange.abandon(id)
        checkpoints.inFlight.removeAll { $0.id == id }
        counters.checkpointFailures.add(1, ordering: .relaxed)
    }

    // MARK: Restoring on assignment

    /// Installs each newly assigned partition's latest snapshot on its worker (ahead of its first event, on the
    /// same ring) and starts reading right after the offset the snapshot covers; partitions without a usable
    /// snapshot start cold from the committed offset.
    func restorePartitions(_ list: inout [KafkaTopicPartitionOffset]) {
        guard checkpoints.isEnabled else { return }
        var snapshots = checkpoints.initialSnapshots
        checkpoints.initialSnapshots = nil
        if snapshots == nil {
            do {
                snapshots = try ChangelogReader.read(
                    options: clientOptions, topic: config.checkpoints.topic, properties: config.kafka.properties, logger: logger)
            } catch {
                logger.error("reading the changelog \(config.checkpoints.topic) failed; assigned partitions start cold", metadata: ["error": "\(error)"])
            }
        }
        // What the group committed: events between a snapshot and these offsets had their outputs delivered, so
        // they are replayed into state without producing anything again.
        var committed: [KafkaTopicPartition: Int64] = [:]
        var committedKnown = false
        do {
            for entry in try consumer.committed(list.map(\.topicPartition)) where entry.offset >= 0 { committed[entry.topicPartition] = entry.offset }
            committedKnown = true
        } catch {
            logger.warning("reading committed offsets for the restore failed; events after the snapshots may be output again", metadata: ["error": "\(error)"])
        }
        for i in list.indices {
            let index = index(of: list[i].topic, list[i].partition)
            let restoreID = checkpoints.nextRestoreID
            checkpoints.nextRestoreID += 1
            let key = PartitionSnapshot.key(group: checkpoints.group, topic: list[i].topic, partition: list[i].partition)
            checkpoints.written[index] = nil
            do {
                if let stored = try snapshots?.snapshot(key) {
                    let (snapshot, scorerState) = try PartitionSnapshot.decode(stored.payload)
                    guard snapshot.topic == list[i].topic, snapshot.partition == list[i].partition else {
                        throw StateError("snapshot under \(key) is of \(snapshot.topic)[\(snapshot.partition)]")
                    }
                    pool.exchange.putRestore(restoreID, scorerState)
                    list[i] = KafkaTopicPartitionOffset(list[i].topicPartition, offset: snapshot.nextOffset)
                    watermarks[index] = snapshot.watermarkMs
                    if let done = committed[list[i].topicPartition], done > snapshot.nextOffset { replayUntil[index] = done }
                    // A snapshot is written only once its events' outputs are delivered, so the group may commit
                    // up to it: a crash between writing it and the next commit leaves the group's offset behind.
                    // (Not when the commit is unknown: it may be ahead, and would be moved back.)
                    if committedKnown, (committed[list[i].topicPartition] ?? -1) < snapshot.nextOffset {
                        tracker.resume(partition: index, at: snapshot.nextOffset)
                    }
                    checkpoints.written[index] = snapshot.nextOffset
                    checkpoints.chunkCounts[key] = nil
                    counters.partitionsRestored.add(1, ordering: .relaxed)
                    let replay = replayUntil[index] > snapshot.nextOffset ? " (state only up to \(replayUntil[index]))" : ""
                    logger.info("restored \(list[i].topicPartition) from checkpoint \(snapshot.checkpoint); reading from offset \(snapshot.nextOffset)\(replay)")
                }
            } catch {
                counters.snapshotErrors.add(1, ordering: .relaxed)
                logger.error("the snapshot of \(list[i].topicPartition) is unusable; it starts cold", metadata: ["error": "\(error)"])
            }
            // Always install a scorer (restored or fresh), so nothing of an earlier ownership lingers.
            var item = WorkItem(event: Event(), sequence: WorkItem.unsequenced, control: .restore, controlID: restoreID)
            item.event.partition = Int32(index)
            sendControl(item)
        }
    }

    /// Forgets a revoked partition's scorer on its worker.
    func dropPartition(_ index: Int) {
        var item = WorkItem(event: Event(), sequence: WorkItem.unsequenced, control: .drop)
        item.event.partition = Int32(index)
        sendControl(item)
    }

    private func sendControl(_ item: WorkItem) {
        var backoff = IdleBackoff(maximumMicroseconds: 200)
        while !pool.route(item) {
            drainCompletions()
            backoff.idle()
        }
    }
}
