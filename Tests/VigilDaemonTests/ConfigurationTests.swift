import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilFeatures

private let minimal = """
    kafka:
      brokers: "127.0.0.1:9092"
      input_topics: [tx]
      alerts_topic: alerts
      dead_letter_topic: tx.dlq
    event:
      id: event_id
      time: { field: ts, format: epoch_ms }
      entities: { card: card_id }
      numeric: [amount]
    """

private func errors(_ yaml: String) -> [ConfigError] {
    do {
        _ = try VigilConfiguration.load(yaml: yaml)
        return []
    } catch {
        return error.errors
    }
}

/// The repository root, found from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Configuration")
struct ConfigurationTests {
    @Test func theShippedConfigLoads() throws {
        let config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        #expect(config.kafka.inputTopics == ["transactions"])
        #expect(config.kafka.scoresTopic == "scores")
        #expect(config.schema.entities.map(\.name) == ["card", "merchant"])
        #expect(config.features.count == 12)
        #expect(config.featureNames.contains("merchant.amount_mean_24h"))
        #expect(config.rules.map(\.name) == ["card_testing", "takeover_abroad", "velocity_spike"])
        #expect(config.detectors.map(\.name) == ["amount_z", "hst", "ftrl"])
        #expect(config.pipeline.workers == 2)
        #expect(config.maxLatenessMs == 30_000)
        #expect(config.features[3].window == .hopping(sizeMs: 86_400_000, hopMs: 3_600_000))
        #expect(config.tables[0].maxEventsPerKey == 32)
        #expect(config.policy.threshold == .percentile(99.9))
        #expect(config.policy.cooldownMs == 120_000)
    }

    @Test func aMinimalConfigGetsDefaults() throws {
        let config = try VigilConfiguration.load(yaml: minimal)
        #expect(config.kafka.groupID == "vigil")
        #expect(config.kafka.delivery == .atLeastOnce)
        #expect(config.features.isEmpty)
        #expect(config.policy.threshold == .percentile(99.9))
    }

