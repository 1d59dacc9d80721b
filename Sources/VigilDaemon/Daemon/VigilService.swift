import Foundation
public import Logging
public import VigilFeatures
import NIOCore
import NIOHTTP1
import Synchronization
import VigilCore
import VigilKafka

/// The daemon: the consumer thread, the workers, the output thread and the producer, wired as DESIGN.md draws
/// them, with an orderly stop (drain, flush, commit, leave the group).
public final class VigilService: Sendable {
    /// The config the daemon started with (reloads change only rules, weights and the alert policy).
    public let config: VigilConfiguration
    private let reloads = Mutex<(version: Int, current: VigilConfiguration?)>((1, nil))
    public let counters: DaemonCounters
    private let logger: Logger
    private let pool: WorkerPool
    private let producer: KafkaProducer
    private let consumerLoop: ConsumerLoop
    private let outputLoop: OutputLoop
    private let consumerDone = DispatchSemaphore(value: 0)
    private let outputDone = DispatchSemaphore(value: 0)
    /// `pipeline.repartition`: the stage computing secondary entities' features for this instance's share.
    private let secondaryStage: SecondaryStage?
    private let secondaryDone = DispatchSemaphore(value: 0)
    private let started = Mutex<ContinuousClock.Instant?>(nil)
    private let metrics: MetricsExporter
    private let kafkaStatistics: KafkaStatisticsGauges
    private let stateGauges: EntityStateGauges
    /// What the dashboard shows.
    public let live = LiveStatistics()
    private let http = Mutex<HTTPEndpoints?>(nil)
    private let sampler = Mutex<RepeatedTask?>(nil)
    /// Re-reads the config for `reloadFromSource` (SIGHUP, `vigil reload`, POST /admin/reload).
    private let configSource: (@Sendable () throws -> VigilConfiguration)?
    /// Open while the consumer thread drains delivery reports; closed once it has stopped, so the delivery
    /// thread never waits on a ring nobody empties.
    private let deliveryGate = DeliveryGate()

