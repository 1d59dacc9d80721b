import VigilCore
import VigilModels

/// Writes scores and alert records in the formats of DESIGN.md.
public struct OutputRecords: Sendable {
    let entityNames: [String]
    let featureNames: [String]
    let numericNames: [String]
    let detectorNames: [String]
    /// The detectors running in shadow (reported, never alerting), by index.
    public let shadowDetectors: [Int]
    let ruleNames: [String]
    /// Score records carry the feature vector (`kafka.scores_features`).
    let scoresFeatures: Bool
    /// Feature indices each rule reads, for explanations.
    let ruleFeatures: [[Int]]
    public var configVersion: Int

    public init(config: VigilConfiguration, configVersion: Int = 1) {
        entityNames = config.schema.entities.map(\.name)
        featureNames = config.featureNames
        numericNames = config.schema.numericFields
        detectorNames = config.detectors.map(\.name)
        shadowDetectors = config.detectors.indices.filter { config.detectors[$0].shadow }
        ruleNames = config.rules.map(\.name)
        scoresFeatures = config.kafka.scoresFeatures
        ruleFeatures = config.rules.map { $0.expression.referencedFeatures }
        self.configVersion = configVersion
    }

    /// `{"event_id","score","alert","detectors":{name: score}}`, and `"shadow_detectors":[name]` when some
    /// detectors run in shadow (their scores are in `detectors`; they take no part in `score` or `alert`), and
    /// `"features":{name: value}` (null where undefined) with `kafka.scores_features`: the vector the detectors
    /// saw, as of this event.
    public func writeScore(_ scored: ScoredEvent, to writer: inout JSONWriter) {
        writer.reset()
        writer.beginObject()
        writer.key("event_id")
        scored.event.id.withBytes { writer.string(bytes: $0) }
        writer.key("score")
        writer.number(scored.result.score)
        writer.key("alert")
        writer.bool(scored.result.alert)
        writer.key("detectors")
        writeDetectors(scored.result, to: &writer)
        writeShadowDetectors(to: &writer)
        if scoresFeatures {
            writer.key("features")
            writeFeatures(scored, to: &writer)
        }
        writer.endObject()
    }

    /// `{name: value}` over the configured features, null where a feature is undefined.
    public func writeFeatures(_ scored: ScoredEvent, to writer: inout JSONWriter) {
        writer.beginObject()
        for (i, name) in featureNames.enumerated() {
            writer.key(name)
            writer.number(scored.features[i])
        }
        writer.endObject()
    }

    /// The alert record; `detectedAtMs` is the wall-clock time of detection.
    public func writeAlert(_ scored: ScoredEvent, detectedAtMs: Int64, to writer: inout JSONWriter) {
        let event = scored.event
        let result = scored.result
        writer.reset()
        writer.beginObject()
        writer.key("alert_id")
        event.id.withBytes { id in
            withUnsafeTemporaryAllocation(byteCount: id.count + 6, alignment: 1) { buffer in
                for (i, b) in "alert-".utf8.enumerated() { buffer[i] = b }
                for i in 0..<id.count { buffer[6 + i] = id[i] }
                writer.string(bytes: UnsafeRawBufferPointer(buffer))
            }
        }
        writer.key("event_id")
        event.id.withBytes { writer.string(bytes: $0) }
        writer.key("entities")
        writer.beginObject()
        for (i, name) in entityNames.enumerated() where event.entities[i].isPresent {
            writer.key(name)
            event.entities[i].withBytes { writer.string(bytes: $0) }
        }
        writer.endObject()
        writer.key("event_time")
        writeTime(event.timeMs, to: &writer)
        writer.key("detected_at")
        writeTime(detectedAtMs, to: &writer)
        writer.key("score")
        writer.number(result.score)
        writer.key("percentile")
        writer.number(result.percentile)
        writer.key("detectors")
        writeDetectors(result, to: &writer)
        writeShadowDetectors(to: &writer)
        writer.key("warm_detectors")
        writer.beginArray()
        for (i, name) in detectorNames.enumerated() where result.warmDetectors & (1 << UInt8(i)) != 0 { writer.string(name) }
        writer.endArray()
        writer.key("explanation")
        writer.beginArray()
        for slot in 0..<DetectionResult.maxExplanation {
            let item = result.explanation[slot]
            let name: String
            switch item.source {
            case .numericField(let field): name = numericNames[field]
            case .feature(let feature): name = featureNames[feature]
            case .none: continue
            }
            writer.beginObject()
            writer.key("feature")
            writer.string(name)
            writer.key("value")
            writer.number(item.value)
            writer.key("contribution")
            writer.number(item.contribution)
            if item.detector >= 0, Int(item.detector) < detectorNames.count {
                writer.key("detector")
                writer.string(detectorNames[Int(item.detector)])
            }
            writer.endObject()
        }
        for (i, features) in ruleFeatures.enumerated() where result.firedRules & (1 << UInt64(i)) != 0 {
            for feature in features {
                writer.beginObject()
                writer.key("feature")
                writer.string(featureNames[feature])
                writer.key("value")
                writer.number(scored.features[feature])
                writer.key("contribution")
                writer.number(1 / Double(max(1, features.count)))
                writer.key("rule")
                writer.string(ruleNames[i])
                writer.endObject()
            }
        }
        writer.endArray()
        writer.key("rules")
        writer.beginArray()
        for (i, name) in ruleNames.enumerated() where result.firedRules & (1 << UInt64(i)) != 0 { writer.string(name) }
        writer.endArray()
        writer.key("features")
        writeFeatures(scored, to: &writer)
        writer.key("config_version")
        writer.int(Int64(configVersion))
        writer.endObject()
    }

    private func writeDetectors(_ result: DetectionResult, to writer: inout JSONWriter) {
        writer.beginObject()
        for (i, name) in detectorNames.enumerated() {
            writer.key(name)
            writer.number(result.detectorScores[i])
        }
        writer.endObject()
    }

    private func writeShadowDetectors(to writer: inout JSONWriter) {
        guard !shadowDetectors.isEmpty else { return }
        writer.key("shadow_detectors")
        writer.beginArray()
        for i in shadowDetectors { writer.string(detectorNames[i]) }
        writer.endArray()
    }

    /// An ISO-8601 UTC time with milliseconds.
    private func writeTime(_ ms: Int64, to writer: inout JSONWriter) {
        withUnsafeTemporaryAllocation(byteCount: 24, alignment: 1) { buffer in
            let n = UTCTime.format(ms, into: buffer)
            writer.string(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` without allocating.
enum UTCTime {
    static func format(_ ms: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let days = Int(ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000)
        let millisOfDay = Int(ms - Int64(days) * 86_400_000)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var i = 0
        func put(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                buffer[i] = UInt8(48 + (value / divisor) % 10)
                i += 1
                divisor /= 10
            }
        }
        func sep(_ c: UInt8) {
            buffer[i] = c
            i += 1
        }
        put(year, 4); sep(45); put(month, 2); sep(45); put(day, 2); sep(84)
        put(millisOfDay / 3_600_000, 2); sep(58); put(millisOfDay / 60_000 % 60, 2); sep(58)
        put(millisOfDay / 1000 % 60, 2); sep(46); put(millisOfDay % 1000, 3); sep(90)
        return i
    }
}
