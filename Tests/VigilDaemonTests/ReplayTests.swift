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
        defer { try? FileManager.default.removeItem(atPath: path) }
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
        // Online and offline records carry the feature vectors too, so the comparison covers them.
        fixture.config.kafka.scoresFeatures = true
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
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: output)
        }
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
        let sample = try JSONSerialization.jsonObject(with: Data(online[0].value ?? [])) as? [String: Any]
        #expect((sample?["features"] as? [String: Any])?.count == fixture.config.features.count, "every record carries the vector")
    }

    /// Training data: each event's vector as of that event. Replaying only a prefix of the stream gives the prefix's
    /// last event the same vector as the whole stream does (nothing later leaks in), and the JSON-lines and CSV
    /// forms and the score records' `features` agree.
    @Test func featuresOutIsPointInTimeCorrectInBothFormats() throws {
        var config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        config.kafka.scoresFeatures = true
        var options = TransactionGenerator.Options()
        options.seed = 12
        options.cards = 50
        options.merchants = 20
        options.eventsPerSecond = 5
        var generator = TransactionGenerator(options: options)
        let lines = (0..<2_000).map { _ in generator.next().json }
        let directory = NSTemporaryDirectory() + "features-\(UUID().uuidString.prefix(6))/"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        func replay(_ count: Int) throws -> (vectors: [[String: Any]], csv: [String], scores: [[String: Any]], jsonl: [String]) {
            let input = directory + "in-\(count).jsonl"
            try lines.prefix(count).joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let replay = Replay(config: config)
            _ = try replay.run(input: input, output: input + ".scores", featuresOut: input + ".features.jsonl", featuresFormat: .jsonLines)
            _ = try replay.run(input: input, featuresOut: input + ".features.csv", featuresFormat: .csv)
            func objects(_ path: String) throws -> [[String: Any]] {
                try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
                    try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
                }
            }
            let csv = try String(contentsOfFile: input + ".features.csv", encoding: .utf8).split(separator: "\n").map(String.init)
            let jsonl = try String(contentsOfFile: input + ".features.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
            return (try objects(input + ".features.jsonl"), csv, try objects(input + ".scores"), jsonl)
        }

        let whole = try replay(lines.count)
        #expect(whole.vectors.count == lines.count && whole.csv.count == lines.count + 1)
        #expect(whole.vectors.allSatisfy { $0["label"] is Int }, "the generator labels every event")
        let header = whole.csv[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for (i, vector) in whole.vectors.enumerated() where i % 97 == 0 {
            let features = try #require(vector["features"] as? [String: Any])
            let recorded = try #require(whole.scores[i]["features"] as? [String: Any])
            for name in config.featureNames {
                // Score records round to six decimals; the training data keeps full precision.
                let (a, b) = (features[name] as? Double, recorded[name] as? Double)
                #expect(a == nil ? b == nil : abs(a! - (b ?? .nan)) <= 5e-7, "\(name) of event \(i): \(String(describing: a)) vs \(String(describing: b))")
            }
            let row = whole.csv[i + 1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            for name in config.featureNames {
                let cell = row[try #require(header.firstIndex(of: name))]
                // The number as written (Foundation's JSON parser is not exact to the last digit).
                let text = try #require(whole.jsonl[i].components(separatedBy: "\"\(name)\":").dropFirst().first)
                let written = String(text.prefix { $0 != "," && $0 != "}" })
                #expect(cell.isEmpty ? written == "null" : Double(cell) == Double(written), "\(name) of event \(i): csv \(cell), jsonl \(written)")
            }
        }
        for cut in [1, 150, 999, 1_600] {
            let prefix = try replay(cut)
            let last = try #require(prefix.vectors.last?["features"] as? [String: Any])
            let same = try #require(whole.vectors[cut - 1]["features"] as? [String: Any])
            #expect(NSDictionary(dictionary: last).isEqual(to: same), "event \(cut - 1) without the events after it")
        }
    }
}
