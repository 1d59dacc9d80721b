internal import CRdKafka
import Logging
import Synchronization

/// What librdkafka's C callbacks reach through the client's opaque pointer.
///
/// Every stored property is immutable or itself synchronised, so the class is `Sendable` as declared.
final class RDKafkaCallbacks: Sendable {
    let logger: Logger
    let rebalance: KafkaRebalanceHandler?
    let delivery: (@Sendable (KafkaDeliveryReport) -> Void)?
    let commit: (@Sendable (Result<[KafkaTopicPartitionOffset], KafkaError>) -> Void)?
    let statistics: (@Sendable (String) -> Void)?
    let error: (@Sendable (KafkaError) -> Void)?
    /// Topic names by `rd_kafka_topic_t` address, so delivery reports and messages need no C-string copy.
    let topicNames = Mutex<[UInt: String]>([:])

    init(
        logger: Logger,
        rebalance: KafkaRebalanceHandler? = nil,
        delivery: (@Sendable (KafkaDeliveryReport) -> Void)? = nil,
        commit: (@Sendable (Result<[KafkaTopicPartitionOffset], KafkaError>) -> Void)? = nil,
        statistics: (@Sendable (String) -> Void)? = nil,
        error: (@Sendable (KafkaError) -> Void)? = nil
    ) {
        self.logger = logger
        self.rebalance = rebalance
        self.delivery = delivery
        self.commit = commit
        self.statistics = statistics
        self.error = error
    }

    /// The name of a topic handle, cached after the first lookup (`rd_kafka_topic_name`).
    func topicName(_ topic: OpaquePointer?) -> String {
        guard let topic else { return "" }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(topic)))
        return topicNames.withLock { names in
            if let name = names[key] { return name }
            let name = String(cString: rd_kafka_topic_name(topic))
            names[key] = name
            return name
        }
    }

    /// The callbacks of the client `rk`, through `rd_kafka_opaque`.
    static func of(_ rk: OpaquePointer?) -> RDKafkaCallbacks? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Installs the C callbacks that the configured hooks need on `conf`.
    func install(on conf: OpaquePointer, kind: rd_kafka_type_t) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLog)
        rd_kafka_conf_set_error_cb(conf, rdkafkaError)
        if statistics != nil { rd_kafka_conf_set_stats_cb(conf, rdkafkaStatistics) }
        if kind == RD_KAFKA_PRODUCER { rd_kafka_conf_set_dr_msg_cb(conf, rdkafkaDelivery) }
        if kind == RD_KAFKA_CONSUMER {
            rd_kafka_conf_set_rebalance_cb(conf, rdkafkaRebalance)
            rd_kafka_conf_set_offset_commit_cb(conf, rdkafkaOffsetCommit)
        }
    }
}

private func rdkafkaLog(_ rk: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ buffer: UnsafePointer<CChar>?) {
    guard let callbacks = RDKafkaCallbacks.of(rk) else { return }
    let swiftLevel: Logger.Level
    switch level {
    case ...2: swiftLevel = .critical
    case 3: swiftLevel = .error
    case 4: swiftLevel = .warning
    case 5: swiftLevel = .notice
    case 6: swiftLevel = .info
    default: swiftLevel = .debug
    }
    let facilityName = facility.map { String(cString: $0) } ?? ""
    callbacks.logger.log(
        level: swiftLevel,
        "\(buffer.map { String(cString: $0) } ?? "")",
        metadata: [KafkaLoggingKeys.facility: "\(facilityName)"]
    )
}

private func rdkafkaError(_ rk: OpaquePointer?, _ code: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let callbacks = RDKafkaCallbacks.of(rk) else { return }
    var error = KafkaError(librdkafkaCode: code, message: reason.map { String(cString: $0) })
    if rd_kafka_resp_err_t(code) == RD_KAFKA_RESP_ERR__FATAL, let rk {
        var buffer = [CChar](repeating: 0, count: 512)
        let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
        error = KafkaError(rdkafka: original, message: String(cBuffer: buffer))
        error.isFatal = true
    }
    callbacks.logger.warning("librdkafka error", metadata: [KafkaLoggingKeys.error: "\(error)"])
    callbacks.error?(error)
}

