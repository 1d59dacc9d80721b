import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilModels

@Suite("Shadow detectors in config, records and replay")
struct ShadowDetectorConfigTests {
    private let base = """
        kafka: { brokers: "x:1", input_topics: [t], alerts_topic: a, dead_letter_topic: d }
        event:
          id: id
          time: { field: ts, format: epoch_ms }
          entities: { card: card }
          numeric: [x]
          label: anomaly
        alerting: { threshold_percentile: 99, calibration_warmup: 100, cooldown: 0s }
        detectors:

        """

    @Test func anyDetectorCanBeMarkedShadowAndAMistakeIsRefusedWithItsPath() throws {
        let config = try VigilConfiguration.load(yaml: base + """
              - { name: z, type: robust_zscore, field: x, shadow: true }
              - { name: h, type: half_space_trees, inputs: [x], shadow: true }
              - { name: r, type: random_cut_forest, inputs: [x], shadow: false }
              - { name: f, type: ftrl, inputs: [x], shadow: true }
            """)
        #expect(config.detectors.map(\.shadow) == [true, true, false, true])
        do {
            _ = try VigilConfiguration.load(yaml: base + "  - { name: z, type: robust_zscore, field: x, shadow: maybe }\n")
            Issue.record("a non-boolean shadow was accepted")
        } catch {
            #expect(error.errors.contains { $0.path == "detectors[0].shadow" && $0.message.contains("true or false") })
        }
    }

    @Test func aReloadMaySwitchShadowButNotAModelsKeying() throws {
        let running = try VigilConfiguration.load(yaml: base + "  - { name: h, type: half_space_trees, inputs: [x], shadow: true }\n")
        let promoted = try VigilConfiguration.load(yaml: base + "  - { name: h, type: half_space_trees, inputs: [x] }\n")
        #expect(running.changesNeedingRestart(to: promoted).isEmpty)
        let keyed = try VigilConfiguration.load(yaml: base + "  - { name: h, type: half_space_trees, inputs: [x], entity: card }\n")
        #expect(running.changesNeedingRestart(to: keyed) == ["detectors (other than weight and shadow)"])
    }

    @Test func recordsNameTheShadowDetectorsOnlyWhenThereAreSome() throws {
        let shadowed = try VigilConfiguration.load(yaml: base + """
              - { name: live, type: robust_zscore, field: x }
              - { name: candidate, type: robust_zscore, field: x, shadow: true }
            """)
        let plain = try VigilConfiguration.load(yaml: base + "  - { name: live, type: robust_zscore, field: x }\n")
        var writer = JSONWriter()
        let scored = ScoredEvent(event: Event(), features: .undefined, result: DetectionResult(), sequence: 0)
        OutputRecords(config: shadowed).writeScore(scored, to: &writer)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: Any])
        #expect(object["shadow_detectors"] as? [String] == ["candidate"])
        #expect((object["detectors"] as? [String: Any])?.keys.sorted() == ["candidate", "live"])
        OutputRecords(config: plain).writeScore(scored, to: &writer)
        let plainObject = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: Any])
        #expect(plainObject["shadow_detectors"] == nil)
    }

    @Test func replayReportsWhatTheShadowWouldHaveAlertedOn() throws {
        let config = try VigilConfiguration.load(yaml: base + """
              - { name: live, type: robust_zscore, field: x, window: 32, min_samples: 8 }
              - { name: candidate, type: half_space_trees, inputs: [x], trees: 10, height: 6, window: 50, warmup: 100, shadow: true }
            """)
        var lines: [String] = []
        for i in 0..<3000 {
            let anomalous = i > 1000 && i % 100 == 0
            let x = anomalous ? 50.0 : Double(i % 17) / 17
            lines.append(#"{"id":"s\#(i)","ts":\#(1_767_225_600_000 + i),"card":"c\#(i % 5)","x":\#(x),"anomaly":\#(anomalous ? 1 : 0)}"#)
        }
        let path = NSTemporaryDirectory() + "shadow-\(UUID().uuidString.prefix(6)).jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let report = try Replay(config: config).run(input: path)
        let shadow = try #require(report.shadow.first)
        #expect(report.shadow.count == 1 && shadow.name == "candidate")
        #expect(shadow.wouldAlert > 0 && shadow.decisions.truePositives > 0, "the planted outliers: \(shadow.decisions)")
        #expect(report.detectors.map(\.name) == ["live", "candidate"], "ranking metrics for both")
    }
}
