internal import CRdKafka

extension KafkaError {
    /// Maps an `rd_kafka_resp_err_t` to an error with librdkafka's name (`rd_kafka_err2name`) and, unless a
    /// more specific message is given, its description (`rd_kafka_err2str`).
    init(librdkafkaCode raw: Int32, message: String? = nil, file: String = #fileID, line: Int = #line) {
        let code = rd_kafka_resp_err_t(raw)
        self.init(
            code: Code(rawValue: raw),
            name: String(cString: rd_kafka_err2name(code)),
            message: message ?? String(cString: rd_kafka_err2str(code)),
            isFatal: code == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: KafkaError.retriableCodes.contains(raw),
            file: file,
            line: line
        )
    }

    init(rdkafka code: rd_kafka_resp_err_t, message: String? = nil, file: String = #fileID, line: Int = #line) {
        self.init(librdkafkaCode: code.rawValue, message: message, file: file, line: line)
    }

    /// Reads an `rd_kafka_error_t` and destroys it (`rd_kafka_error_destroy`).
    init(consuming error: OpaquePointer, file: String = #fileID, line: Int = #line) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rawValue: rd_kafka_error_code(error).rawValue),
            name: String(cString: rd_kafka_error_name(error)),
            message: String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            transactionRequiresAbort: rd_kafka_error_txn_requires_abort(error) != 0,
            file: file,
            line: line
        )
    }

    /// Throws when `code` is not `RD_KAFKA_RESP_ERR_NO_ERROR`.
    static func check(_ code: rd_kafka_resp_err_t, _ what: @autoclosure () -> String, file: String = #fileID, line: Int = #line)
        throws(KafkaError)
    {
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        let description = String(cString: rd_kafka_err2str(code))
        throw KafkaError(rdkafka: code, message: "\(what()): \(description)", file: file, line: line)
    }

    /// Throws the error object when it is not `nil`, destroying it.
    static func check(_ error: OpaquePointer?, file: String = #fileID, line: Int = #line) throws(KafkaError) {
        if let error { throw KafkaError(consuming: error, file: file, line: line) }
    }

    /// Client-side codes that describe a passing condition (rd_kafka_resp_err_t values).
    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT.rawValue, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue,
        RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue,
        RD_KAFKA_RESP_ERR__RESOLVE.rawValue, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS.rawValue, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue, RD_KAFKA_RESP_ERR__WAIT_COORD.rawValue,
    ]
}

extension String {
    /// The NUL-terminated text in a C `char` buffer that librdkafka filled (an `errstr`).
    init(cBuffer buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
