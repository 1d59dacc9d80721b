import Foundation
import Logging
import Synchronization
import VigilKafka

/// The real broker that scripts/test started (VIGIL_TEST_BROKER), and helpers for tests that use it.
enum TestBroker {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String { "VIGIL_TEST_BROKER is not set: run the tests through scripts/test, which starts a broker" }
    }

    static func address() throws -> String {
        guard let address = ProcessInfo.processInfo.environment["VIGIL_TEST_BROKER"], !address.isEmpty else {
            throw NotConfigured()
        }
        return address
    }

    static let logger: Logger = {
        var logger = Logger(label: "vigil.tests") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }()

    /// A name no other test uses.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func clientOptions(_ clientID: String = "vigil-tests") throws -> KafkaClientOptions {
        KafkaClientOptions(bootstrapServers: [try address()], clientID: clientID)
    }

    static func admin() throws -> KafkaAdmin {
        try KafkaAdmin(client: clientOptions("vigil-tests-admin"), logger: logger)
    }

    /// Creates a fresh topic and returns its name.
    static func createTopic(_ prefix: String, partitions: Int32, configs: [String: String] = [:]) throws -> String {
        let name = unique(prefix)
        try admin().createTopics([KafkaTopicSpecification(name: name, partitions: partitions, configs: configs)], ignoreExisting: false)
        return name
    }

    static func consumerConfiguration(
        group: String,
        isolation: KafkaConsumerConfiguration.IsolationLevel = .readCommitted,
        strategy: KafkaConsumerConfiguration.AssignmentStrategy = .cooperativeSticky
    ) throws -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            client: try clientOptions("vigil-tests-consumer"),
            groupID: group,
            isolationLevel: isolation,
            assignmentStrategy: strategy,
            sessionTimeout: .seconds(6),
            maxPollInterval: .seconds(7)
        )
    }

    static func producerConfiguration(transactionalID: String? = nil) throws -> KafkaProducerConfiguration {
        KafkaProducerConfiguration(client: try clientOptions("vigil-tests-producer"), transactionalID: transactionalID, linger: .milliseconds(2))
    }
}

/// Counts delivery reports and remembers where each message (by context) was written.
final class DeliveryLog: Sendable {
    struct Entry: Sendable, Hashable {
        var partition: Int32
        var offset: Int64
    }

    private let state = Mutex<(entries: [UInt64: Entry], errors: [KafkaError])>(([:], []))

    func record(_ report: KafkaDeliveryReport) {
        state.withLock { state in
            if let error = report.error {
                state.errors.append(error)
            } else {
                state.entries[report.context] = Entry(partition: report.partition, offset: report.offset)
            }
        }
    }

    var entries: [UInt64: Entry] { state.withLock { $0.entries } }
    var errors: [KafkaError] { state.withLock { $0.errors } }
}

/// Polls a consumer until `done` says so or the deadline passes; returns every message read.
func pollUntil(
    _ consumer: KafkaConsumer,
    deadline: Duration = .seconds(60),
    done: ([KafkaMessage]) -> Bool
) throws -> [KafkaMessage] {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    var messages: [KafkaMessage] = []
    while clock.now < end {
        let batch = try consumer.poll(maxMessages: 5000, timeout: .milliseconds(100))
        messages.append(contentsOf: batch.messages)
        if done(messages) { break }
    }
    return messages
}

/// A consumer polled on its own thread, as the daemon polls: collects messages until stopped.
final class PolledConsumer: Sendable {
    let consumer: KafkaConsumer
    private let state = Mutex<(messages: [KafkaMessage], running: Bool, stopped: Bool)>(([], true, false))

    init(_ consumer: KafkaConsumer) {
        self.consumer = consumer
        Thread { [self] in
            while state.withLock({ $0.running }) {
                if let batch = try? consumer.poll(maxMessages: 1000, timeout: .milliseconds(50)) {
                    state.withLock { $0.messages.append(contentsOf: batch.messages) }
                }
            }
            state.withLock { $0.stopped = true }
        }.start()
    }

    var messages: [KafkaMessage] { state.withLock { $0.messages } }

    /// Stops polling and waits for the polling thread to finish its last poll.
    func stop() {
        state.withLock { $0.running = false }
        while !state.withLock({ $0.stopped }) { Thread.sleep(forTimeInterval: 0.01) }
    }
}

/// Waits until `condition` holds, checking every 50 ms; false when the deadline passed first.
func eventually(within deadline: Duration = .seconds(60), _ condition: () throws -> Bool) rethrows -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while clock.now < end {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}

extension KafkaMessage {
    var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}