    /// `pipeline.repartition` is off unless asked for; it is refused with exactly_once (the hop is at least once),
    /// and its internal topics are named after the group, one per secondary entity with features.
    @Test func repartitionIsOptInAndNamesItsTopicsAfterTheGroup() throws {
        #expect(try VigilConfiguration.load(yaml: minimal).pipeline.repartition == false)
        #expect(try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path).pipeline.repartition == false)
        let shipped = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path, encoding: .utf8)
        let on = try VigilConfiguration.load(yaml: shipped.replacingOccurrences(of: "  repartition: false ", with: "  repartition: true "))
        #expect(on.pipeline.repartition)
        let topics = RepartitionTopics(config: on)
        #expect(topics.requests == [1: "vigil-repartition-merchant"] && topics.replies == "vigil-secondary-features" && topics.stageGroup == "vigil-secondary")
        let refused = errors(minimal.replacingOccurrences(of: "  dead_letter_topic: tx.dlq", with: "  dead_letter_topic: tx.dlq\n  delivery: exactly_once") + "\npipeline:\n  repartition: true\n")
        #expect(refused.contains { $0.path == "pipeline.repartition" && $0.line == 13 && $0.message.contains("exactly_once") }, "\(refused)")
        #expect(errors(minimal + "\npipeline:\n  repartition: sometimes\n").contains { $0.path == "pipeline.repartition" })
        // The resend timeout: 5 s unless set; a duration of at least 100 ms.
        #expect(on.pipeline.repartitionResendAfterMs == 5000)
        #expect(try VigilConfiguration.load(yaml: minimal + "\npipeline:\n  repartition_resend_after: 2m\n").pipeline.repartitionResendAfterMs == 120_000)
        #expect(errors(minimal + "\npipeline:\n  repartition_resend_after: 10ms\n").contains { $0.path == "pipeline.repartition_resend_after" && $0.message.contains("at least 100ms") })
        #expect(errors(minimal + "\npipeline:\n  repartition_resend_after: soon\n").contains { $0.path == "pipeline.repartition_resend_after" && $0.message.contains("duration") })
    }

    @Test func unknownKeysAreRefusedWithPathAndLine() {
        let found = errors(minimal + "\n  colour: blue\nalerting:\n  treshold: 0.9\n")
        #expect(found.contains { $0.path == "event.colour" && $0.line == 11 && $0.message == "unknown key" })
        #expect(found.contains { $0.path == "alerting.treshold" && $0.line == 13 })
    }

    @Test func wrongTypesAndBadDurationsAreRefused() {
        let found = errors(minimal + """

              max_lateness: 30
            pipeline:
              workers: many
            alerting:
              cooldown: 5 minutes
              threshold: 2
            """)
        #expect(found.contains { $0.path == "event.max_lateness" && $0.line == 11 && $0.message.contains("duration") })
        #expect(found.contains { $0.path == "pipeline.workers" && $0.line == 13 && $0.message == "expected an integer" })
        #expect(found.contains { $0.path == "alerting.cooldown" && $0.line == 15 })
        #expect(found.contains { $0.path == "alerting.threshold" && $0.line == 16 && $0.message.contains("between 0") })
    }

    @Test func referencesToUndefinedEntitiesFieldsAndFeaturesAreRefused() {
        let found = errors(minimal + """

            features:
              - { name: c, entity: account, aggregate: count, window: 5m }
              - { name: s, entity: card, aggregate: sum, field: price, window: 5m }
              - { name: d, entity: card, aggregate: distinct, field: amount, window: 5m }
              - { name: l, entity: card, aggregate: last, field: amount, window: 5m }
              - { name: x, entity: card, aggregate: median, window: 5m }
            detectors:
              - { name: z, type: robust_zscore, field: price }
              - { name: h, type: isolation_forest, field: amount }
            rules:
              - name: r
                when: "card.unknown > 3"
            """)
        #expect(found.contains { $0.path == "features[0].entity" && $0.line == 12 && $0.message.contains("no entity 'account'") })
        #expect(found.contains { $0.path == "features[1].field" && $0.line == 13 && $0.message.contains("no field 'price'") })
        #expect(found.contains { $0.path == "features[2].field" && $0.line == 14 && $0.message.contains("categorical field") })
        #expect(found.contains { $0.path == "features[3].window" && $0.line == 15 })
        #expect(found.contains { $0.path == "features[4].aggregate" && $0.message.contains("unknown aggregate 'median'") })
        #expect(found.contains { $0.path == "detectors[0].field" && $0.line == 18 })
        #expect(found.contains { $0.path == "detectors[1].type" && $0.line == 19 })
        #expect(found.contains { $0.path == "rules[0].when" && $0.line == 22 && $0.message.contains("unknown feature or field 'card.unknown'") })
    }

    @Test func ruleErrorsPointAtTheColumnWithinTheLine() throws {
        let found = errors(minimal + "\nrules:\n  - { name: r, when: \"amount > > 3\" }\n")
        let error = try #require(found.first { $0.path == "rules[0].when" })
        #expect(error.line == 12)
        // The opening quote is at column 22, so the rule's text starts at 23; the second '>' is its 10th character.
        #expect(error.column == 32)
        let plain = errors(minimal + "\nrules:\n  - name: r\n    when: amount > > 3\n")
        // A plain scalar starts at column 11; the second '>' is at 11 + 9.
        #expect(plain.first { $0.path == "rules[0].when" }?.column == 20)
    }

    @Test func missingSectionsAndYAMLSyntaxErrorsAreReported() {
        #expect(errors("kafka: {brokers: x}\n").contains { $0.path == "event" && $0.message.contains("required") })
        #expect(errors("kafka: {brokers: x}\n").contains { $0.path == "kafka.input_topics" })
        let syntax = errors("kafka:\n  brokers: [unclosed\n")
        #expect(syntax.count == 1 && syntax[0].message.contains("not valid YAML") && syntax[0].line >= 2)
        #expect(errors("").first?.message == "the config is empty")
    }
}

@Suite("Detector configuration")
struct DetectorConfigurationTests {
    @Test func detectorsTakeFeaturesAndFieldsAsInputs() throws {
        let config = try VigilConfiguration.load(yaml: """
            kafka: { brokers: "x:1", input_topics: [t], alerts_topic: a, dead_letter_topic: d }
            event:
              id: id
              time: { field: ts }
              entities: { card: card_id }
              numeric: [amount, fee]
            features:
              - { name: mean_1h, entity: card, aggregate: mean, field: amount, window: 1h }
            detectors:
              - { name: z_feature, type: robust_zscore, input: card.mean_1h, entity: card }
              - { name: z_field, type: robust_zscore, field: fee }
              - { name: hst, type: half_space_trees, inputs: [amount, mean_1h], ranges: { amount: [0, 1000], mean_1h: [0, 1000] } }
              - { name: rcf, type: random_cut_forest, sampling: reservoir, shingle_size: 2 }
              - { name: ftrl, type: ftrl, inputs: [amount], min_labels: 5 }
            """)
        #expect(config.detectors.map(\.name) == ["z_feature", "z_field", "hst", "rcf", "ftrl"])
        #expect(config.detectors[0].kind == .robustZScore(input: .feature(0), entity: 0, window: 32, minSamples: 8))
        #expect(config.detectors[1].kind == .robustZScore(input: .numericField(1), entity: nil, window: 32, minSamples: 8))
        guard case .halfSpaceTrees(let inputs, _, _, _, let ranges, _, _, _) = config.detectors[2].kind else {
            Issue.record("not half-space trees")
            return
        }
        #expect(inputs == [.numericField(0), .feature(0)])
        #expect(ranges == [0...1000, 0...1000])
        guard case .randomCutForest(let rcfInputs, 50, 256, 2, .reservoir, _, _) = config.detectors[3].kind else {
            Issue.record("not the expected forest: \(config.detectors[3].kind)")
            return
        }
        #expect(rcfInputs == [.numericField(0), .numericField(1)], "every numeric field when no inputs are listed")
    }

