import Foundation
import Logging
import Synchronization
import VigilCore
import VigilKafka
import VigilModels

/// The output thread: drains the workers' scored events, writes score and alert records, produces them, and
/// tells the consumer thread how many outputs each input offset is waiting for.
///
/// `@unchecked Sendable`: the writer, records and ring ends are used by the output thread alone; `stop` is
/// atomic.
final class OutputLoop: @unchecked Sendable {
    private let pool: WorkerPool
    private var merge: OrderedMerge
    private let producer: KafkaProducer
    private let alertsTopic: KafkaProducerTopic
    private let scoresTopic: KafkaProducerTopic?
    private let expectations: SPSCRing<ExpectedOutputs>.Producer
    private let counters: DaemonCounters
    private let logger: Logger
    private var records: OutputRecords
    private var writer = JSONWriter()
    private var scoreThreshold: Double
    let stopRequested = Atomic<Bool>(false)
    /// A hot reload waiting to be applied between batches (written by any thread, taken by this one).
    private let pendingReload = Mutex<VigilConfiguration?>(nil)
    /// Set with `pendingReload`, so that the loop's check between batches is one load, not a lock and a copy of
    /// the optional configuration.
    private let reloadPending = Atomic<Bool>(false)
    /// Delayed ground truth (`kafka.labels_topic`), polled on this thread between batches.
    private let labels: KafkaConsumer?
    private var labelsPolled = 0
    /// Latency and score distributions, recorded here as events leave the pipeline. These and the observers
    /// below are constants, so the per-event path uses them without retaining them.
    private let metrics: MetricsExporter?
    /// The dashboard's score distribution and latest alerts.
    private let live: LiveStatistics?
    /// Detectors that have been warm on some event (bit per detector), for readiness and metrics.
    let warmDetectors = Atomic<Int>(0)
    /// Checkpoints whose last worker marker passed; the stage is snapshotted right after the current batch, so
    /// it holds exactly the events before the markers.
    private var stageSnapshotsDue: [UInt64] = []
    /// An observer of every scored event (tests and the dashboard's "latest alerts"); called on this thread.
    private let onScored: (@Sendable (ScoredEvent) -> Void)?

