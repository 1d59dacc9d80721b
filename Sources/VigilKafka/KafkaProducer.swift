public import Logging
import Foundation
import Synchronization

/// An idempotent (optionally transactional) producer over librdkafka.
///
/// `produce` only enqueues; a dedicated thread polls librdkafka and calls `onDelivery` once per message with
/// its outcome. `flush` and the transaction calls also serve delivery reports, on the calling thread: use
/// `drain` to wait without that when `onDelivery` must stay on one thread. Blocking calls (`flush`, `close` and the transaction calls) must not run on Swift's
/// cooperative pool: call them from a dedicated thread.
public final class KafkaProducer: Sendable {
    let client: RDKafkaClient
    public let configuration: KafkaProducerConfiguration
    private let pollThread: KafkaPollThread
    private let topics = Mutex<[String: KafkaProducerTopic]>([:])

    /// Creates the producer and starts its delivery-report thread.
    ///
    /// - Parameters:
    ///   - onDelivery: called on the producer's polling thread once per produced message.
    ///   - onStatistics: librdkafka's statistics JSON, every `client.statisticsInterval`.
    ///   - onError: errors librdkafka reports outside any call.
    ///   - logger: receives librdkafka's logs.
    public init(
        configuration: KafkaProducerConfiguration,
        onDelivery: (@Sendable (KafkaDeliveryReport) -> Void)? = nil,
        onStatistics: (@Sendable (String) -> Void)? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        logger: Logger
    ) throws(KafkaError) {
        let callbacks = RDKafkaCallbacks(logger: logger, delivery: onDelivery, statistics: onStatistics, error: onError)
        let client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties(), callbacks: callbacks)
        self.client = client
        self.configuration = configuration
        self.pollThread = KafkaPollThread(name: "vigil.producer") { client.poll(timeoutMs: 50) }
    }

    deinit {
        pollThread.stop()
    }

    /// A handle for producing to `name`, created once and cached.
    public func topic(_ name: String) throws(KafkaError) -> KafkaProducerTopic {
        let cached = topics.withLock { $0[name] }
        if let cached { return cached }
        let created = try client.makeTopic(name)
        return topics.withLock { topics in
            if let existing = topics[name] { return existing }
            topics[name] = created
            return created
        }
    }

    /// Enqueues a message; librdkafka copies the bytes before this returns.
    ///
    /// - Parameters:
    ///   - partition: the partition, or `nil` for the partitioner's choice by key.
    ///   - context: handed back in the delivery report.
    ///   - blockWhenFull: wait for room when the local queue is full rather than throw `queueFull`.
    public func produce(
        to topic: KafkaProducerTopic,
        partition: Int32? = nil,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [],
        timestampMs: Int64? = nil,
        context: UInt64 = 0,
        blockWhenFull: Bool = false
    ) throws(KafkaError) {
        try client.produce(
            topic: topic,
            partition: partition,
            key: key,
            value: value,
            headers: headers,
            timestampMs: timestampMs,
            context: context,
            block: blockWhenFull
        )
    }

    /// Enqueues a message given as byte arrays.
    public func produce(
        topic name: String,
        partition: Int32? = nil,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        timestampMs: Int64? = nil,
        context: UInt64 = 0,
        blockWhenFull: Bool = false
    ) throws(KafkaError) {
        let topic = try topic(name)
        let result: Result<Void, KafkaError> = withOptionalBytes(key) { key in
            withOptionalBytes(value) { value in
                Result { () throws(KafkaError) in
                    try produce(
                        to: topic,
                        partition: partition,
                        key: key,
                        value: value,
                        headers: headers,
                        timestampMs: timestampMs,
                        context: context,
                        blockWhenFull: blockWhenFull
                    )
                }
            }
        }
        try result.get()
    }

    /// Waits until every enqueued message is delivered or has failed.
    public func flush(timeout: Duration) throws(KafkaError) {
        try client.flush(timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Messages enqueued but not yet acknowledged.
    public var queuedMessages: Int { client.outQueueLength }

    /// Waits until every enqueued message is delivered or failed, with delivery reports served only by the
    /// producer's own polling thread (unlike `flush`, which serves them on the calling thread too).
    ///
    /// - Returns: false when messages were still queued at the deadline.
    public func drain(timeout: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while client.outQueueLength > 0 {
            if clock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return true
    }

    /// Waits for outstanding deliveries (`drain`), stops the delivery-report thread, then flushes whatever is
    /// left. Delivery callbacks thus never run on two threads at once. The producer must not be used afterwards.
    public func close(timeout: Duration = .seconds(30)) throws(KafkaError) {
        let drained = drain(timeout: timeout)
        pollThread.stop()
        try flush(timeout: drained ? .zero : .milliseconds(100))
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