    @Test func detectorMistakesAreRefusedWithTheirPath() {
        let base = """
            kafka: { brokers: "x:1", input_topics: [t], alerts_topic: a, dead_letter_topic: d }
            event:
              id: id
              time: { field: ts }
              numeric: [amount]
            detectors:

            """
        func errors(_ detector: String) -> [ConfigError] {
            do {
                _ = try VigilConfiguration.load(yaml: base + "  - " + detector + "\n")
                return []
            } catch { return error.errors }
        }
        #expect(errors("{ name: h, type: half_space_trees, inputs: [nope] }").contains { $0.path == "detectors[0].inputs[0]" })
        #expect(errors("{ name: h, type: half_space_trees, ranges: { amount: [5, 1] } }").contains { $0.path == "detectors[0].ranges.amount" })
        #expect(errors("{ name: r, type: random_cut_forest, sampling: sometimes }").contains { $0.path == "detectors[0].sampling" })
        #expect(errors("{ name: r, type: random_cut_forest, entity: card }").contains { $0.path == "detectors[0].entity" && $0.message.contains("no entity 'card'") })
        #expect(errors("{ name: h, type: half_space_trees, max_keys: 10 }").contains { $0.path == "detectors[0].max_keys" })
        #expect(errors("{ name: z, type: robust_zscore, input: nothing }").contains { $0.path == "detectors[0].input" })
    }

    /// Forest detectors can be kept per key: smaller default models, a key limit, a memory bound; FTRL stays
    /// global with a reason.
    @Test func forestsCanBeKeptPerEntity() throws {
        let base = """
            kafka: { brokers: "x:1", input_topics: [t], alerts_topic: a, dead_letter_topic: d }
            event:
              id: id
              time: { field: ts }
              entities: { card: card_id, merchant: merchant_id }
              numeric: [amount]
            state:
              card: { max_keys: 500, ttl: 2h }
            detectors:

            """
        let config = try VigilConfiguration.load(yaml: base + """
              - { name: card_hst, type: half_space_trees, entity: card }
              - { name: merchant_rcf, type: random_cut_forest, entity: merchant, max_keys: 200 }
              - { name: global_hst, type: half_space_trees }
            """)
        #expect(config.detectors[0].perEntity == .init(entity: 0, maxKeys: 500, ttlMs: 7_200_000), "the entity's own bounds by default")
        guard case .halfSpaceTrees(_, 10, 8, 32, nil, 16, _, _) = config.detectors[0].kind else {
            Issue.record("per-key defaults expected: \(config.detectors[0].kind)")
            return
        }
        #expect(config.detectors[0].runsOnWorkers(primaryEntity: 0))
        #expect(config.detectors[1].perEntity?.entity == 1 && config.detectors[1].perEntity?.maxKeys == 200)
        #expect(!config.detectors[1].runsOnWorkers(primaryEntity: 0), "a secondary entity's models run on the ordered stage")
        guard case .randomCutForest(_, 10, 32, 1, _, 16, _) = config.detectors[1].kind else {
            Issue.record("per-key forest defaults expected: \(config.detectors[1].kind)")
            return
        }
        #expect(config.detectors[2].perEntity == nil)
        guard case .halfSpaceTrees(_, 25, 15, 250, nil, 1000, _, _) = config.detectors[2].kind else {
            Issue.record("global defaults expected")
            return
        }

        func errors(_ detector: String) -> [ConfigError] {
            do {
                _ = try VigilConfiguration.load(yaml: base + "  - " + detector + "\n")
                return []
            } catch { return error.errors }
        }
        let huge = errors("{ name: big, type: random_cut_forest, entity: merchant, trees: 100, sample_size: 1000, max_keys: 1000000 }")
        #expect(huge.contains { $0.path == "detectors[0]" && $0.message.contains("MiB") }, "\(huge)")
        let ftrl = errors("{ name: f, type: ftrl, entity: card, inputs: [amount] }")
        #expect(ftrl.contains { $0.path == "detectors[0].entity" && $0.message.contains("global") }, "\(ftrl)")
    }
}
