public import Foundation
import VigilCore
import VigilFeatures
import VigilModels
import Yams

extension VigilConfiguration {
    /// Reads and validates a config file.
    ///
    /// - Throws: `ConfigErrors` listing every problem with its key path and line, or the file-system error.
    public static func load(file path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> VigilConfiguration {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try load(yaml: text, environment: environment)
    }

    /// Parses and validates config text; `${NAME}` in values reads the environment variable `NAME`.
    public static func load(yaml text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigErrors) -> VigilConfiguration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigErrors(errors: [ConfigError(path: "", line: 1, message: "the config is empty")])
            }
            root = node
        } catch let errors as ConfigErrors {
            throw errors
        } catch let error as YamlError {
            throw ConfigErrors(errors: [yamlError(error)])
        } catch {
            throw ConfigErrors(errors: [ConfigError(path: "", line: 0, message: "\(error)")])
        }
        let reader = ConfigReader()
        let substituted = EnvironmentSubstitution.apply(to: root, path: "", environment: environment, reader: reader)
        guard let top = reader.mapping("", substituted) else { throw ConfigErrors(errors: reader.errors) }
        let config = build(top, reader)
        top.finish()
        guard reader.errors.isEmpty, let config else {
            throw ConfigErrors(errors: reader.errors.sorted { ($0.line, $0.column, $0.path) < ($1.line, $1.column, $1.path) })
        }
        return config
    }

    private static func yamlError(_ error: YamlError) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return ConfigError(path: "", line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
        default:
            return ConfigError(path: "", line: 0, message: "not valid YAML: \(error)")
        }
    }

    private static func build(_ top: ConfigReader.Mapping, _ reader: ConfigReader) -> VigilConfiguration? {
        let kafka = readKafka(top.mapping("kafka", required: true), reader)
        guard let eventSection = top.mapping("event", required: true) else {
            _ = ["features", "detectors", "rules", "alerting", "state", "pipeline", "http", "logging", "checkpoints"].map { top.node($0) }
            return nil
        }
        let (schemaRead, maxLateness) = readEvent(eventSection, reader)
        guard let schema = schemaRead else { return nil }
        let state = top.mapping("state")
        var tables: [EntityTableSpec] = []
        for entity in schema.entities {
            var table = EntityTableSpec(name: entity.name)
            if let section = state?.mapping(entity.name) {
                table.maxKeys = section.int("max_keys", default: table.maxKeys, range: 1...100_000_000)
                table.ttlMs = section.duration("ttl", default: table.ttlMs) ?? table.ttlMs
                table.maxEventsPerKey = section.int("max_events_per_key", default: table.maxEventsPerKey, range: 1...100_000)
                table.maxDistinctExact = section.int("max_distinct_exact", default: table.maxDistinctExact, range: 1...4096)
                section.finish()
            }
            tables.append(table)
        }
        if let state {
            for entry in state.entries where !schema.entities.contains(where: { $0.name == entry.key }) {
                _ = state.node(entry.key)
                reader.fail(state.child(entry.key), entry.keyNode, "no entity '\(entry.key)' is declared under event.entities")
            }
        }

        var config = VigilConfiguration(
            schema: schema,
            tables: tables,
            pipeline: Pipeline(workers: max(1, ProcessInfo.processInfo.activeProcessorCount))
        )
        config.kafka = kafka
        config.maxLatenessMs = maxLateness
        config.features = readFeatures(top, schema, reader)
        config.detectors = readDetectors(top, config, reader)
        config.rules = readRules(top, config, reader)
        config.policy = readAlerting(top.mapping("alerting"), reader)
        if let pipeline = top.mapping("pipeline") {
            config.pipeline.workers = pipeline.int("workers", default: config.pipeline.workers, range: 1...256)
            config.pipeline.ringCapacity = pipeline.int("ring_capacity", default: config.pipeline.ringCapacity, range: 16...1 << 22)
            config.pipeline.pollBatch = pipeline.int("poll_batch", default: config.pipeline.pollBatch, range: 1...100_000)
            config.pipeline.commitIntervalMs = pipeline.duration("commit_interval", default: config.pipeline.commitIntervalMs) ?? 1000
            config.pipeline.repartition = pipeline.bool("repartition", default: false)
            if let resend = pipeline.duration("repartition_resend_after", default: config.pipeline.repartitionResendAfterMs) {
                if resend >= 100 {
                    config.pipeline.repartitionResendAfterMs = resend
                } else {
                    reader.fail(pipeline.child("repartition_resend_after"), pipeline.node("repartition_resend_after"), "must be at least 100ms")
                }
            }
            if config.pipeline.repartition, config.kafka.delivery == .exactlyOnce {
                reader.fail(pipeline.child("repartition"), pipeline.node("repartition"), "not available with kafka.delivery: exactly_once yet (the repartition hop is at least once)")
            }
            pipeline.finish()
        }
        if let section = top.mapping("checkpoints") {
            config.checkpoints.topic = section.string("topic", default: config.checkpoints.topic) ?? config.checkpoints.topic
            if section.node("interval")?.scalar?.string == "off" {
                config.checkpoints.intervalMs = nil
            } else if let interval = section.duration("interval", default: config.checkpoints.intervalMs) {
                if interval < 1000 { reader.fail(section.child("interval"), section.node("interval"), "at least 1s (or off)") }
                config.checkpoints.intervalMs = interval
            }
            section.finish()
        }
        if let section = top.mapping("logging") {
            config.logging = readLogging(section, reader)
        }
        if let http = top.mapping("http") {
            config.httpListen = http.string("listen", default: config.httpListen) ?? config.httpListen
            if let token = http.string("admin_token"), !token.isEmpty {
                if token.count < 16 { reader.fail(http.child("admin_token"), http.node("admin_token"), "at least 16 characters") }
                config.adminToken = token
            }
            http.finish()
        }
        return config
    }

    private static func readLogging(_ section: ConfigReader.Mapping, _ reader: ConfigReader) -> Logging {
        var logging = Logging()
        if let format = section.string("format") {
            if let value = LogFormat(rawValue: format) {
                logging.format = value
            } else {
                reader.fail(section.child("format"), section.node("format"), "must be one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let level = section.string("level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if levels.contains(level) {
                logging.level = level
            } else {
                reader.fail(section.child("level"), section.node("level"), "must be one of \(levels.joined(separator: ", "))")
            }
        }
        if section.node("rate_limit")?.scalar?.string == "off" {
            logging.rateLimitBurst = nil
        } else if let limit = section.mapping("rate_limit") {
            logging.rateLimitBurst = limit.int("burst", default: logging.rateLimitBurst ?? 10, range: 1...1_000_000)
            logging.rateLimitIntervalMs = limit.duration("interval", default: logging.rateLimitIntervalMs) ?? logging.rateLimitIntervalMs
            limit.finish()
        }
        section.finish()
        return logging
    }

    private static func readKafka(_ section: ConfigReader.Mapping?, _ reader: ConfigReader) -> Kafka {
        var kafka = Kafka()
        guard let section else { return kafka }
        kafka.brokers = section.string("brokers", required: true) ?? kafka.brokers
        kafka.groupID = section.string("group_id", default: kafka.groupID) ?? kafka.groupID
        kafka.inputTopics = section.stringList("input_topics", required: true)
        if section.has("input_topics"), kafka.inputTopics.isEmpty {
            reader.fail(section.child("input_topics"), section.node("input_topics"), "at least one input topic is needed")
        }
        kafka.alertsTopic = section.string("alerts_topic", required: true) ?? kafka.alertsTopic
        kafka.scoresTopic = section.string("scores_topic")
        kafka.scoresFeatures = section.bool("scores_features", default: false)
        kafka.deadLetterTopic = section.string("dead_letter_topic", required: true) ?? kafka.deadLetterTopic
        kafka.labelsTopic = section.string("labels_topic")
        if let delivery = section.string("delivery") {
            if let value = Delivery(rawValue: delivery) {
                kafka.delivery = value
            } else {
                reader.fail(section.child("delivery"), section.node("delivery"), "must be at_least_once or exactly_once")
            }
        }
        if section.node("statistics_interval")?.scalar?.string == "off" {
            kafka.statisticsIntervalMs = nil
        } else if let interval = section.duration("statistics_interval", default: kafka.statisticsIntervalMs) {
            kafka.statisticsIntervalMs = interval
        }
        if let properties = section.mapping("properties") {
            for entry in properties.entries {
                guard let value = properties.string(entry.key) else { continue }
                kafka.properties[entry.key] = value
            }
        }
        section.finish()
        return kafka
    }

    private static func readEvent(_ section: ConfigReader.Mapping, _ reader: ConfigReader) -> (EventSchema?, Int64) {
        let id = section.string("id", required: true)
        var timeField: String?
        var format = EventSchema.TimeFormat.epochMilliseconds
        if let time = section.mapping("time", required: true) {
            timeField = time.string("field", required: true)
            if let text = time.string("format") {
                if let value = EventSchema.TimeFormat(rawValue: text) {
                    format = value
                } else {
                    reader.fail(time.child("format"), time.node("format"), "must be epoch_ms, epoch_s or iso8601")
                }
            }
            time.finish()
        }
        let lateness = section.duration("max_lateness", default: 30_000) ?? 30_000
        var entities: [(name: String, field: String)] = []
        // Entities are optional: without them every detector is global and any numeric stream can be scored.
        if section.has("entities"), section.node("entities")?.scalar?.string == "" {
            _ = section.node("entities")
        } else if let mapping = section.mapping("entities") {
            for entry in mapping.entries {
                if let field = mapping.string(entry.key) { entities.append((entry.key, field)) }
            }
            if entities.count > EventLimits.entities {
                reader.fail(mapping.path, mapping.node, "at most \(EventLimits.entities) entities are supported")
            }
        }
        let numeric = section.stringList("numeric")
        if numeric.count > EventLimits.numericFields {
            reader.fail(section.child("numeric"), section.node("numeric"), "at most \(EventLimits.numericFields) numeric fields are supported")
        }
        let categorical = section.stringList("categorical")
        if categorical.count > EventLimits.categoricalFields {
            reader.fail(section.child("categorical"), section.node("categorical"), "at most \(EventLimits.categoricalFields) categorical fields are supported")
        }
        let label = section.string("label")
        let maxBytes = section.int("max_message_bytes", default: 65_536, range: 64...10_000_000)
        var seen = Set<String>()
        for name in numeric + categorical where !seen.insert(name).inserted {
            reader.fail(section.path, section.node, "field '\(name)' is listed twice")
        }
        section.finish()
        guard let id, let timeField, entities.count <= EventLimits.entities,
            numeric.count <= EventLimits.numericFields, categorical.count <= EventLimits.categoricalFields
        else { return (nil, lateness) }
        return (
            EventSchema(
                idField: id,
                timeField: timeField,
                timeFormat: format,
                entities: Array(entities),
                numericFields: numeric,
                categoricalFields: categorical,
                labelField: label,
                maxMessageBytes: maxBytes
            ),
            lateness
        )
    }

    private static func readWindow(_ node: Node?, path: String, _ reader: ConfigReader) -> WindowSpec? {
        guard let node else { return WindowSpec.none }
        if let text = node.scalar?.string, node.mapping == nil {
            guard let size = DurationParser.milliseconds(text), size > 0 else {
                reader.fail(path, node, "expected a duration such as 5m (a sliding window) or a window mapping")
                return nil
            }
            return .sliding(sizeMs: size)
        }
        guard let window = reader.mapping(path, node) else { return nil }
        defer { window.finish() }
        let kind = window.string("kind", default: "sliding") ?? "sliding"
        switch kind {
        case "sliding", "tumbling", "hopping":
            guard let size = window.duration("size", default: nil, required: true), size > 0 else { return nil }
            if kind == "sliding" { return .sliding(sizeMs: size) }
            if kind == "tumbling" { return .tumbling(sizeMs: size) }
            guard let hop = window.duration("hop", default: nil, required: true), hop > 0 else { return nil }
            guard hop <= size, size % hop == 0 else {
                reader.fail(window.child("hop"), window.node("hop"), "the hop must divide the size")
                return nil
            }
            guard size / hop <= 1024 else {
                reader.fail(window.child("hop"), window.node("hop"), "at most 1024 hops per window")
                return nil
            }
            return .hopping(sizeMs: size, hopMs: hop)
        case "decayed":
            guard let halfLife = window.duration("half_life", default: nil, required: true), halfLife > 0 else { return nil }
            return .decayed(halfLifeMs: halfLife)
        default:
            reader.fail(window.child("kind"), window.node("kind"), "must be sliding, tumbling, hopping or decayed")
            return nil
        }
    }

    private static func readFeatures(_ top: ConfigReader.Mapping, _ schema: EventSchema, _ reader: ConfigReader) -> [FeatureSpec] {
        var features: [FeatureSpec] = []
        var names = Set<String>()
        for (path, node) in top.sequence("features") {
            guard let item = reader.mapping(path, node) else { continue }
            defer { item.finish() }
            guard let name = item.string("name", required: true) else { continue }
            guard let entityName = item.string("entity", required: true) else { continue }
            guard let entity = schema.entities.firstIndex(where: { $0.name == entityName }) else {
                reader.fail(item.child("entity"), item.node("entity"), "no entity '\(entityName)' is declared under event.entities")
                continue
            }
            if !names.insert("\(entityName).\(name)").inserted {
                reader.fail(item.child("name"), item.node("name"), "feature '\(entityName).\(name)' is defined twice")
            }
            guard let aggregateName = item.string("aggregate", required: true) else { continue }
            guard let aggregate = Aggregate(rawValue: aggregateName) else {
                let known = Aggregate.allCases.map(\.rawValue).joined(separator: ", ")
                reader.fail(item.child("aggregate"), item.node("aggregate"), "unknown aggregate '\(aggregateName)' (one of: \(known))")
                continue
            }
            var field = FieldReference.none
            if let fieldName = item.string("field") {
                if let i = schema.numericFields.firstIndex(of: fieldName) {
                    field = .numeric(i)
                } else if let i = schema.categoricalFields.firstIndex(of: fieldName) {
                    field = .categorical(i)
                } else {
                    reader.fail(item.child("field"), item.node("field"), "no field '\(fieldName)' is declared under event.numeric or event.categorical")
                    continue
                }
            }
            switch (aggregate.fieldKind, field) {
            case (.numeric, .numeric), (.categorical, .categorical), (.none, .none), (.none, .numeric):
                break
            case (.numeric, _):
                reader.fail(item.child("field"), item.node("field") ?? node, "\(aggregate.rawValue) needs a numeric field")
                continue
            case (.categorical, _):
                reader.fail(item.child("field"), item.node("field") ?? node, "\(aggregate.rawValue) needs a categorical field")
                continue
            default:
                reader.fail(item.child("field"), item.node("field") ?? node, "\(aggregate.rawValue) takes no categorical field")
                continue
            }
            guard let window = readWindow(item.node("window"), path: item.child("window"), reader) else { continue }
            guard aggregate.accepts(window) else {
                reader.fail(item.child("window"), item.node("window") ?? node, "\(aggregate.rawValue) cannot use a window of kind \(window)")
                continue
            }
            features.append(FeatureSpec(name: name, entity: entity, aggregate: aggregate, field: field, window: window))
        }
        if features.count > 64 { reader.fail("features", nil, "at most 64 features are supported") }
        return features
    }

    private static func readDetectors(_ top: ConfigReader.Mapping, _ config: VigilConfiguration, _ reader: ConfigReader) -> [DetectorSpec] {
        let schema = config.schema
        var detectors: [DetectorSpec] = []
        let resolve = resolver(config)
        for (path, node) in top.sequence("detectors") {
            guard let item = reader.mapping(path, node) else { continue }
            defer { item.finish() }
            guard let name = item.string("name", required: true), let type = item.string("type", required: true) else { continue }
            let weight = item.double("weight", default: 1, range: 0...1_000_000) ?? 1
            let shadow = item.bool("shadow", default: false)
            let appendedAt = detectors.count
            defer { if shadow, detectors.count > appendedAt { detectors[appendedAt].shadow = true } }
            if detectors.contains(where: { $0.name == name }) {
                reader.fail(item.child("name"), item.node("name"), "detector '\(name)' is defined twice")
            }
            switch type {
            case "robust_zscore":
                // One input: `field` (a numeric field) or `input` (a numeric field or a feature).
                let inputKey = item.has("input") ? "input" : "field"
                guard let inputName = item.string(inputKey, required: true) else { continue }
                let input: DetectorInput
                let operand = inputKey == "field" ? schema.numericFields.firstIndex(of: inputName).map(RuleOperand.numericField) : resolve(inputName)
                switch operand {
                case .numericField(let f): input = .numericField(f)
                case .feature(let f): input = .feature(f)
                default:
                    let expected = inputKey == "field" ? "numeric field" : "feature or numeric field"
                    reader.fail(item.child(inputKey), item.node(inputKey), "no \(expected) '\(inputName)' is declared")
                    continue
                }
                guard let entity = readEntity(item, schema: schema, reader: reader) else { continue }
                let window = item.int("window", default: 32, range: 3...4096)
                let minSamples = item.int("min_samples", default: 8, range: 2...4096)
                detectors.append(DetectorSpec(name: name, weight: weight, kind: .robustZScore(input: input, entity: entity, window: window, minSamples: minSamples)))
            case "ftrl":
                if item.has("entity") {
                    // Labels arrive late and a handful per key: a model per key would rarely see both classes.
                    reader.fail(
                        item.child("entity"), item.node("entity"),
                        "ftrl learns from delayed labels and is global; give it per-entity features as inputs instead"
                    )
                }
                let (_, inputs) = readInputs(item, schema: schema, resolve: resolve, reader: reader)
                if inputs.isEmpty {
                    reader.fail(item.child("inputs"), item.node("inputs") ?? node, "ftrl needs at least one input")
                    continue
                }
                let alpha = item.double("alpha", default: 0.1, range: 1e-9...1e6) ?? 0.1
                let beta = item.double("beta", default: 1, range: 0...1e6) ?? 1
                let l1 = item.double("l1", default: 1, range: 0...1e6) ?? 1
                let l2 = item.double("l2", default: 1, range: 0...1e6) ?? 1
                let cache = item.int("cache", default: 100_000, range: 1...100_000_000)
                let minLabels = item.int("min_labels", default: 20, range: 1...10_000_000)
                let warmup = item.int("warmup", default: 1000, range: 1...10_000_000)
                detectors.append(
                    DetectorSpec(
                        name: name, weight: weight,
                        kind: .supervised(inputs: inputs, alpha: alpha, beta: beta, l1: l1, l2: l2, cacheSize: cache, minLabels: minLabels, warmup: warmup)
                    )
                )
            case "half_space_trees", "random_cut_forest":
                let (inputNames, inputs) = readInputs(item, schema: schema, resolve: resolve, reader: reader)
                if inputs.isEmpty {
                    reader.fail(item.child("inputs"), item.node("inputs") ?? node, "\(type) needs at least one input")
                    continue
                }
                if inputs.count > 64 { reader.fail(item.child("inputs"), item.node("inputs"), "at most 64 inputs") }
                // Per key of an entity: smaller default models (a key sees far fewer events than the stream),
                // at most `max_keys` keys holding one, and a memory estimate that must stay within bounds.
                guard let entity = readEntity(item, schema: schema, reader: reader) else { continue }
                let keyed = entity != nil
                let table = entity.map { config.tables[$0] }
                let maxKeys = item.int("max_keys", default: min(table?.maxKeys ?? 10_000, 10_000), range: 1...100_000_000)
                if !keyed, item.has("max_keys") {
                    reader.fail(item.child("max_keys"), item.node("max_keys"), "max_keys applies to detectors kept per entity (give entity)")
                }
                let perEntity = entity.map { DetectorSpec.PerEntity(entity: $0, maxKeys: maxKeys, ttlMs: table?.ttlMs ?? 7 * 86_400_000) }
                func checkMemory(_ kind: DetectorSpec.Kind) {
                    guard keyed else { return }
                    let bytes = EntityForestDetector.bytesPerKey(kind) * maxKeys
                    if bytes > Self.maxPerEntityModelBytes {
                        reader.fail(
                            item.path, item.node,
                            "a model per key needs about \(bytes >> 20) MiB for \(maxKeys) keys (at most \(Self.maxPerEntityModelBytes >> 20) MiB): lower max_keys, trees, height or sample_size"
                        )
                    }
                }
                if type == "random_cut_forest" {
                    let trees = item.int("trees", default: keyed ? 10 : 50, range: 1...1000)
                    let sampleSize = item.int("sample_size", default: keyed ? 32 : 256, range: 4...100_000)
                    let shingleSize = item.int("shingle_size", default: 1, range: 1...64)
                    let warmup = item.int("warmup", default: keyed ? 16 : 1000, range: 1...10_000_000)
                    let seed = UInt64(item.int("seed", default: 42, range: 0...Int.max))
                    var sampling = RandomCutForest.Sampling.timeDecay(lambda: 1 / (10 * Double(sampleSize)))
                    switch item.string("sampling", default: "time_decay") {
                    case "reservoir": sampling = .reservoir
                    case "time_decay":
                        if let lambda = item.double("time_decay", default: nil, range: 0...1) { sampling = .timeDecay(lambda: lambda) }
                    default:
                        reader.fail(item.child("sampling"), item.node("sampling"), "must be reservoir or time_decay")
                    }
                    let kind = DetectorSpec.Kind.randomCutForest(
                        inputs: inputs, trees: trees, sampleSize: sampleSize, shingleSize: shingleSize, sampling: sampling, warmup: warmup, seed: seed)
                    checkMemory(kind)
                    detectors.append(DetectorSpec(name: name, weight: weight, kind: kind, perEntity: perEntity))
                    continue
                }
                let trees = item.int("trees", default: keyed ? 10 : 25, range: 1...1000)
                let height = item.int("height", default: keyed ? 8 : 15, range: 1...20)
                let window = item.int("window", default: keyed ? 32 : 250, range: 10...HalfSpaceTrees.maximumWindow)
                let warmup = item.int("warmup", default: keyed ? 16 : 1000, range: 1...10_000_000)
                let margin = item.double("margin", default: 0.1, range: 0...10) ?? 0.1
                let seed = UInt64(item.int("seed", default: 42, range: 0...Int.max))
                var ranges: [ClosedRange<Double>]?
                if let section = item.mapping("ranges") {
                    var byName: [String: ClosedRange<Double>] = [:]
                    for entry in section.entries {
                        guard let bounds = section.node(entry.key)?.sequence, bounds.count == 2,
                            let low = bounds[0].scalar.flatMap({ Double($0.string) }), let high = bounds[1].scalar.flatMap({ Double($0.string) }),
                            low < high
                        else {
                            reader.fail(section.child(entry.key), entry.value, "expected [low, high] with low < high")
                            continue
                        }
                        if !inputNames.contains(entry.key) {
                            reader.fail(section.child(entry.key), entry.keyNode, "'\(entry.key)' is not one of this detector's inputs")
                        }
                        byName[entry.key] = low...high
                    }
                    let missing = inputNames.filter { byName[$0] == nil }
                    if !missing.isEmpty {
                        reader.fail(section.path, section.node, "ranges are missing for \(missing.joined(separator: ", ")) (give all, or none to learn them)")
                    } else {
                        ranges = inputNames.map { byName[$0]! }
                    }
                }
                let kind = DetectorSpec.Kind.halfSpaceTrees(
                    inputs: inputs, trees: trees, height: height, window: window, ranges: ranges, warmup: warmup, margin: margin, seed: seed)
                checkMemory(kind)
                detectors.append(DetectorSpec(name: name, weight: weight, kind: kind, perEntity: perEntity))
            default:
                reader.fail(item.child("type"), item.node("type"), "unknown detector type '\(type)' (available: robust_zscore, half_space_trees, random_cut_forest, ftrl)")
            }
        }
        if detectors.count > DetectionResult.maxDetectors {
            reader.fail("detectors", nil, "at most \(DetectionResult.maxDetectors) detectors are supported")
        }
        return detectors
    }

    /// A detector's optional `entity`: `.some(nil)` when absent (global), `.some(index)` when declared, nil (an error
    /// recorded at its key path) when it names no declared entity.
    private static func readEntity(_ item: ConfigReader.Mapping, schema: EventSchema, reader: ConfigReader) -> Int?? {
        guard let name = item.string("entity") else { return .some(nil) }
        guard let index = schema.entities.firstIndex(where: { $0.name == name }) else {
            reader.fail(item.child("entity"), item.node("entity"), "no entity '\(name)' is declared under event.entities")
            return nil
        }
        return .some(index)
    }

    /// The most memory the models of one per-entity forest detector may need (max_keys x bytes per key).
    static let maxPerEntityModelBytes = 4 << 30

    /// A detector's `inputs` (features or numeric fields; all numeric fields when the key is absent).
    private static func readInputs(
        _ item: ConfigReader.Mapping,
        schema: EventSchema,
        resolve: (String) -> RuleOperand?,
        reader: ConfigReader
    ) -> ([String], [DetectorInput]) {
        let names = item.has("inputs") ? item.stringList("inputs") : schema.numericFields
        var inputs: [DetectorInput] = []
        for (k, inputName) in names.enumerated() {
            switch resolve(inputName) {
            case .feature(let f): inputs.append(.feature(f))
            case .numericField(let f): inputs.append(.numericField(f))
            default:
                reader.fail("\(item.child("inputs"))[\(k)]", item.node("inputs"), "no feature or numeric field '\(inputName)'")
            }
        }
        return (names, inputs)
    }

    /// Resolves a name in a rule: a qualified or unambiguous feature name, or an event field.
    static func resolver(_ config: VigilConfiguration) -> (String) -> RuleOperand? {
        let qualified = config.featureNames
        let features = config.features
        let schema = config.schema
        return { name in
            if let i = qualified.firstIndex(of: name) { return .feature(i) }
            let bare = features.indices.filter { features[$0].name == name }
            if bare.count == 1 { return .feature(bare[0]) }
            if let i = schema.numericFields.firstIndex(of: name) { return .numericField(i) }
            if let i = schema.categoricalFields.firstIndex(of: name) { return .categoricalField(i) }
            return nil
        }
    }

    private static func readRules(_ top: ConfigReader.Mapping, _ config: VigilConfiguration, _ reader: ConfigReader) -> [Rule] {
        var rules: [Rule] = []
        let resolve = resolver(config)
        for (path, node) in top.sequence("rules") {
            guard let item = reader.mapping(path, node) else { continue }
            defer { item.finish() }
            guard let name = item.string("name", required: true), let source = item.string("when", required: true) else { continue }
            let score = item.double("score", default: 1, range: 0...1) ?? 1
            do {
                let expression = try RuleParser.parse(source, resolve: resolve)
                rules.append(Rule(name: name, source: source, expression: expression, score: score))
            } catch {
                let whenNode = item.node("when")
                // Point at the column inside the rule text when it sits on one line.
                let line = whenNode?.mark?.line ?? 0
                // A quoted scalar's mark is its opening quote; a plain one's is its first character.
                let quoted = whenNode?.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
                let column = (whenNode?.mark?.column ?? 0) + error.column - (quoted ? 0 : 1)
                reader.fail(ConfigError(path: item.child("when"), line: line, column: column, message: error.message))
            }
            if rules.filter({ $0.name == name }).count > 1 {
                reader.fail(item.child("name"), item.node("name"), "rule '\(name)' is defined twice")
            }
        }
        if rules.count > 64 { reader.fail("rules", nil, "at most 64 rules are supported") }
        return rules
    }

    static func readAlerting(_ section: ConfigReader.Mapping?, _ reader: ConfigReader) -> AlertPolicy {
        var policy = AlertPolicy()
        guard let section else { return policy }
        defer { section.finish() }
        let percentile = section.double("threshold_percentile", default: nil, range: 0...100)
        let score = section.double("threshold", default: nil, range: 0...1)
        if percentile != nil, score != nil {
            reader.fail(section.child("threshold"), section.node("threshold"), "give threshold or threshold_percentile, not both")
        }
        if let score { policy.threshold = .score(score) }
        if let percentile { policy.threshold = .percentile(percentile) }
        policy.cooldownMs = section.duration("cooldown", default: policy.cooldownMs) ?? policy.cooldownMs
        if let combine = section.string("combine") {
            if let value = AlertPolicy.Combination(rawValue: combine) {
                policy.combination = value
            } else {
                reader.fail(section.child("combine"), section.node("combine"), "must be max, mean or weighted_mean")
            }
        }
        policy.calibrationWarmup = section.int("calibration_warmup", default: policy.calibrationWarmup, range: 0...10_000_000)
        return policy
    }
}
