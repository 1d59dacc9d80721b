import Foundation
import VigilCore
public import VigilModels

/// Offline scoring of a JSON-lines file with the daemon's own decode, features, detectors and policy, in file
/// order on one thread, as if the file were one input partition.
public struct Replay: Sendable {
    /// What a replay measured.
    public struct Report: Sendable {
        public var events = 0
        public var refused: [String: Int] = [:]
        public var seconds = 0.0
        public var alerts = 0
        public var labelled = 0
        /// Per detector, ranking metrics of its raw scores (events where it was not warm rank lowest).
        public var detectors: [(name: String, metrics: BinaryClassificationMetrics)] = []
        /// Ranking metrics of "any rule fired".
        public var rules: BinaryClassificationMetrics?
        /// Ranking metrics of the combined score.
        public var combined: BinaryClassificationMetrics?
        /// Alerts against labels.
        public var decisions = DecisionMetrics()
        /// Per shadow detector: the events it scored at or above the alert threshold (the alerts it would have
        /// raised, before cooldown), and those decisions against labels.
        public var shadow: [(name: String, wouldAlert: Int, decisions: DecisionMetrics)] = []
        /// Delayed labels joined to their event, and labels whose event was unknown or expired.
        public var labelsJoined = 0
        public var labelsUnknown = 0

        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
        public var alertsPerThousand: Double { events > 0 ? 1000 * Double(alerts) / Double(events) : 0 }
    }

    public let config: VigilConfiguration

    public init(config: VigilConfiguration) {
        self.config = config
    }

    /// How `featuresOut` is written.
    public enum FeaturesFormat: String, Sendable {
        /// A header, then one row per event: `event_id`, the features, the numeric fields, `raw:NAME` per
        /// detector, `label` (empty cells where undefined).
        case csv
        /// One object per event: `{"event_id", "features": {name: value}, "fields": {name: value},
        /// "raw_scores": {name: value}, "label"}` (null where undefined; numbers at full precision).
        case jsonLines = "jsonl"
    }

