import Foundation
import Prometheus
import Synchronization
import VigilCore
import VigilFeatures

/// A running total carried from `DaemonCounters` into a Prometheus counter.
private func total(
    _ registry: PrometheusCollectorRegistry,
    _ name: String,
    _ help: String,
    _ read: @escaping @Sendable (DaemonCounters) -> Int
) -> (Counter, @Sendable (DaemonCounters) -> Int) {
    (registry.makeCounter(descriptor: .named(name, help: help)), read)
}

/// The daemon's Prometheus metrics. Running totals live in `DaemonCounters` (relaxed atomics, cheap on the
/// event path) and are carried into the Prometheus registry on each scrape; latency and score distributions are
/// recorded as events leave the pipeline, into histograms of our own that take no lock (`EventHistogram`).
final class MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry
    /// From reading an event to the broker acknowledging its last output, per event (recorded by the consumer
    /// thread).
    let latency: EventHistogram
    /// The combined score of every event (recorded by the output thread).
    let scores: EventHistogram
    private let counters: DaemonCounters
    private let totals: [(Counter, @Sendable (DaemonCounters) -> Int)]
    private let deadLetters: [(Counter, String)]
    private let ruleAlerts: [Counter]
    private let detectorAlerts: [Counter]
    private let shadowAlerts: [Counter]
    private let lastSeen = Mutex<[ObjectIdentifier: Int]>([:])
    private let occupancy: Gauge
    private let pauses: Counter
    private let assigned: Gauge
    private let warm: [Gauge]
    private let configVersion: Gauge
    private let late: Counter
    /// The last second's input delay, p99 and max.
    private let inputDelay: (p99: Gauge, max: Gauge)
    private let entityGauges = Mutex<[String: (keys: Gauge, bytes: Gauge, evicted: Counter, expired: Counter)]>([:])

    init(counters: DaemonCounters) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.counters = counters
        latency = EventHistogram(
            name: "vigil_processing_latency_seconds",
            help: "From reading an input event to the broker acknowledging its last output (to scoring when it has none)",
            upperBounds: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
        scores = EventHistogram(
            name: "vigil_score", help: "Combined score of every event (0 ... 1)", upperBounds: [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1])
        totals = [
            total(registry, "vigil_events_consumed_total", "Input messages read") { $0.consumed.load(ordering: .relaxed) },
            total(registry, "vigil_events_scored_total", "Events scored") { $0.scored.load(ordering: .relaxed) },
            total(registry, "vigil_alerts_total", "Alerts published") { $0.alerts.load(ordering: .relaxed) },
            total(registry, "vigil_alerts_suppressed_total", "Alerts suppressed by the cooldown") { $0.suppressedByCooldown.load(ordering: .relaxed) },
            total(registry, "vigil_outputs_produced_total", "Score, alert and dead-letter records produced") { $0.outputsProduced.load(ordering: .relaxed) },
            total(registry, "vigil_delivery_failures_total", "Outputs the broker did not acknowledge") { $0.deliveryFailures.load(ordering: .relaxed) },
            total(registry, "vigil_commits_total", "Offset commits") { $0.commits.load(ordering: .relaxed) },
            total(registry, "vigil_labels_joined_total", "Delayed labels joined to their event") { $0.labelsJoined.load(ordering: .relaxed) },
            total(registry, "vigil_labels_unknown_total", "Labels for unknown or expired events") { $0.labelsUnknown.load(ordering: .relaxed) },
            total(registry, "vigil_kafka_errors_total", "Errors librdkafka reported (brokers down, timeouts, group trouble)") { $0.kafkaErrors.load(ordering: .relaxed) },
            total(registry, "vigil_events_replayed_total", "Events read again after a restore to rebuild state, without outputs") { $0.replayed.load(ordering: .relaxed) },
            total(registry, "vigil_transactions_total", "Transactions committed (exactly_once)") { $0.transactions.load(ordering: .relaxed) },
            total(registry, "vigil_transactions_aborted_total", "Transactions aborted (exactly_once)") { $0.transactionsAborted.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_requests_total", "Events sent to the secondary stage (pipeline.repartition)") { $0.secondaryRequests.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_resent_total", "Secondary-feature requests sent again after pipeline.repartition_resend_after without a reply") { $0.secondaryResent.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_replies_total", "Secondary-feature replies joined to their event") { $0.secondaryReplies.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_stale_replies_total", "Secondary-feature replies for no waiting event (ignored)") { $0.secondaryStaleReplies.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_duplicates_total", "Requests for events the secondary stage had already counted (not counted again)") { $0.secondaryDuplicates.load(ordering: .relaxed) },
            total(registry, "vigil_secondary_computed_total", "Repartitioned events this instance computed secondary features for") { $0.secondaryComputed.load(ordering: .relaxed) },
            total(registry, "vigil_checkpoints_total", "Checkpoints written to the changelog (every chunk acknowledged)") { $0.checkpoints.load(ordering: .relaxed) },
            total(registry, "vigil_checkpoint_failures_total", "Checkpoints abandoned or not written") { $0.checkpointFailures.load(ordering: .relaxed) },
            total(registry, "vigil_partitions_restored_total", "Assigned partitions restored from a snapshot") { $0.partitionsRestored.load(ordering: .relaxed) },
            total(registry, "vigil_snapshot_errors_total", "Snapshots refused as damaged or incompatible (started cold)") { $0.snapshotErrors.load(ordering: .relaxed) },
        ]
        deadLetters = DecodeError.Kind.allCases.map {
            (registry.makeCounter(descriptor: .named("vigil_dead_letters_total", help: "Refused input messages by reason"), labels: [("reason", $0.rawValue)]), $0.rawValue)
        }
        ruleAlerts = counters.ruleNames.map { registry.makeCounter(descriptor: .named("vigil_alerts_by_rule_total", help: "Alerts naming each rule"), labels: [("rule", $0)]) }
        detectorAlerts = counters.detectorNames.map {
            registry.makeCounter(descriptor: .named("vigil_alerts_by_detector_total", help: "Alerts each detector scored above the threshold"), labels: [("detector", $0)])
        }
        shadowAlerts = counters.detectorNames.map {
            registry.makeCounter(
                descriptor: .named(
                    "vigil_shadow_alerts_total", help: "Events a shadow detector scored at or above the alert threshold (alerts it would have raised)"),
                labels: [("detector", $0)])
        }
        occupancy = registry.makeGauge(descriptor: .named("vigil_ring_occupancy", help: "Fullest worker input ring, 0 ... 1"))
        pauses = registry.makeCounter(descriptor: .named("vigil_input_pauses_total", help: "Times a pipeline that took nothing for 500 ms paused the input"))
        assigned = registry.makeGauge(descriptor: .named("vigil_assigned_partitions", help: "Input partitions assigned to this daemon"))
        warm = counters.detectorNames.map { registry.makeGauge(descriptor: .named("vigil_detector_warm", help: "1 once the detector scores"), labels: [("detector", $0)]) }
        configVersion = registry.makeGauge(descriptor: .named("vigil_config_version", help: "The config version alerts carry"))
        late = registry.makeCounter(descriptor: .named("vigil_late_events_total", help: "Events older than their partition's watermark"))
        let delay = { (stat: String) in
            registry.makeGauge(
                descriptor: .named(
                    "vigil_input_delay_seconds",
                    help: "From each input record's timestamp (its producer's clock, or the broker's with LogAppendTime) to Vigil reading it, over the last second"),
                labels: [("stat", stat)])
        }
        inputDelay = (delay("p99"), delay("max"))
    }

    /// Moves a counter up to `total` (Prometheus counters only increase).
    private func advance(_ counter: Counter, to total: Int) {
        let key = ObjectIdentifier(counter)
        let delta = lastSeen.withLock { seen -> Int in
            let previous = seen[key] ?? 0
            seen[key] = max(previous, total)
            return max(0, total - previous)
        }
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    /// The metrics in Prometheus text format, after bringing the registry up to date.
    func render(
        occupancy ringOccupancy: Double, assignedPartitions: Int, warmMask: Int, lateEvents: Int, configVersion version: Int,
        entities: [(String, EntityStateUsage)], inputDelay delay: (p99: Double, max: Double)
    ) -> [UInt8] {
        for (name, usage) in entities {
            let gauges = entityGauges.withLock { made in
                if let existing = made[name] { return existing }
                let labels = [("entity", name)]
                let new = (
                    keys: registry.makeGauge(descriptor: .named("vigil_entity_keys", help: "Keys with feature state, per entity kind"), labels: labels),
                    bytes: registry.makeGauge(descriptor: .named("vigil_entity_state_bytes", help: "Bytes of feature state held for those keys"), labels: labels),
                    evicted: registry.makeCounter(descriptor: .named("vigil_entity_keys_evicted_total", help: "Keys evicted to stay within state.<entity>.max_keys"), labels: labels),
                    expired: registry.makeCounter(descriptor: .named("vigil_entity_keys_expired_total", help: "Keys expired by state.<entity>.ttl"), labels: labels)
                )
                made[name] = new
                return new
            }
            gauges.keys.set(Double(usage.keys))
            gauges.bytes.set(Double(usage.bytes))
            advance(gauges.evicted, to: usage.evicted)
            advance(gauges.expired, to: usage.expired)
        }
        for (counter, read) in totals { advance(counter, to: read(counters)) }
        let byReason = Dictionary(uniqueKeysWithValues: counters.deadLettersByReason)
        for (counter, reason) in deadLetters { advance(counter, to: byReason[reason] ?? 0) }
        for (counter, (_, count)) in zip(ruleAlerts, counters.alertsPerRule) { advance(counter, to: count) }
        for (counter, (_, count)) in zip(detectorAlerts, counters.alertsPerDetector) { advance(counter, to: count) }
        for (counter, (_, count)) in zip(shadowAlerts, counters.shadowAlertsPerDetector) { advance(counter, to: count) }
        advance(pauses, to: counters.pauses.load(ordering: .relaxed))
        advance(late, to: lateEvents)
        occupancy.set(ringOccupancy)
        assigned.set(Double(assignedPartitions))
        for (i, gauge) in warm.enumerated() { gauge.set(Double(warmMask & (1 << i) != 0 ? 1 : 0)) }
        configVersion.set(Double(version))
        inputDelay.p99.set(delay.p99)
        inputDelay.max.set(delay.max)
        var buffer = registry.emitToBuffer()
        latency.emit(into: &buffer)
        scores.emit(into: &buffer)
        return buffer
    }
}
