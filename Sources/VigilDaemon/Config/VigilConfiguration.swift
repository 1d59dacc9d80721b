public import VigilCore
public import VigilFeatures
public import VigilModels

/// A validated Vigil config file (see configs/vigil.yaml for every key, commented).
public struct VigilConfiguration: Sendable {
    public enum Delivery: String, Sendable, Equatable {
        case atLeastOnce = "at_least_once"
        case exactlyOnce = "exactly_once"
    }

    public struct Kafka: Sendable, Equatable {
        public var brokers: String = "127.0.0.1:9092"
        public var groupID: String = "vigil"
        public var inputTopics: [String] = []
        public var alertsTopic: String = "alerts"
        public var scoresTopic: String?
        /// `scores_features`: score records (on the scores topic and from `vigil replay --output`) carry the
        /// event's feature vector as `"features": {name: value}`.
        public var scoresFeatures = false
        public var deadLetterTopic: String = "dead-letters"
        public var labelsTopic: String?
        public var delivery: Delivery = .atLeastOnce
        /// `statistics_interval`: how often librdkafka reports lag, round trips and queues (nil: "off").
        public var statisticsIntervalMs: Int64? = 1000
        /// librdkafka properties passed through unchanged to every client.
        public var properties: [String: String] = [:]
    }

    public struct Pipeline: Sendable, Equatable {
        /// Worker threads (events are sharded over them by primary entity).
        public var workers: Int
        /// Slots per ring between threads; full rings pause the input.
        public var ringCapacity: Int = 4096
        /// Messages per consumer poll.
        public var pollBatch: Int = 1000
        /// How often committable offsets are committed.
        public var commitIntervalMs: Int64 = 1000
        /// `repartition`: secondary entities' features (merchant when the input is keyed by card) are computed by
        /// whichever group member owns the entity's partition of an internal topic keyed by that entity, so any
        /// number of instances compute them over all of the entity's events (see `RepartitionTopics`).
        public var repartition = false
        /// `repartition_resend_after`: how long an event waits for its secondary features before its requests are
        /// sent again (a lost delivery, a stage instance that died before answering).
        public var repartitionResendAfterMs: Int64 = 5000
    }

    /// `logging`: line format, level and the rate limit for repeated warnings and errors.
    public struct Logging: Sendable, Equatable {
        public var format: LogFormat = .logfmt
        public var level: String = "info"
        /// At most `rateLimitBurst` warning/error lines per call site every `rateLimitIntervalMs`; nil: no limit.
        public var rateLimitBurst: Int? = 10
        public var rateLimitIntervalMs: Int64 = 10_000
    }

    /// `checkpoints`: where and how often per-partition state snapshots are written.
    public struct Checkpoints: Sendable, Equatable {
        /// The compacted changelog topic (created, compacted, when missing).
        public var topic = "vigil.state"
        /// How often every assigned partition is checkpointed (also on revoke and shutdown); nil: "off", no
        /// checkpoints and no restores.
        public var intervalMs: Int64? = 60_000

        public init(topic: String = "vigil.state", intervalMs: Int64? = 60_000) {
            self.topic = topic
            self.intervalMs = intervalMs
        }
    }

    public var kafka = Kafka()
    public var logging = Logging()
    public var checkpoints = Checkpoints()
    public var schema: EventSchema
    public var maxLatenessMs: Int64 = 30_000
    public var tables: [EntityTableSpec]
    public var features: [FeatureSpec] = []
    public var detectors: [DetectorSpec] = []
    public var rules: [Rule] = []
    public var policy = AlertPolicy()
    public var pipeline: Pipeline
    public var httpListen = "127.0.0.1:9464"
    /// `http.admin_token`: the bearer token POST /admin/reload requires (required for any client when set; without
    /// it, only loopback clients of a loopback listener may reload). Give it as `${VIGIL_ADMIN_TOKEN}`.
    public var adminToken: String?

    /// True when `http.listen` binds a loopback address only.
    public var httpListensOnLoopback: Bool {
        let host = httpListen.split(separator: ":", omittingEmptySubsequences: false).dropLast().joined(separator: ":")
        return host == "localhost" || host.hasPrefix("127.") || host == "[::1]" || host == "::1"
    }
    /// The version alerts carry (`config_version`): 1 at start, then one more per accepted reload.
    var configVersionForReload = 1

    /// Features' qualified names (`card.tx_count_5m`), in vector order.
    public var featureNames: [String] {
        features.map { "\(schema.entities[$0.entity].name).\($0.name)" }
    }
}