    /// Replays `input`; writes score records (as on the scores topic) to `output` when given, and to
    /// `featuresOut` each event's feature vector as of that event (what the detectors saw, computed before any
    /// later event: no look-ahead), its numeric fields, every detector's raw score and its label.
    ///
    /// - Parameter labelDelay: when set, each labelled event's label is fed to the supervised detectors this
    ///   many events later, as delayed ground truth from a labels topic would be (the label never reaches the
    ///   models before the event is scored).
    public func run(
        input: String, output: String? = nil, featuresOut: String? = nil, featuresFormat: FeaturesFormat = .csv, labelDelay: Int? = nil
    ) throws -> Report {
        let data = try Data(contentsOf: URL(fileURLWithPath: input))
        let decoder = EventDecoder(schema: config.schema)
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        let records = OutputRecords(config: config)
        var writer = JSONWriter()
        var featureWriter = JSONWriter()
        var out: [UInt8] = []
        out.reserveCapacity(output == nil ? 0 : 1 << 20)
        let outHandle = try output.map { path -> FileHandle in
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw ReplayError("cannot write \(path)")
            }
            return handle
        }
        var featureText = ""
        let featuresHandle = try featuresOut.map { path -> FileHandle in
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw ReplayError("cannot write \(path)")
            }
            return handle
        }
        if let featuresHandle, featuresFormat == .csv {
            let header = ["event_id"] + config.featureNames + config.schema.numericFields + config.detectors.map { "raw:\($0.name)" } + ["label"]
            featuresHandle.write(Data((header.joined(separator: ",") + "\n").utf8))
        }

        var report = Report()
        let detectorCount = config.detectors.count
        let shadowDetectors = config.detectors.indices.filter { config.detectors[$0].shadow }
        report.shadow = shadowDetectors.map { (config.detectors[$0].name, 0, DecisionMetrics()) }
        var rawScores: [[Double]] = Array(repeating: [], count: detectorCount)
        var combined: [Double] = []
        var ruleFired: [Double] = []
        var labels: [Bool] = []
        var watermark = Int64.min
        var offset: Int64 = 0
        var pendingLabels: [(EventID, Bool)] = []
        pendingLabels.reserveCapacity((labelDelay ?? 0) + 1)
        var scored = ScoredEvent(event: Event(), features: .undefined, result: DetectionResult(), sequence: 0)
        let start = ContinuousClock.now

        try data.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
            var lineStart = 0
            while lineStart < all.count {
                var lineEnd = lineStart
                while lineEnd < all.count, all[lineEnd] != 0x0A { lineEnd += 1 }
                defer { lineStart = lineEnd + 1 }
                var line = UnsafeRawBufferPointer(rebasing: all[lineStart..<lineEnd])
                if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                var event = Event()
                event.offset = offset
                event.watermarkMs = watermark
                offset += 1
                do {
                    try decoder.decode(line, into: &event)
                } catch let error as DecodeError {
                    report.refused[error.kind.rawValue, default: 0] += 1
                    continue
                }
                let candidate = event.timeMs &- config.maxLatenessMs
                if candidate > watermark { watermark = candidate }
                scorer.score(event, into: &scored)
                report.events += 1
                if let labelDelay, event.label >= 0 {
                    pendingLabels.append((event.id, event.label == 1))
                    if pendingLabels.count > labelDelay {
                        let (id, label) = pendingLabels.removeFirst()
                        scorer.learnLabel(eventID: id, label: label)
                    }
                }
                if scored.result.alert { report.alerts += 1 }
                for (k, i) in shadowDetectors.enumerated() {
                    let would = scored.result.shadowAlerts & (1 << UInt8(i)) != 0
                    if would { report.shadow[k].wouldAlert += 1 }
                    if event.label >= 0 { report.shadow[k].decisions.add(decision: would, label: event.label == 1) }
                }
                if event.label >= 0 {
                    let label = event.label == 1
                    report.labelled += 1
                    labels.append(label)
                    for i in 0..<detectorCount { rawScores[i].append(scored.result.rawScores[i]) }
                    combined.append(scored.result.score)
                    ruleFired.append(scored.result.firedRules != 0 ? 1 : 0)
                    report.decisions.add(decision: scored.result.alert, label: label)
                }
                if let outHandle {
                    records.writeScore(scored, to: &writer)
                    out.append(contentsOf: writer.bytes)
                    out.append(0x0A)
                    if out.count >= 1 << 20 {
                        outHandle.write(Data(out))
                        out.removeAll(keepingCapacity: true)
                    }
                }
                if featuresHandle != nil, featuresFormat == .jsonLines {
                    featureWriter.reset()
                    featureWriter.beginObject()
                    featureWriter.key("event_id")
                    scored.event.id.withBytes { featureWriter.string(bytes: $0) }
                    // Full precision, as in the CSV form (score records round to six decimals).
                    featureWriter.key("features")
                    featureWriter.beginObject()
                    for (i, name) in config.featureNames.enumerated() {
                        featureWriter.key(name)
                        featureWriter.exactNumber(scored.features[i])
                    }
                    featureWriter.endObject()
                    featureWriter.key("fields")
                    featureWriter.beginObject()
                    for (i, name) in config.schema.numericFields.enumerated() {
                        featureWriter.key(name)
                        featureWriter.exactNumber(event.numeric[i])
                    }
                    featureWriter.endObject()
                    featureWriter.key("raw_scores")
                    featureWriter.beginObject()
                    for i in 0..<detectorCount {
                        featureWriter.key(config.detectors[i].name)
                        featureWriter.exactNumber(scored.result.rawScores[i])
                    }
                    featureWriter.endObject()
                    featureWriter.key("label")
                    if event.label >= 0 { featureWriter.int(Int64(event.label)) } else { featureWriter.null() }
                    featureWriter.endObject()
                    featureText += String(decoding: featureWriter.bytes, as: UTF8.self)
                    featureText += "\n"
                    if featureText.utf8.count >= 1 << 20 {
                        featuresHandle!.write(Data(featureText.utf8))
                        featureText = ""
                    }
                } else if let featuresHandle {
                    featureText += scored.event.id.string
                    for i in 0..<config.features.count {
                        let v = scored.features[i]
                        featureText += v.isNaN ? "," : ",\(v)"
                    }
                    for i in 0..<config.schema.numericFields.count {
                        let v = event.numeric[i]
                        featureText += v.isNaN ? "," : ",\(v)"
                    }
                    for i in 0..<detectorCount {
                        let v = scored.result.rawScores[i]
                        featureText += v.isNaN ? "," : ",\(v)"
                    }
                    featureText += event.label >= 0 ? ",\(event.label)\n" : ",\n"
                    if featureText.utf8.count >= 1 << 20 {
                        featuresHandle.write(Data(featureText.utf8))
                        featureText = ""
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if let outHandle {
            outHandle.write(Data(out))
            try outHandle.close()
        }
        if let featuresHandle {
            featuresHandle.write(Data(featureText.utf8))
            try featuresHandle.close()
        }
        report.labelsJoined = scorer.labelCounts.joined
        report.labelsUnknown = scorer.labelCounts.unknown
        if report.labelled > 0 {
            for i in 0..<detectorCount {
                report.detectors.append((config.detectors[i].name, BinaryClassificationMetrics(scores: rawScores[i], labels: labels)))
            }
            if !config.rules.isEmpty { report.rules = BinaryClassificationMetrics(scores: ruleFired, labels: labels) }
            report.combined = BinaryClassificationMetrics(scores: combined, labels: labels)
        }
        return report
    }
}

struct ReplayError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
