import Foundation
import Testing
import VigilDaemon
import VigilKafka

@Suite("vigil tail")
struct TailTests {
    static let alert = #"""
        {"alert_id":"alert-e-1","event_id":"e-1","entities":{"card":"card-7","merchant":"m-3"},"event_time":"2026-01-01T00:00:05.000Z",
         "detected_at":"2026-01-01T00:00:05.120Z","score":0.98765,"percentile":99.95,"detectors":{"hst":0.97,"amount_z":0.99},
         "explanation":[{"feature":"amount","value":912.5,"contribution":8.25,"detector":"amount_z"},
                        {"feature":"card.amount_ratio_24h","value":11.2,"contribution":0.51,"detector":"hst"},
                        {"feature":"card.new_country_30d","value":1,"contribution":0.33,"rule":"takeover_abroad"},
                        {"feature":"card.tx_count_5m","value":1,"contribution":0.01,"detector":"hst"}],
         "rules":["takeover_abroad"],"features":{},"config_version":3}
        """#

    @Test func oneReadableLinePerAlertWithTheTopThreeReasons() {
        let line = AlertLine.format(Data(Self.alert.utf8))
        #expect(line == "2026-01-01T00:00:05.000Z  card=card-7 merchant=m-3  score 0.9877 p99.95  rules [takeover_abroad]  "
            + "because amount=912.5 (8.25); card.amount_ratio_24h=11.2 (0.51); card.new_country_30d=1 (0.33)")
    }

    @Test func anUnreadableRecordIsShownAsItIs() {
        #expect(AlertLine.format(Data("not json".utf8)) == "(unreadable alert) not json")
    }

    /// The command against the broker: `--from-beginning --no-follow` prints what the topic holds and stops;
    /// `--json` prints the records unchanged.
    @Test(.timeLimit(.minutes(2)))
    func theCommandPrintsTheTopicAndStopsWhenCaughtUp() throws {
        let topic = Broker.unique("tail")
        try KafkaAdmin(client: Broker.options(), logger: Broker.logger).createTopics([KafkaTopicSpecification(name: topic, partitions: 1)])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        let compact = Self.alert.replacingOccurrences(of: "\n", with: "")
        for i in 0..<3 {
            let record = compact.replacingOccurrences(of: "\"e-1\"", with: "\"e-\(i + 10)\"")
            try producer.produce(topic: topic, key: Array("card-7".utf8), value: Array(record.utf8), blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(20))

        let broker = try Broker.address()
        let readable = try Shell.run("'\(Shell.vigil)' tail --brokers \(broker) --topic \(topic) --from-beginning --no-follow", standardError: false)
        #expect(readable.status == 0)
        let lines = readable.output.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.contains("card=card-7") && $0.contains("because amount=912.5 (8.25)") })

        let raw = try Shell.run("'\(Shell.vigil)' tail --brokers \(broker) --topic \(topic) --from-beginning --json --limit 2", standardError: false)
        #expect(raw.status == 0)
        let records = raw.output.split(separator: "\n")
        #expect(records.count == 2)
        #expect(records.first.map(String.init) == compact.replacingOccurrences(of: "\"e-1\"", with: "\"e-10\""))
    }
}
