import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// A dev broker of a test's own (so freezing it disturbs no other test), started and stopped with
/// scripts/broker and a private state folder.
final class DedicatedBroker {
    let state: String
    let address: String
    let pid: pid_t

    init() throws {
        state = NSTemporaryDirectory() + "vigil-broker-\(UUID().uuidString.prefix(8))"
        let output = try Self.script(["start"], state: state)
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("BROKER=") }) else {
            throw TestSetupError("scripts/broker start printed no address: \(output)")
        }
        address = String(line.dropFirst("BROKER=".count))
        let pidText = try String(contentsOfFile: state + "/broker.pid", encoding: .utf8)
        pid = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func stop() {
        kill(pid, SIGCONT)
        _ = try? Self.script(["stop"], state: state)
    }

    /// Runs scripts/broker with a private state folder and returns what it printed.
    @discardableResult
    static func script(_ arguments: [String], state: String) throws -> String {
        try Shell.run("'\(repositoryRoot.path)/scripts/broker' \(arguments.joined(separator: " "))", environment: ["VIGIL_BROKER_STATE": state]).output
    }
}

@Suite("Broker outage")
struct BrokerOutageTests {
    /// The broker freezes (SIGSTOP) for 8 s while events flow; the daemon rides it out and loses nothing.
    @Test(.timeLimit(.minutes(3)))
    func aFrozenBrokerIsRetriedNotFatal() throws {
        let broker = try DedicatedBroker()
        defer { broker.stop() }
        var config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        config.kafka.brokers = broker.address
        config.pipeline.commitIntervalMs = 200
        config.httpListen = "127.0.0.1:0"
        let options = KafkaClientOptions(bootstrapServers: [broker.address], clientID: "outage-test")
        try KafkaAdmin(client: options, logger: Broker.logger).createTopics(
            ["transactions", "alerts", "scores", "transactions.dlq"].map { KafkaTopicSpecification(name: $0, partitions: 2) }
        )
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: options), logger: Broker.logger)
        var generator = TransactionGenerator(options: TransactionGenerator.Options())
        var ids = Set<String>()
        func produce(_ count: Int) throws {
            for _ in 0..<count {
                let t = generator.next()
                ids.insert(t.eventID)
                try producer.produce(topic: "transactions", key: Array(t.key.utf8), value: Array(t.json.utf8), blockWhenFull: true)
            }
            _ = producer.drain(timeout: .seconds(30))
        }
        try produce(5_000)
        let service = try VigilService(config: config, logger: Broker.logger)
        try service.start()
        service.waitUntilScored(5_000, within: .seconds(60))

        kill(broker.pid, SIGSTOP)
        Thread.sleep(forTimeInterval: 8)
        kill(broker.pid, SIGCONT)
        try produce(5_000)
        service.waitUntilScored(10_000, within: .seconds(90))
        Thread.sleep(forTimeInterval: 1)
        service.requestStop()
        service.waitUntilStopped()
        try producer.close()

        // At least once: the 8 s freeze outlasts the 6 s session, so the group may rebalance and re-read the few
        // events whose commit had not landed; none may be missing (checked on the scores topic below).
        #expect(service.counters.scored.load(ordering: .relaxed) >= 10_000)
        #expect(service.counters.deliveryFailures.load(ordering: .relaxed) == 0)
        let reader = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: options, groupID: "outage-reader", sessionTimeout: .seconds(6), maxPollInterval: .seconds(7)),
            logger: Broker.logger
        )
        try reader.subscribe(["scores"])
        var scored = Set<String>()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while scored.count < 10_000, clock.now < deadline {
            for message in try reader.poll(maxMessages: 5000).messages {
                if let object = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any], let id = object["event_id"] as? String {
                    scored.insert(id)
                }
            }
        }
        try reader.close()
        #expect(scored == ids)
    }
}