    init(
        config: VigilConfiguration,
        pool: WorkerPool,
        producer: KafkaProducer,
        expectations: SPSCRing<ExpectedOutputs>.Producer,
        counters: DaemonCounters,
        logger: Logger,
        metrics: MetricsExporter?,
        live: LiveStatistics?,
        onScored: (@Sendable (ScoredEvent) -> Void)?
    ) throws {
        self.pool = pool
        self.metrics = metrics
        self.live = live
        self.onScored = onScored
        self.merge = OrderedMerge(outputs: pool.outputs, stage: ScoringModel(config: config).makeStage())
        self.producer = producer
        self.alertsTopic = try producer.topic(config.kafka.alertsTopic)
        self.scoresTopic = try config.kafka.scoresTopic.map { try producer.topic($0) }
        self.expectations = expectations
        self.counters = counters
        self.logger = logger
        self.records = OutputRecords(config: config)
        if let topic = config.kafka.labelsTopic {
            let options = KafkaClientOptions(bootstrapServers: config.kafka.brokers.split(separator: ",").map(String.init), clientID: "vigil-labels")
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(
                    client: options, groupID: "\(config.kafka.groupID).labels", commitMode: .automatic(interval: .seconds(1)),
                    properties: config.kafka.properties
                ),
                logger: logger
            )
            try consumer.subscribe([topic])
            labels = consumer
        } else {
            labels = nil
        }
        scoreThreshold = config.policy.threshold.fraction
    }

    /// Runs until stopped and every worker's output is drained.
    func run() {
        var backoff = IdleBackoff()
        while true {
            pollLabels()
            applyPendingReload()
            let handled = merge.drain(max: 256) { handle($0) }
            takeStageSnapshots()
            if handled > 0 {
                backoff.reset()
                continue
            }
            if stopRequested.load(ordering: .acquiring), !pool.isRunning, merge.isEmpty { break }
            backoff.idle()
        }
        if let labels {
            do { try labels.close() } catch { logger.warning("closing the labels consumer: \(error)") }
        }
    }

    /// Reads waiting labels (`{"event_id": ..., "label": 0 | 1 | true | false}`) without blocking and trains
    /// the supervised detectors; unknown or expired event ids are counted by the stage.
    private func pollLabels() {
        guard let labels else { return }
        labelsPolled += 1
        guard labelsPolled % 16 == 0 else { return }
        do {
            let batch = try labels.poll(maxMessages: 1000, timeout: .zero)
            for message in batch.messages {
                defer { try? labels.store(processed: message) }
                guard let value = message.value,
                    let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                    let idText = object["event_id"] as? String, let id = EventID(idText)
                else {
                    counters.malformedLabels.add(1, ordering: .relaxed)
                    continue
                }
                let label: Bool
                switch object["label"] {
                case let b as Bool: label = b
                case let n as NSNumber: label = n.doubleValue != 0
                default:
                    counters.malformedLabels.add(1, ordering: .relaxed)
                    continue
                }
                merge.learnLabel(eventID: id, label: label)
            }
            let counts = merge.labelCounts
            counters.labelsJoined.store(counts.joined, ordering: .relaxed)
            counters.labelsUnknown.store(counts.unknown, ordering: .relaxed)
        } catch {
            logger.warning("reading labels: \(error)")
        }
    }

    /// Writes one finished item's outputs; `scored` is its ring slot (read in place: the element is ~1.7 kB).
    private func handle(_ scored: UnsafePointer<ScoredEvent>) {
        if scored.pointee.control == .checkpoint {
            if pool.exchange.markerArrived(scored.pointee.controlID, workers: pool.count) { stageSnapshotsDue.append(scored.pointee.controlID) }
            return
        }
        if scored.pointee.event.isReplay {
            // State is rebuilt; the outputs were delivered before the restart.
            counters.replayed.add(1, ordering: .relaxed)
            let expectation = ExpectedOutputs(partition: scored.pointee.event.partition, offset: scored.pointee.event.offset, outputs: 0)
            var backoff = IdleBackoff(maximumMicroseconds: 100)
            while !expectations.push(expectation) { backoff.idle() }
            return
        }
        counters.scored.add(1, ordering: .relaxed)
        let context = OutputContext.make(partition: scored.pointee.event.partition, offset: scored.pointee.event.offset)
        var outputs: Int32 = 0
        scored.pointee.event.entities[0].withBytes { key in
            if let scoresTopic {
                records.writeScore(scored.pointee, to: &writer)
                if produce(scoresTopic, key: key, context: context) { outputs += 1 }
            }
            if scored.pointee.result.alert {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                records.writeAlert(scored.pointee, detectedAtMs: now, to: &writer)
                if produce(alertsTopic, key: key, context: context) { outputs += 1 }
                live?.record(alert: writer.bytes)
                // The live detectors at or above the threshold, as bits (no array per alert).
                var detectors: UInt8 = 0
                for i in 0..<DetectionResult.maxDetectors where scored.pointee.result.warmDetectors & (1 << UInt8(i)) != 0 {
                    if scored.pointee.result.detectorScores[i] >= scoreThreshold, !records.shadowDetectors.contains(i) { detectors |= 1 << UInt8(i) }
                }
                counters.alert(rules: scored.pointee.result.firedRules, detectors: detectors)
            }
        }
        if scored.pointee.result.shadowAlerts != 0 {
            for i in 0..<DetectionResult.maxDetectors where scored.pointee.result.shadowAlerts & (1 << UInt8(i)) != 0 {
                counters.shadowWouldAlert(detector: i)
            }
        }
        if scored.pointee.result.suppressedByCooldown { counters.suppressedByCooldown.add(1, ordering: .relaxed) }
        let warm = Int(scored.pointee.result.warmDetectors)
        if warm & ~warmDetectors.load(ordering: .relaxed) != 0 { warmDetectors.bitwiseOr(warm, ordering: .relaxed) }
        metrics?.scores.record(scored.pointee.result.score)
        live?.record(score: scored.pointee.result.score)
        onScored?(scored.pointee)
        let expectation = ExpectedOutputs(partition: scored.pointee.event.partition, offset: scored.pointee.event.offset, outputs: outputs)
        var backoff = IdleBackoff(maximumMicroseconds: 100)
        while !expectations.push(expectation) { backoff.idle() }
    }

    /// Every marker of these checkpoints has passed and no later event has reached the stage (a marker ends the
    /// merge's batch): the stage's state now is the checkpoint's.
    private func takeStageSnapshots() {
        guard !stageSnapshotsDue.isEmpty else { return }
        for id in stageSnapshotsDue { pool.exchange.putStage(id, merge.saveStageState()) }
        stageSnapshotsDue.removeAll(keepingCapacity: true)
    }

    private func produce(_ topic: KafkaProducerTopic, key: UnsafeRawBufferPointer, context: UInt64) -> Bool {
        do {
            try writer.bytes.withUnsafeBytes { value in
                try producer.produce(to: topic, key: key, value: value, context: context, blockWhenFull: true)
            }
            counters.outputsProduced.add(1, ordering: .relaxed)
            return true
        } catch {
            // Not counted as expected: the input offset is then never committed past, and is read again.
            logger.error("producing to \(topic.name) failed: \(error)")
            return false
        }
    }

    /// Restores the ordered stage from a checkpoint; only before the thread starts.
    func restoreStage(_ state: [UInt8]) throws {
        try merge.restoreStageState(state)
    }

    /// Queues new rules, detector weights and alert policy; they apply from the next batch on, and alerts then
    /// carry `version`.
    func reload(_ config: VigilConfiguration, version: Int) {
        var versioned = config
        versioned.configVersionForReload = version
        pendingReload.withLock { $0 = versioned }
        reloadPending.store(true, ordering: .releasing)
    }

    private func applyPendingReload() {
        guard reloadPending.load(ordering: .acquiring) else { return }
        reloadPending.store(false, ordering: .relaxed)
        guard let config = pendingReload.withLock({ pending -> VigilConfiguration? in
            defer { pending = nil }
            return pending
        }) else { return }
        var weights: [String: Double] = [:]
        var shadow: [String: Bool] = [:]
        for detector in config.detectors {
            weights[detector.name] = detector.weight
            shadow[detector.name] = detector.shadow
        }
        merge.reconfigure(rules: config.rules, weights: weights, shadow: shadow, policy: config.policy)
        records = OutputRecords(config: config, configVersion: config.configVersionForReload)
        scoreThreshold = config.policy.threshold.fraction
        logger.notice("config reloaded", metadata: ["config_version": "\(config.configVersionForReload)"])
    }
}
