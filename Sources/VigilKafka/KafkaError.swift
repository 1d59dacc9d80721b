/// An error reported by librdkafka or by Vigil's Kafka layer.
///
/// Carries librdkafka's numeric error code, its symbolic name (`rd_kafka_err2name`) and a human message, plus
/// the flags the daemon uses to decide between retrying and restarting.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`): negative values are client-side, positive are broker errors.
    public var code: Code
    /// librdkafka's symbolic name of the code, such as `_TIMED_OUT` or `UNKNOWN_TOPIC_OR_PART`.
    public var name: String
    /// A human-readable description of what failed.
    public var message: String
    /// The client instance can no longer be used (`rd_kafka_error_is_fatal`).
    public var isFatal: Bool
    /// Retrying the same operation may succeed (`rd_kafka_error_is_retriable`).
    public var isRetriable: Bool
    /// The current transaction must be aborted before the producer can be used again
    /// (`rd_kafka_error_txn_requires_abort`).
    public var transactionRequiresAbort: Bool
    /// Where in Vigil the error was raised.
    public var file: String
    /// The line in `file` where the error was raised.
    public var line: Int

    public init(
        code: Code,
        name: String,
        message: String,
        isFatal: Bool = false,
        isRetriable: Bool = false,
        transactionRequiresAbort: Bool = false,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.transactionRequiresAbort = transactionRequiresAbort
        self.file = file
        self.line = line
    }

    public var description: String {
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if isRetriable { flags.append("retriable") }
        if transactionRequiresAbort { flags.append("abort transaction") }
        let suffix = flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]"
        return "KafkaError \(name) (\(code.rawValue)): \(message)\(suffix) at \(file):\(line)"
    }

    /// Errors compare by what they say, not by where they were raised.
    public static func == (lhs: KafkaError, rhs: KafkaError) -> Bool {
        lhs.code == rhs.code && lhs.name == rhs.name && lhs.message == rhs.message && lhs.isFatal == rhs.isFatal
            && lhs.isRetriable == rhs.isRetriable && lhs.transactionRequiresAbort == rhs.transactionRequiresAbort
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(name)
        hasher.combine(message)
    }
}

extension KafkaError {
    /// librdkafka's error code, kept extensible: any `rd_kafka_resp_err_t` value can be represented.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let noError = Code(rawValue: 0)
        public static let badMessage = Code(rawValue: -199)
        public static let destroy = Code(rawValue: -197)
        public static let fail = Code(rawValue: -196)
        public static let transport = Code(rawValue: -195)
        public static let allBrokersDown = Code(rawValue: -187)
        public static let timedOut = Code(rawValue: -185)
        public static let partitionEOF = Code(rawValue: -191)
        public static let unknownPartition = Code(rawValue: -190)
        public static let invalidArgument = Code(rawValue: -186)
        public static let queueFull = Code(rawValue: -184)
        public static let unknownTopic = Code(rawValue: -188)
        public static let state = Code(rawValue: -172)
        public static let fatal = Code(rawValue: -150)
        public static let unknownTopicOrPartition = Code(rawValue: 3)
        public static let topicAlreadyExists = Code(rawValue: 36)
        /// Vigil-side configuration problems (a property librdkafka refused).
        public static let configuration = Code(rawValue: -1_000_001)

        public var description: String { String(rawValue) }
    }
}
