internal import CRdKafka

/// Copies librdkafka messages into one `KafkaMessageBatch`: every key, value and header value goes into a
/// single byte buffer, and the messages hold slices of it.
enum RDKafkaMessageBatchBuilder {
    private struct Pending {
        var topic: String
        var partition: Int32
        var offset: Int64
        var timestampMs: Int64?
        var key: Range<Int>?
        var value: Range<Int>?
        var headers: Range<Int>
    }

    private struct PendingHeader {
        var name: String
        var value: Range<Int>?
    }

    static func build(
        _ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>,
        callbacks: RDKafkaCallbacks
    ) -> KafkaMessageBatch {
        var total = 0
        for case let message? in messages where message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            total += message.pointee.len + message.pointee.key_len
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(total)
        var pending: [Pending] = []
        pending.reserveCapacity(messages.count)
        var pendingHeaders: [PendingHeader] = []
        var errors: [KafkaError] = []

        func append(_ pointer: UnsafeRawPointer?, _ count: Int) -> Range<Int>? {
            guard let pointer else { return nil }
            let start = bytes.count
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
            return start..<bytes.count
        }

        for case let message? in messages {
            let m = message.pointee
            if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let detail = m.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
                errors.append(KafkaError(rdkafka: m.err, message: detail))
                continue
            }
            let view = KafkaMessageView(message, callbacks: callbacks)
            let headerStart = pendingHeaders.count
            view.forEachHeader { name, value in
                pendingHeaders.append(PendingHeader(name: name, value: append(value?.baseAddress, value?.count ?? 0)))
            }
            pending.append(
                Pending(
                    topic: view.topic,
                    partition: m.partition,
                    offset: m.offset,
                    timestampMs: view.timestampMs,
                    key: append(m.key, m.key_len),
                    value: append(m.payload, m.len),
                    headers: headerStart..<pendingHeaders.count
                )
            )
        }

        // Slices are taken only once the buffer is complete, so they all share its one allocation.
        let headers = pendingHeaders.map { KafkaHeader(name: $0.name, value: $0.value.map { bytes[$0] }) }
        let result = pending.map { p in
            KafkaMessage(
                topic: p.topic,
                partition: p.partition,
                offset: p.offset,
                timestampMs: p.timestampMs,
                key: p.key.map { bytes[$0] },
                value: p.value.map { bytes[$0] },
                headers: headers[p.headers]
            )
        }
        return KafkaMessageBatch(messages: result, errors: errors, payloadBytes: bytes.count)
    }
}
