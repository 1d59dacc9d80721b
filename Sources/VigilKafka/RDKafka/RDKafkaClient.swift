internal import CRdKafka
import Logging

/// Owns one `rd_kafka_t` handle and the callbacks it reaches through its opaque pointer.
///
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as thread-safe for every call this type makes;
/// the pointers are immutable after `init` and freed only in `deinit`, when no other reference exists.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind {
        case consumer, producer
    }

    let handle: OpaquePointer
    let kind: Kind
    let callbacks: RDKafkaCallbacks
    /// The consumer queue (`rd_kafka_queue_get_consumer`), for consumers only.
    let consumerQueue: OpaquePointer?

    /// Creates a client (`rd_kafka_new`) from librdkafka properties.
    ///
    /// - Throws: `KafkaError` with code `.configuration` naming the property librdkafka refused.
    init(kind: Kind, properties: [String: String], callbacks: RDKafkaCallbacks) throws(KafkaError) {
        let type = kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        let conf = rd_kafka_conf_new()!
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var all = properties
        all["log.queue"] = "true"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(
                    code: .configuration,
                    name: "CONFIGURATION",
                    message: "property \(key)=\(value): \(String(cBuffer: errorBuffer))"
                )
            }
        }
        callbacks.install(on: conf, kind: type)
        guard let handle = rd_kafka_new(type, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: .configuration, name: "CONFIGURATION", message: String(cBuffer: errorBuffer))
        }
        // Logs go to the main queue (and so to whoever polls it) instead of librdkafka's internal threads.
        _ = rd_kafka_set_log_queue(handle, nil)
        if kind == .consumer {
            _ = rd_kafka_poll_set_consumer(handle)
            consumerQueue = rd_kafka_queue_get_consumer(handle)
        } else {
            consumerQueue = nil
        }
        self.handle = handle
        self.kind = kind
        self.callbacks = callbacks
    }

    deinit {
        if let consumerQueue { rd_kafka_queue_destroy(consumerQueue) }
        rd_kafka_destroy(handle)
    }

    /// Serves callbacks queued on the main queue for up to `timeoutMs` (`rd_kafka_poll`).
    @discardableResult
    func poll(timeoutMs: Int32) -> Int32 {
        rd_kafka_poll(handle, timeoutMs)
    }

    /// The client's name, such as `vigil#consumer-1` (`rd_kafka_name`).
    var name: String { String(cString: rd_kafka_name(handle)) }

    /// librdkafka's version string (`rd_kafka_version_str`).
    static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }

    /// The fatal error that made this client unusable, if any (`rd_kafka_fatal_error`).
    func fatalClientError() -> KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var error = KafkaError(rdkafka: code, message: String(cBuffer: buffer))
        error.isFatal = true
        return error
    }
}
