import Testing
@testable import VigilKafka

@Suite("Configuration translation")
struct KafkaConfigurationTests {
    let client = KafkaClientOptions(bootstrapServers: ["127.0.0.1:1", "127.0.0.1:2"], clientID: "c", statisticsInterval: .seconds(5))

    @Test func consumerSettingsBecomeLibrdkafkaProperties() {
        let configuration = KafkaConsumerConfiguration(
            client: client,
            groupID: "g",
            offsetReset: .latest,
            isolationLevel: .readCommitted,
            assignmentStrategy: .cooperativeSticky,
            commitMode: .automatic(interval: .milliseconds(2500)),
            sessionTimeout: .seconds(6),
            maxPollInterval: .milliseconds(7000)
        )
        let p = configuration.librdkafkaProperties()
        #expect(p["bootstrap.servers"] == "127.0.0.1:1,127.0.0.1:2")
        #expect(p["client.id"] == "c")
        #expect(p["statistics.interval.ms"] == "5000")
        #expect(p["group.id"] == "g")
        #expect(p["auto.offset.reset"] == "latest")
        #expect(p["isolation.level"] == "read_committed")
        #expect(p["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(p["enable.auto.offset.store"] == "false")
        #expect(p["enable.auto.commit"] == "true")
        #expect(p["auto.commit.interval.ms"] == "2500")
        #expect(p["session.timeout.ms"] == "6000")
        #expect(p["max.poll.interval.ms"] == "7000")
        #expect(p["group.instance.id"] == nil)
    }

    /// librdkafka's own 1 s would leave a consumer that reads a little slower than the broker delivers with empty
    /// polls for most of each second (BENCHMARKS.md); a config's properties still override it.
    @Test func aFullPrefetchQueueIsRetriedAfterMillisecondsNotASecond() {
        #expect(KafkaConsumerConfiguration(client: client, groupID: "g").librdkafkaProperties()["fetch.queue.backoff.ms"] == "10")
        let overridden = KafkaConsumerConfiguration(client: client, groupID: "g", properties: ["fetch.queue.backoff.ms": "500"])
        #expect(overridden.librdkafkaProperties()["fetch.queue.backoff.ms"] == "500")
    }

    @Test func manualCommitTurnsAutoCommitOff() {
        let p = KafkaConsumerConfiguration(client: client, groupID: "g", commitMode: .manual).librdkafkaProperties()
        #expect(p["enable.auto.commit"] == "false")
        #expect(p["auto.commit.interval.ms"] == nil)
    }

    @Test func passthroughPropertiesOverrideTypedSettings() {
        let configuration = KafkaConsumerConfiguration(
            client: client,
            groupID: "typed",
            properties: ["group.id": "passthrough", "fetch.max.bytes": "1048576"]
        )
        let p = configuration.librdkafkaProperties()
        #expect(p["group.id"] == "passthrough")
        #expect(p["fetch.max.bytes"] == "1048576")
    }

    @Test func producerIsIdempotentByDefaultAndTransactionsImplyIt() {
        let plain = KafkaProducerConfiguration(client: client).librdkafkaProperties()
        #expect(plain["enable.idempotence"] == "true")
        #expect(plain["acks"] == "all")
        #expect(plain["transactional.id"] == nil)

        let transactional = KafkaProducerConfiguration(
            client: client,
            idempotence: false,
            transactionalID: "tx",
            transactionTimeout: .seconds(20),
            compression: .zstd,
            linger: .microseconds(2500)
        ).librdkafkaProperties()
        #expect(transactional["enable.idempotence"] == "true")
        #expect(transactional["transactional.id"] == "tx")
        #expect(transactional["transaction.timeout.ms"] == "20000")
        #expect(transactional["compression.codec"] == "zstd")
        #expect(transactional["linger.ms"] == "2")
        #expect(transactional["message.timeout.ms"] == "20000", "capped by the transaction timeout")
    }

    @Test func durationsRoundDownToWholeMilliseconds() {
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(999).wholeMilliseconds == 0)
        #expect(Duration.seconds(3).wholeMilliseconds == 3000)
        #expect(Duration.seconds(Int64.max / 2000).timeoutMilliseconds == Int32.max)
    }

    @Test func librdkafkaRefusesAnUnknownPropertyByName() {
        let configuration = KafkaConsumerConfiguration(client: client, groupID: "g", properties: ["no.such.property": "1"])
        #expect {
            _ = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .configuration && error.message.contains("no.such.property")
        }
    }

    @Test func librdkafkaRefusesABadValueByName() {
        let configuration = KafkaProducerConfiguration(client: client, properties: ["acks": "sometimes"])
        #expect {
            _ = try KafkaProducer(configuration: configuration, logger: TestBroker.logger)
        } throws: { error in
            (error as? KafkaError)?.message.contains("acks=sometimes") == true
        }
    }
}
