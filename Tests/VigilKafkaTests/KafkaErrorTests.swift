import Testing
@testable import VigilKafka

@Suite("Error mapping")
struct KafkaErrorTests {
    @Test func clientSideCodesCarryLibrdkafkaNames() {
        let error = KafkaError(librdkafkaCode: KafkaError.Code.timedOut.rawValue)
        #expect(error.name == "_TIMED_OUT")
        #expect(error.code == .timedOut)
        #expect(error.isRetriable)
        #expect(!error.isFatal)
        #expect(error.message.lowercased().contains("timed out"))
    }

    @Test func brokerCodesCarryLibrdkafkaNames() {
        let error = KafkaError(librdkafkaCode: 3)
        #expect(error.name == "UNKNOWN_TOPIC_OR_PART")
        #expect(error.code == .unknownTopicOrPartition)
        #expect(!error.isRetriable)
        #expect(KafkaError(librdkafkaCode: 36).name == "TOPIC_ALREADY_EXISTS")
    }

    @Test func fatalCodeIsFatal() {
        let error = KafkaError(librdkafkaCode: KafkaError.Code.fatal.rawValue)
        #expect(error.name == "_FATAL")
        #expect(error.isFatal)
    }

    @Test func aSpecificMessageReplacesTheGenericOne() {
        let error = KafkaError(librdkafkaCode: KafkaError.Code.queueFull.rawValue, message: "local queue is full: 1000000 messages")
        #expect(error.name == "_QUEUE_FULL")
        #expect(error.message == "local queue is full: 1000000 messages")
        #expect(error.description.contains("_QUEUE_FULL (-184)"))
        #expect(error.description.contains("retriable"))
    }

    @Test func errorsRecordWhereTheyWereRaised() {
        let error = KafkaError(librdkafkaCode: -196)
        #expect(error.file.hasSuffix("KafkaErrorTests.swift"))
        #expect(error.line > 0)
    }
}
