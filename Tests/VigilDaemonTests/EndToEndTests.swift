import Foundation
import Logging
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// The broker scripts/test started.
enum Broker {
    static func address() throws -> String {
        guard let address = ProcessInfo.processInfo.environment["VIGIL_TEST_BROKER"], !address.isEmpty else {
            throw TestSetupError("VIGIL_TEST_BROKER is not set: run the tests through scripts/test, which starts a broker")
        }
        return address
    }

    static let logger: Logger = {
        var logger = Logger(label: "vigil.e2e") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }()

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    static func options() throws -> KafkaClientOptions { KafkaClientOptions(bootstrapServers: [try address()], clientID: "vigil-e2e") }

    /// Reads every message of a topic from the beginning until `count` arrived or the deadline passed, then a
    /// little longer to catch extras.
    static func readAll(_ topic: String, expecting count: Int, deadline: Duration = .seconds(60)) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: options(), groupID: unique("reader"), sessionTimeout: .seconds(6), maxPollInterval: .seconds(7)),
            logger: logger
        )
        try consumer.subscribe([topic])
        var messages: [KafkaMessage] = []
        let clock = ContinuousClock()
        var end = clock.now + deadline
        var extended = false
        while clock.now < end {
            messages += try consumer.poll(maxMessages: 5000, timeout: .milliseconds(100)).messages
            if messages.count >= count, !extended {
                extended = true
                end = clock.now + .seconds(2)
            }
        }
        try consumer.close()
        return messages
    }
}

extension VigilService {
    /// Waits until `count` events were scored or `timeout` passed; returns how many were scored.
    @discardableResult
    func waitUntilScored(_ count: Int, within timeout: Duration = .seconds(90)) -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while counters.scored.load(ordering: .relaxed) < count, clock.now < deadline { Thread.sleep(forTimeInterval: 0.1) }
        return counters.scored.load(ordering: .relaxed)
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("Daemon end to end against a real broker", .serialized)
struct EndToEndTests {
    @Test(.timeLimit(.minutes(5)))
    func everyEventIsScoredOnceEveryRefusalIsDeadLetteredAndCardTestingAlerts() throws {
        // Topics and config of its own (DaemonFixture), four partitions, two workers.
        var config = try DaemonFixture(prefix: "e2e", partitions: 4).config
        config.pipeline.workers = 2

        // 50,000 events and 80 malformed messages.
        var options = TransactionGenerator.Options()
        options.seed = 11
        options.cards = 2_000
        options.merchants = 300
        options.fraudRate = 0.02
        options.eventsPerSecond = 50
        var generator = TransactionGenerator(options: options)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: Broker.options(), linger: .milliseconds(5)),
            logger: Broker.logger
        )
        var validIDs = Set<String>()
        var cardTestingCards = Set<String>()
        var malformed: [String: String] = [:]  // value -> expected kind (several samples share a text)
        var malformedCount = 0
        let total = 50_000
        for i in 0..<total {
            let t = generator.next()
            validIDs.insert(t.eventID)
            if t.pattern == .cardTesting { cardTestingCards.insert(t.key) }
            try producer.produce(topic: config.kafka.inputTopics[0], key: Array(t.key.utf8), value: Array(t.json.utf8), blockWhenFull: true)
            if i % 625 == 0 {
                let index = malformedCount
                let value = MalformedSamples.sample(index, seed: 11)
                malformed[value] = MalformedSamples.kind(index)
                malformedCount += 1
                try producer.produce(
                    topic: config.kafka.inputTopics[0],
                    key: Array(t.key.utf8),
                    value: Array(value.utf8),
                    headers: [KafkaHeader(name: "origin", value: "test")],
                    blockWhenFull: true
                )
            }
        }
        try producer.close(timeout: .seconds(60))
        #expect(malformedCount == 80)
        #expect(cardTestingCards.count >= 5)

        let service = try VigilService(config: config, logger: Broker.logger)
        try service.start()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(150)
        let expected = total + malformedCount
        while clock.now < deadline {
            let done = service.counters.scored.load(ordering: .relaxed) + service.counters.deadLettered.load(ordering: .relaxed)
            if done >= expected { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 1)
        service.requestStop()
        service.waitUntilStopped()
        #expect(service.counters.scored.load(ordering: .relaxed) == total)
        #expect(service.counters.deadLettered.load(ordering: .relaxed) == malformedCount)

        // Scores: every valid event id exactly once.
        let scores = try Broker.readAll(config.kafka.scoresTopic!, expecting: total)
        var seen: [String: Int] = [:]
        for message in scores {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any])
            let id = try #require(object["event_id"] as? String)
            seen[id, default: 0] += 1
            #expect(object["score"] is Double || object["score"] is Int)
        }
        #expect(scores.count == total)
        #expect(Set(seen.keys) == validIDs)
        #expect(seen.values.allSatisfy { $0 == 1 })

        // Dead letters: every malformed message, with its original bytes, headers and the reason.
        let deadLetters = try Broker.readAll(config.kafka.deadLetterTopic, expecting: malformedCount)
        #expect(deadLetters.count == malformedCount)
        for message in deadLetters {
            let value = String(decoding: message.value ?? [], as: UTF8.self)
            #expect(message.header("vigil.error.kind")?.stringValue == malformed[value], "\(value)")
            #expect(message.header("vigil.error.message")?.stringValue?.isEmpty == false)
            #expect(message.header("vigil.source.topic")?.stringValue == config.kafka.inputTopics[0])
            #expect(message.header("vigil.source.partition") != nil && message.header("vigil.source.offset") != nil)
            #expect(message.header("origin")?.stringValue == "test")
        }

        // Alerts: the injected card-testing bursts are caught by the rule that names them.
        let alerts = try Broker.readAll(config.kafka.alertsTopic, expecting: 1, deadline: .seconds(20))
        var cardsAlerted = Set<String>()
        for message in alerts {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any])
            let rules = object["rules"] as? [String] ?? []
            let entities = object["entities"] as? [String: String] ?? [:]
            #expect(object["alert_id"] is String && object["features"] is [String: Any] && object["config_version"] as? Int == 1)
            if rules.contains("card_testing"), let card = entities["card"] { cardsAlerted.insert(card) }
        }
        let caught = cardTestingCards.intersection(cardsAlerted).count
        #expect(Double(caught) >= 0.8 * Double(cardTestingCards.count), "caught \(caught) of \(cardTestingCards.count) card-testing bursts")

        // Offsets: everything consumed was committed.
        let checker = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: Broker.options(), groupID: config.kafka.groupID),
            logger: Broker.logger
        )
        let committed = try checker.committed((0..<4).map { KafkaTopicPartition(topic: config.kafka.inputTopics[0], partition: Int32($0)) })
        #expect(committed.map(\.offset).reduce(0, +) == Int64(expected))
        try checker.close()
    }
}
