import Foundation

/// The parts of librdkafka's statistics JSON (`statistics.interval.ms`, see librdkafka's STATISTICS.md) that an
/// operator watches: queue sizes, broker round trips and, for consumers, the lag of every assigned partition.
public struct KafkaStatistics: Sendable, Equatable {
    /// A broker connection's round-trip time and in-flight requests.
    public struct Broker: Sendable, Equatable {
        /// `name`, such as `127.0.0.1:9092/1`.
        public var name: String
        /// `rtt.avg` and `rtt.p99` over the last interval, in seconds (0 when no request completed).
        public var rttAverage: Double
        public var rttP99: Double
        /// `outbuf_cnt`: requests waiting to be sent; `waitresp_cnt`: requests sent, awaiting a response.
        public var requestsQueued: Int
        public var requestsInFlight: Int
    }

    /// One partition as the client sees it.
    public struct Partition: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        /// `consumer_lag`: messages between the high watermark and the committed (or stored) position;
        /// nil when librdkafka does not know it yet (-1).
        public var consumerLag: Int64?
        /// `fetchq_cnt`: messages fetched and waiting in the client for the application.
        public var fetchQueue: Int
        /// `msgq_cnt` + `xmit_msgq_cnt`: messages waiting to be produced to this partition.
        public var produceQueue: Int
    }

    /// `name`: the client instance (`client.id#consumer-1`).
    public var clientName: String
    /// `type`: "producer" or "consumer".
    public var clientType: String
    /// `msg_cnt` / `msg_size`: messages (and their bytes) in the producer queues.
    public var queuedMessages: Int
    public var queuedBytes: Int
    /// `replyq`: operations (callbacks, events) waiting to be served by a poll.
    public var replyQueue: Int
    public var brokers: [Broker]
    /// Real partitions only (librdkafka's internal partition -1 is left out).
    public var partitions: [Partition]

    /// Parses one statistics document.
    public init(json: String) throws {
        let raw = try JSONDecoder().decode(Raw.self, from: Data(json.utf8))
        clientName = raw.name
        clientType = raw.type
        queuedMessages = raw.msg_cnt ?? 0
        queuedBytes = raw.msg_size ?? 0
        replyQueue = raw.replyq ?? 0
        brokers = (raw.brokers ?? [:]).values
            .filter { $0.nodeid ?? 0 >= 0 }
            .map {
                Broker(
                    name: $0.name,
                    rttAverage: Double($0.rtt?.avg ?? 0) / 1e6,
                    rttP99: Double($0.rtt?.p99 ?? 0) / 1e6,
                    requestsQueued: $0.outbuf_cnt ?? 0,
                    requestsInFlight: $0.waitresp_cnt ?? 0
                )
            }
            .sorted { $0.name < $1.name }
        var partitions: [Partition] = []
        for (topic, entry) in raw.topics ?? [:] {
            for partition in (entry.partitions ?? [:]).values where partition.partition >= 0 {
                let lag = partition.consumer_lag ?? -1
                partitions.append(Partition(
                    topic: topic,
                    partition: partition.partition,
                    consumerLag: lag >= 0 ? lag : nil,
                    fetchQueue: partition.fetchq_cnt ?? 0,
                    produceQueue: (partition.msgq_cnt ?? 0) + (partition.xmit_msgq_cnt ?? 0)
                ))
            }
        }
        self.partitions = partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    // The JSON's own field names.
    private struct Raw: Decodable {
        var name: String
        var type: String
        var msg_cnt: Int?
        var msg_size: Int?
        var replyq: Int?
        var brokers: [String: RawBroker]?
        var topics: [String: RawTopic]?
    }

    private struct RawBroker: Decodable {
        var name: String
        var nodeid: Int?
        var outbuf_cnt: Int?
        var waitresp_cnt: Int?
        var rtt: RawWindow?
    }

    private struct RawWindow: Decodable {
        var avg: Int64?
        var p99: Int64?
    }

    private struct RawTopic: Decodable {
        var partitions: [String: RawPartition]?
    }

    private struct RawPartition: Decodable {
        var partition: Int32
        var consumer_lag: Int64?
        var fetchq_cnt: Int?
        var msgq_cnt: Int?
        var xmit_msgq_cnt: Int?
    }
}