private func rdkafkaStatistics(_ rk: OpaquePointer?, _ json: UnsafeMutablePointer<CChar>?, _ length: Int, _ opaque: UnsafeMutableRawPointer?) -> Int32 {
    guard let callbacks = RDKafkaCallbacks.of(rk), let json else { return 0 }
    let text = UnsafeRawBufferPointer(start: json, count: length)
    callbacks.statistics?(String(decoding: text, as: UTF8.self))
    return 0  // librdkafka frees the JSON buffer
}

private func rdkafkaDelivery(_ rk: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let callbacks = RDKafkaCallbacks.of(rk), let delivery = callbacks.delivery, let message else { return }
    let m = message.pointee
    let error = m.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(rdkafka: m.err)
    delivery(
        KafkaDeliveryReport(
            topic: callbacks.topicName(m.rkt),
            partition: m.partition,
            offset: error == nil ? m.offset : KafkaOffset.invalid,
            context: UInt64(UInt(bitPattern: m._private)),
            error: error
        )
    )
}

private func rdkafkaOffsetCommit(
    _ rk: OpaquePointer?,
    _ code: rd_kafka_resp_err_t,
    _ offsets: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let callbacks = RDKafkaCallbacks.of(rk), let commit = callbacks.commit else { return }
    if code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR__NO_OFFSET {
        commit(.success(offsets.map { RDKafkaTopicPartitionList.entries(of: $0) } ?? []))
    } else {
        commit(.failure(KafkaError(rdkafka: code, message: "offset commit failed: \(String(cString: rd_kafka_err2str(code)))")))
    }
}

private func rdkafkaRebalance(
    _ rk: OpaquePointer?,
    _ code: rd_kafka_resp_err_t,
    _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let rk, let partitions, let callbacks = RDKafkaCallbacks.of(rk) else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let logger = callbacks.logger
    switch code {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        var entries = RDKafkaTopicPartitionList.entries(of: partitions)
        callbacks.rebalance?.partitionsAssigned(&entries)
        for (index, entry) in entries.enumerated() where index < Int(partitions.pointee.cnt) {
            partitions.pointee.elems[index].offset = entry.offset
        }
        logger.info("partitions assigned", metadata: [
            KafkaLoggingKeys.partitions: "\(entries.map(\.description).joined(separator: ","))",
            KafkaLoggingKeys.rebalanceProtocol: "\(cooperative ? "cooperative" : "eager")",
        ])
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, partitions) {
                logger.error("incremental assign failed", metadata: [KafkaLoggingKeys.error: "\(KafkaError(consuming: error))"])
            }
        } else {
            let result = rd_kafka_assign(rk, partitions)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.error("assign failed", metadata: [KafkaLoggingKeys.error: "\(KafkaError(rdkafka: result))"])
            }
        }
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        let lost = rd_kafka_assignment_lost(rk) != 0
        let entries = RDKafkaTopicPartitionList.entries(of: partitions).map(\.topicPartition)
        callbacks.rebalance?.partitionsRevoked(entries, lost)
        logger.info("partitions revoked", metadata: [
            KafkaLoggingKeys.partitions: "\(entries.map(\.description).joined(separator: ","))",
            KafkaLoggingKeys.rebalanceProtocol: "\(cooperative ? "cooperative" : "eager")",
            "lost": "\(lost)",
        ])
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, partitions) {
                logger.error("incremental unassign failed", metadata: [KafkaLoggingKeys.error: "\(KafkaError(consuming: error))"])
            }
        } else {
            _ = rd_kafka_assign(rk, nil)
        }
    default:
        logger.error("rebalance error", metadata: [KafkaLoggingKeys.error: "\(KafkaError(rdkafka: code))"])
        _ = rd_kafka_assign(rk, nil)
    }
}
