import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

@Suite("Replay", .serialized)
struct ReplayTests {
    @Test func aConfigWithOnlyNumericFieldsAndDetectorsScoresAnyNumericStream() throws {
        let config = try VigilConfiguration.load(yaml: """
            kafka: { brokers: "x:1", input_topics: [t], alerts_topic: a, dead_letter_topic: d }
            event:
              id: id
              time: { field: ts, format: epoch_ms }
              numeric: [x, y]
              label: anomaly
            detectors:
              - { name: hst, type: half_space_trees, trees: 10, height: 6, window: 50, warmup: 100 }
            alerting: { threshold_percentile: 99, calibration_warmup: 100 }
            """)
        #expect(config.schema.entities.isEmpty)
        var lines: [String] = []
        for i in 0..<3000 {
            let anomalous = i > 1000 && i % 100 == 0
            let x = anomalous ? 9.0 : Double(i % 17) / 17
            let y = anomalous ? -7.0 : Double(i % 13) / 13
            lines.append(#"{"id":"r\#(i)","ts":\#(1_767_225_600_000 + i),"x":\#(x),"y":\#(y),"anomaly":\#(anomalous ? 1 : 0)}"#)
        }
        let path = NSTemporaryDirectory() + "numeric-\(UUID().uuidString.prefix(6)).jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let report = try Replay(config: config).run(input: path)
        #expect(report.events == 3000)
        #expect(report.labelled == 3000)
        let hst = try #require(report.detectors.first?.metrics)
        #expect(hst.rocAUC > 0.95, "the planted outliers rank high: \(hst.rocAUC)")
        // Identical outliers every 100 events become less surprising as the trees learn them; many are still caught.
        #expect(report.decisions.recall > 0.3, "recall \(report.decisions.recall)")
    }

    /// The daemon's scores topic and `vigil replay` agree byte for byte on the same stream (one input
    /// partition, so both see the same order).
    @Test(.timeLimit(.minutes(3)))
    func replayEqualsTheDaemonsScoresTopic() throws {
        var fixture = try DaemonFixture(prefix: "replay", partitions: 1)
        var options = TransactionGenerator.Options()
        options.seed = 33
        options.cards = 400
        options.merchants = 100
        options.fraudRate = 0.03
        options.eventsPerSecond = 20
        var generator = TransactionGenerator(options: options)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        var lines: [String] = []
        for _ in 0..<6_000 {
            let t = generator.next()
            lines.append(t.json)
            fixture.ids.append(t.eventID)
            try producer.produce(topic: fixture.config.kafka.inputTopics[0], key: Array(t.key.utf8), value: Array(t.json.utf8), blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(60))
        let path = NSTemporaryDirectory() + "replay-\(UUID().uuidString.prefix(6)).jsonl"
        let output = path + ".scores"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        _ = try Replay(config: fixture.config).run(input: path, output: output)
        var offline: [String: String] = [:]
        for line in try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            offline[object?["event_id"] as? String ?? ""] = String(line)
        }

        let service = try VigilService(config: fixture.config, logger: Broker.logger)
        try service.start()
        service.waitUntilScored(6_000, within: .seconds(90))
        service.requestStop()
        service.waitUntilStopped()

        let online = try Broker.readAll(fixture.config.kafka.scoresTopic!, expecting: 6_000)
        #expect(online.count == 6_000)
        var differing = 0
        var alerts = 0
        for message in online {
            let text = String(decoding: message.value ?? [], as: UTF8.self)
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            let id = object?["event_id"] as? String ?? ""
            if offline[id] != text { differing += 1 }
            if object?["alert"] as? Bool == true { alerts += 1 }
        }
        #expect(differing == 0, "\(differing) of \(online.count) records differ")
        #expect(alerts > 0)
    }
}