    /// Connects to Kafka and prepares every thread; `start()` sets them going.
    ///
    /// - Parameters:
    ///   - configSource: reads the config again for reloads (nil: only `reload(_:)` with a config in hand).
    ///   - onScored: observes every scored event on the output thread (tests, dashboards).
    public init(
        config: VigilConfiguration,
        logger: Logger,
        configSource: (@Sendable () throws -> VigilConfiguration)? = nil,
        onScored: (@Sendable (ScoredEvent) -> Void)? = nil
    ) throws {
        self.config = config
        self.logger = logger
        self.configSource = configSource
        let counters = DaemonCounters(ruleNames: config.rules.map(\.name), detectorNames: config.detectors.map(\.name))
        self.counters = counters
        let model = ScoringModel(config: config)
        let options = KafkaClientOptions(
            bootstrapServers: config.kafka.brokers.split(separator: ",").map(String.init),
            clientID: "vigil",
            statisticsInterval: config.kafka.statisticsIntervalMs.map { .milliseconds($0) }
        )
        let metrics = MetricsExporter(counters: counters)
        self.metrics = metrics
        let kafkaStatistics = KafkaStatisticsGauges(registry: metrics.registry, logger: logger)
        self.kafkaStatistics = kafkaStatistics
        let stateGauges = EntityStateGauges(entityNames: config.schema.entities.map(\.name), owners: config.pipeline.workers + 1)
        self.stateGauges = stateGauges

        let (deliveryProducer, deliveryConsumer) = SPSCRing<DeliveredOutput>.makeRing(capacity: 1 << 16)
        let (expectationProducer, expectationConsumer) = SPSCRing<ExpectedOutputs>.makeRing(capacity: 1 << 16)
        let deliveryLogger = logger
        let gate = deliveryGate
        // exactly_once: every output, snapshot and input offset goes through transactions the consumer thread
        // commits; the id is unique per process (zombies are fenced through the group metadata, KIP-447).
        let transactionalID = config.kafka.delivery == .exactlyOnce ? "\(config.kafka.groupID)-\(UUID().uuidString.prefix(12))" : nil
        producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                client: options, transactionalID: transactionalID, linger: .milliseconds(2), properties: config.kafka.properties),
            // Runs on the producer's polling thread only (the daemon never calls flush elsewhere).
            onDelivery: forwardingDeliveries(to: deliveryProducer, gate: gate, counters: counters, logger: logger),
            onStatistics: { kafkaStatistics.receive(role: "producer", json: $0) },
            onError: { error in
                counters.kafkaErrors.add(1, ordering: .relaxed)
                deliveryLogger.warning("kafka producer error", metadata: ["error": "\(error)"])
            },
            logger: logger
        )
        pool = WorkerPool(model: model, count: config.pipeline.workers, ringCapacity: config.pipeline.ringCapacity, stateGauges: stateGauges)
        // Checkpoints: make sure the compacted changelog exists and read it once; the shared state is restored
        // below, before any thread starts, and each partition's when it is assigned.
        var snapshots: SnapshotAssembler?
        if config.checkpoints.intervalMs != nil {
            try KafkaAdmin(client: options, logger: logger).createTopics(
                [KafkaTopicSpecification(name: config.checkpoints.topic, partitions: 1, configs: ["cleanup.policy": "compact"])], ignoreExisting: true)
            snapshots = try ChangelogReader.read(options: options, topic: config.checkpoints.topic, properties: config.kafka.properties, logger: logger)
        }
        // Repartitioning: the internal topics exist before anything is sent to them.
        var requester: SecondaryRequester?
        let repartition = RepartitionTopics(config: config)
        if config.pipeline.repartition, !repartition.requests.isEmpty {
            let replyPartitions = try repartition.ensure(
                inputTopics: config.kafka.inputTopics, options: options, properties: config.kafka.properties, logger: logger)
            requester = try SecondaryRequester(
                config: config, topics: repartition, replyPartitionCount: replyPartitions, producer: producer, options: options, logger: logger)
            secondaryStage = try SecondaryStage(
                config: config, topics: repartition, logger: logger, counters: counters, options: options, stateGauges: stateGauges)
        } else {
            secondaryStage = nil
        }
        consumerLoop = try ConsumerLoop(
            config: config, model: model, logger: logger, counters: counters, pool: pool, producer: producer,
            deliveries: deliveryConsumer, expectations: expectationConsumer,
            latency: LatencyRecorder(prometheus: metrics.latency, live: live),
            stateGauges: stateGauges, statistics: kafkaStatistics, initialSnapshots: snapshots, secondary: requester
        )
        outputLoop = try OutputLoop(
            config: config, pool: pool, producer: producer, expectations: expectationProducer, counters: counters, logger: logger,
            metrics: metrics, live: live, onScored: onScored
        )
        if let snapshots { restoreShared(from: snapshots) }
        try secondaryStage?.connect()
        try consumerLoop.connect(options: options)
        if transactionalID != nil {
            try producer.initTransactions()
            try producer.beginTransaction()
        }
    }

    /// Restores the state all partitions share (secondary entities' windows, the ordered stage) from the latest
    /// shared snapshot; a damaged or incompatible one is reported and the shared state starts cold.
    private func restoreShared(from snapshots: SnapshotAssembler) {
        do {
            guard let stored = try snapshots.snapshot(SharedSnapshot.key(group: config.kafka.groupID)) else { return }
            let shared = try SharedSnapshot(decoding: stored.payload)
            try consumerLoop.router.restoreState(shared.router)
            try outputLoop.restoreStage(shared.stage)
            logger.info("restored the shared state from checkpoint \(shared.checkpoint)")
        } catch {
            counters.snapshotErrors.add(1, ordering: .relaxed)
            logger.error("the shared snapshot is unusable; secondary entities and global models start cold", metadata: ["error": "\(error)"])
        }
    }

    /// The port the HTTP endpoints listen on, once started (nil when `http.listen` is "off").
    public var httpPort: Int? { http.withLock { $0?.port } }

    /// Starts the consumer and output threads and the HTTP endpoints.
    public func start() throws {
        if config.httpListen != "off" {
            let endpoints = try HTTPEndpoints(listen: config.httpListen) { [weak self] request in self?.respond(to: request) }
            http.withLock { $0 = endpoints }
            let task = endpoints.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [weak self] _ in
                guard let self else { return }
                let lag = self.kafkaStatistics.consumerLag
                self.live.sample(counters: self.counters, lag: lag.partitions.isEmpty ? nil : lag.total)
            }
            sampler.withLock { $0 = task }
            logger.info("http endpoints on port \(endpoints.port)")
        }
        started.withLock { $0 = .now }
        Thread.start(named: "vigil.consumer") { [consumerLoop, consumerDone] in
            consumerLoop.run()
            consumerDone.signal()
        }
        if let secondaryStage {
            Thread.start(named: "vigil.secondary") { [secondaryDone] in
                secondaryStage.run()
                secondaryDone.signal()
            }
        }
        Thread.start(named: "vigil.output") { [outputLoop, outputDone] in
            outputLoop.run()
            outputDone.signal()
        }
        logger.info("vigil running", metadata: [
            "topics": "\(config.kafka.inputTopics.joined(separator: ","))", "workers": "\(config.pipeline.workers)",
        ])
    }

    /// Asks the daemon to stop; `waitUntilStopped` returns once it has.
    public func requestStop() {
        consumerLoop.stopRequested.store(true, ordering: .releasing)
    }

    /// Waits for the consumer to drain and leave the group, then stops the workers, the output thread and the
    /// producer (after its last deliveries).
    public func waitUntilStopped() {
        consumerDone.wait()
        // The consumer drained its events' secondary features first; the stage (which may be answering other
        // instances too) stops after it, checkpointing its partitions for their next owner.
        if let secondaryStage {
            secondaryStage.stopRequested.store(true, ordering: .releasing)
            secondaryDone.wait()
        }
        deliveryGate.open.store(false, ordering: .releasing)
        sampler.withLock { task in
            task?.cancel()
            task = nil
        }
        http.withLock { endpoints in
            endpoints?.close()
            endpoints = nil
        }
        pool.stop()
        outputLoop.stopRequested.store(true, ordering: .releasing)
        outputDone.wait()
        do {
            try producer.close(timeout: .seconds(5))
        } catch {
            logger.warning("closing the producer: \(error)")
        }
        logger.info("vigil stopped")
    }

    /// The outcome of a reload request.
    public enum ReloadOutcome: Sendable, Equatable {
        /// Applied in place; alerts now carry this `config_version`.
        case applied(version: Int)
        /// Refused: these sections changed and need a restart. The running config stays.
        case refused(sections: [String])
    }

    /// Applies a new config's rules, detector weights and alert policy without losing any state, or refuses it
    /// when anything else changed (topics, schema, features, detectors, state bounds, pipeline, HTTP).
    @discardableResult
    public func reload(_ new: VigilConfiguration) -> ReloadOutcome {
        let outcome: ReloadOutcome = reloads.withLock { state in
            let running = state.current ?? config
            let sections = running.changesNeedingRestart(to: new)
            guard sections.isEmpty else { return .refused(sections: sections) }
            state.version += 1
            state.current = new
            return .applied(version: state.version)
        }
        switch outcome {
        case .applied(let version):
            outputLoop.reload(new, version: version)
            logger.notice("reload accepted", metadata: ["config_version": "\(version)"])
        case .refused(let sections):
            logger.error("reload refused: \(sections.joined(separator: ", ")) changed and need a restart; the running config stays")
        }
        return outcome
    }

    /// The outcome of re-reading the config file.
    public enum SourceReloadOutcome: Sendable, Equatable {
        case applied(version: Int)
        case refused(sections: [String])
        /// The file could not be read or has errors (each with its key path and line); nothing changed.
        case invalid(message: String)
        /// The daemon was started without a config source.
        case unavailable
    }

    /// Re-reads the config through `configSource` and applies it like `reload(_:)` (SIGHUP, `vigil reload`,
    /// POST /admin/reload).
    @discardableResult
    public func reloadFromSource() -> SourceReloadOutcome {
        guard let configSource else { return .unavailable }
        let new: VigilConfiguration
        do {
            new = try configSource()
        } catch {
            logger.error("reload refused: the config has errors; the running config stays", metadata: ["errors": "\(error)"])
            return .invalid(message: "\(error)")
        }
        switch reload(new) {
        case .applied(let version): return .applied(version: version)
        case .refused(let sections): return .refused(sections: sections)
        }
    }

    /// Whether the daemon is ready: partitions assigned, their saved state restored, and every unsupervised
    /// detector warm.
    /// Keys and feature-state bytes per entity kind held by this instance now (workers, router and secondary stage).
    public var entityState: [(String, EntityStateUsage)] { zip(stateGauges.entityNames, stateGauges.totals).map { ($0, $1) } }

    /// Partitions of the repartition topics this instance's secondary stage owns now (0 without
    /// `pipeline.repartition`).
    public var secondaryPartitions: Int { secondaryStage?.assignedPartitions.load(ordering: .relaxed) ?? 0 }

    public var readiness: (ready: Bool, assignedPartitions: Int, coldDetectors: [String], stateRestored: Bool) {
        let assigned = consumerLoop.assignedPartitions.load(ordering: .relaxed)
        let warm = outputLoop.warmDetectors.load(ordering: .relaxed)
        var cold: [String] = []
        for (i, spec) in config.detectors.enumerated() where warm & (1 << i) == 0 {
            if case .supervised = spec.kind { continue }  // waits for labels, which may never come
            cold.append(spec.name)
        }
        let restored = consumerLoop.stateRestored.load(ordering: .acquiring)
        return (assigned > 0 && restored && cold.isEmpty, assigned, cold, restored)
    }

    private func respond(to request: HTTPEndpoints.Request) -> HTTPEndpoints.Response? {
        switch (request.method, request.path) {
        case (.GET, "/metrics"):
            kafkaStatistics.update()
            let latency = live.latencyPercentiles
            let body = metrics.render(
                occupancy: pool.occupancy,
                assignedPartitions: consumerLoop.assignedPartitions.load(ordering: .relaxed),
                warmMask: outputLoop.warmDetectors.load(ordering: .relaxed),
                lateEvents: pool.lateEvents,
                configVersion: configVersion,
                entities: entityState,
                inputDelay: (latency.inputDelayP99 / 1000, latency.inputDelayMax / 1000)
            )
            return .init(status: .ok, contentType: "text/plain; version=0.0.4", body: body)
        case (.GET, "/healthz"):
            return .init(json: #"{"status":"alive"}"#)
        case (.GET, "/readyz"):
            let state = readiness
            let cold = state.coldDetectors.map { "\"\($0)\"" }.joined(separator: ",")
            let body = #"{"ready":\#(state.ready),"assigned_partitions":\#(state.assignedPartitions),"state_restored":\#(state.stateRestored),"cold_detectors":[\#(cold)]}"#
            return .init(status: state.ready ? .ok : .serviceUnavailable, json: body)
        case (.GET, "/dashboard"), (.GET, "/"):
            return .init(status: .ok, contentType: "text/html; charset=utf-8", body: DashboardPage.html)
        case (.GET, "/api/live"):
            let body = live.json(
                counters: counters, configVersion: configVersion, ready: readiness.ready, uptime: uptime,
                entities: entityState
            )
            return .init(status: .ok, contentType: "application/json", body: body)
        case (.POST, "/admin/reload"):
            if let refusal = adminRefusal(request) { return refusal }
            return reloadResponse(reloadFromSource())
        case (_, "/admin/reload"):
            return .init(status: .methodNotAllowed, json: #"{"error":"POST only"}"#)
        case (_, "/metrics"), (_, "/healthz"), (_, "/readyz"), (_, "/dashboard"), (_, "/api/live"):
            return .init(status: .methodNotAllowed, json: #"{"error":"GET only"}"#)
        default:
            return nil
        }
    }

    /// Why an admin request is refused, or nil when it may proceed: with `http.admin_token` set, every client
    /// must present it (`Authorization: Bearer ...`); without one, only loopback clients of a loopback listener.
    private func adminRefusal(_ request: HTTPEndpoints.Request) -> HTTPEndpoints.Response? {
        if let token = config.adminToken {
            let presented = request.authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
            guard Self.constantTimeEqual(presented, token) else {
                return .init(status: .unauthorized, json: #"{"error":"a valid bearer token is required (http.admin_token)"}"#)
            }
            return nil
        }
        guard config.httpListensOnLoopback, request.fromLoopback else {
            return .init(status: .forbidden, json: #"{"error":"admin endpoints need http.admin_token when http.listen is not loopback"}"#)
        }
        return nil
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }

    private func reloadResponse(_ outcome: SourceReloadOutcome) -> HTTPEndpoints.Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        let status: HTTPResponseStatus
        switch outcome {
        case .applied(let version):
            status = .ok
            w.key("outcome"); w.string("applied")
            w.key("config_version"); w.int(Int64(version))
        case .refused(let sections):
            status = .conflict
            w.key("outcome"); w.string("refused")
            w.key("restart_needed_for"); w.beginArray()
            for section in sections { w.string(section) }
            w.endArray()
        case .invalid(let message):
            status = .unprocessableEntity
            w.key("outcome"); w.string("invalid")
            w.key("errors"); w.string(message)
        case .unavailable:
            status = .serviceUnavailable
            w.key("outcome"); w.string("unavailable")
            w.key("errors"); w.string("this daemon was started without a config file to re-read")
        }
        w.endObject()
        return .init(status: status, contentType: "application/json", body: w.bytes)
    }

    /// The `config_version` alerts carry now.
    public var configVersion: Int { reloads.withLock { $0.version } }

    /// Seconds since `start()`.
    public var uptime: Double {
        guard let start = started.withLock({ $0 }) else { return 0 }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Late events seen so far.
    public var lateEvents: Int { pool.lateEvents }
}
