import Logging
import Prometheus
import Synchronization
import VigilKafka

/// librdkafka's statistics (consumer lag per partition, broker round trips, queue sizes) as Prometheus gauges.
///
/// The clients' statistics callbacks store the latest document per client; scrapes turn the latest documents
/// into gauges, removing the gauges of partitions and brokers that are gone (a rebalance moved them away).
final class KafkaStatisticsGauges: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    /// The latest statistics by client role ("consumer", "producer", "labels").
    private let latest = Mutex<[String: KafkaStatistics]>([:])
    /// Gauges made on earlier scrapes, by name and labels, so vanished ones can be unregistered.
    private let live = Mutex<[String: Gauge]>([:])

    init(registry: PrometheusCollectorRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    /// Takes one statistics document from a client's callback (on that client's polling thread).
    func receive(role: String, json: String) {
        do {
            let statistics = try KafkaStatistics(json: json)
            latest.withLock { $0[role] = statistics }
        } catch {
            logger.debug("unreadable librdkafka statistics", metadata: ["role": "\(role)", "error": "\(error)"])
        }
    }

    /// The consumer's lag per input partition (nil entries left out) and its sum.
    var consumerLag: (partitions: [(topic: String, partition: Int32, lag: Int64)], total: Int64) {
        let statistics = latest.withLock { $0["consumer"] }
        let lags = (statistics?.partitions ?? []).compactMap { p in p.consumerLag.map { (p.topic, p.partition, $0) } }
        return (lags, lags.reduce(0) { $0 + $1.2 })
    }

    /// Brings the gauges up to the latest statistics.
    func update() {
        let snapshot = latest.withLock { $0 }
        var values: [String: (name: String, labels: [(String, String)], help: String, value: Double)] = [:]
        func set(_ name: String, _ labels: [(String, String)], _ help: String, _ value: Double) {
            let key = name + "|" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            values[key] = (name, labels, help, value)
        }
        for (role, statistics) in snapshot {
            let client = [("client", role)]
            set("vigil_kafka_queued_messages", client, "Messages waiting in librdkafka's producer queues", Double(statistics.queuedMessages))
            set("vigil_kafka_queued_bytes", client, "Bytes waiting in librdkafka's producer queues", Double(statistics.queuedBytes))
            set("vigil_kafka_reply_queue", client, "Operations waiting for a poll in librdkafka", Double(statistics.replyQueue))
            for broker in statistics.brokers {
                let labels = client + [("broker", broker.name)]
                set("vigil_kafka_broker_rtt_seconds", labels + [("stat", "avg")], "Broker round-trip time over the last statistics interval", broker.rttAverage)
                set("vigil_kafka_broker_rtt_seconds", labels + [("stat", "p99")], "Broker round-trip time over the last statistics interval", broker.rttP99)
                set("vigil_kafka_broker_requests_in_flight", labels, "Requests sent and awaiting a response", Double(broker.requestsInFlight))
                set("vigil_kafka_broker_requests_queued", labels, "Requests waiting to be sent", Double(broker.requestsQueued))
            }
            guard role == "consumer" else { continue }
            for partition in statistics.partitions {
                let labels = [("topic", partition.topic), ("partition", String(partition.partition))]
                if let lag = partition.consumerLag {
                    set("vigil_consumer_lag", labels, "Messages between the partition's end and this group's position", Double(lag))
                }
                set("vigil_consumer_fetch_queue", labels, "Messages fetched and waiting in the consumer", Double(partition.fetchQueue))
            }
        }
        live.withLock { gauges in
            for (key, gauge) in gauges where values[key] == nil {
                registry.unregisterGauge(gauge)
                gauges[key] = nil
            }
            for (key, entry) in values {
                let gauge = gauges[key] ?? registry.makeGauge(descriptor: .named(entry.name, help: entry.help), labels: entry.labels)
                gauges[key] = gauge
                gauge.set(entry.value)
            }
        }
    }
}
