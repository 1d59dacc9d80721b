import Testing
import VigilKafka

@Suite("librdkafka statistics")
struct KafkaStatisticsTests {
    /// A consumer document shaped like librdkafka 2.8's (STATISTICS.md), trimmed to the fields Vigil reads plus
    /// a few it ignores: the bootstrap broker (nodeid -1) and the internal partition -1 are left out.
    static let consumerDocument = """
        {"name":"vigil#consumer-1","client_id":"vigil","type":"consumer","ts":123,"time":1700000000,"replyq":3,
         "msg_cnt":0,"msg_size":0,"msg_max":100000,
         "brokers":{
           "127.0.0.1:9092/bootstrap":{"name":"127.0.0.1:9092/bootstrap","nodeid":-1,"outbuf_cnt":0,"waitresp_cnt":0,"rtt":{"avg":0,"p99":0}},
           "127.0.0.1:9092/1":{"name":"127.0.0.1:9092/1","nodeid":1,"state":"UP","outbuf_cnt":2,"waitresp_cnt":1,
                               "rtt":{"min":100,"max":900,"avg":250,"p50":200,"p99":875}}},
         "topics":{"tx":{"topic":"tx","partitions":{
           "0":{"partition":0,"consumer_lag":42,"fetchq_cnt":7,"msgq_cnt":0,"xmit_msgq_cnt":0},
           "1":{"partition":1,"consumer_lag":-1,"fetchq_cnt":0},
           "-1":{"partition":-1,"consumer_lag":-1,"fetchq_cnt":0}}}},
         "cgrp":{"state":"up"}}
        """

    @Test func consumerLagRoundTripsAndQueuesAreRead() throws {
        let statistics = try KafkaStatistics(json: Self.consumerDocument)
        #expect(statistics.clientName == "vigil#consumer-1")
        #expect(statistics.clientType == "consumer")
        #expect(statistics.replyQueue == 3)
        #expect(statistics.brokers.count == 1)
        let broker = try #require(statistics.brokers.first)
        #expect(broker.name == "127.0.0.1:9092/1")
        #expect(broker.rttAverage == 0.000250)
        #expect(broker.rttP99 == 0.000875)
        #expect(broker.requestsQueued == 2 && broker.requestsInFlight == 1)
        #expect(statistics.partitions.map(\.partition) == [0, 1])
        #expect(statistics.partitions[0].consumerLag == 42)
        #expect(statistics.partitions[0].fetchQueue == 7)
        #expect(statistics.partitions[1].consumerLag == nil, "-1 means not known yet")
    }

    @Test func producerQueuesAreRead() throws {
        let json = #"{"name":"vigil#producer-2","type":"producer","replyq":0,"msg_cnt":12,"msg_size":3400,"brokers":{},"topics":{}}"#
        let statistics = try KafkaStatistics(json: json)
        #expect(statistics.queuedMessages == 12)
        #expect(statistics.queuedBytes == 3400)
        #expect(statistics.partitions.isEmpty)
    }

    @Test func aBrokenDocumentIsAnError() {
        #expect(throws: (any Error).self) { try KafkaStatistics(json: "{\"name\":") }
    }
}
