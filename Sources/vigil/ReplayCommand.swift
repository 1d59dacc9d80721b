import ArgumentParser
import Foundation
import VigilDaemon
import VigilModels

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Score a JSON-lines file offline with the daemon's decode, features and models; evaluate against labels."
    )

    @Option(name: .long, help: "The YAML config file.") var config: String
    @Option(name: .long, help: "Events, one JSON object per line, in the order to replay.") var input: String
    @Option(name: .long, help: "Write score records (as on the scores topic) to this JSON-lines file.") var output: String?
    @Option(name: .long, help: "Write each event's feature vector (as of that event), fields, raw detector scores and label: training data.") var featuresOut: String?
    @Option(name: .long, help: "csv or jsonl (default: jsonl for a .jsonl or .json file, csv otherwise).") var featuresFormat: String?
    @Option(name: .long, help: "Feed each event's label to supervised detectors this many events later (delayed ground truth).") var labelDelay: Int?
    @Flag(name: .long, help: "Print the report as JSON.") var json = false

    func run() throws {
        let configuration: VigilConfiguration
        do {
            configuration = try VigilConfiguration.load(file: config)
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("\(config): \(error)") }
            throw ExitCode(1)
        }
        let format: Replay.FeaturesFormat
        if let featuresFormat {
            guard let parsed = Replay.FeaturesFormat(rawValue: featuresFormat) else {
                throw ValidationError("--features-format must be csv or jsonl")
            }
            format = parsed
        } else {
            format = featuresOut.map { $0.hasSuffix(".jsonl") || $0.hasSuffix(".json") } == true ? .jsonLines : .csv
        }
        let report = try Replay(config: configuration).run(
            input: input, output: output, featuresOut: featuresOut, featuresFormat: format, labelDelay: labelDelay)
        writeLine(json ? ReplayReportText.json(report) : ReplayReportText.table(report))
    }
}

/// How a replay report is printed.
enum ReplayReportText {
    static func f(_ v: Double, _ digits: Int = 4) -> String { v.isNaN ? "n/a" : String(format: "%.\(digits)f", v) }

    static func table(_ r: Replay.Report) -> String {
        var lines = [
            "events: \(r.events) in \(f(r.seconds, 2)) s (\(Int(r.eventsPerSecond)) events/s); refused: \(r.refused.values.reduce(0, +))"
                + (r.refused.isEmpty ? "" : " (" + r.refused.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"),
            "alerts: \(r.alerts) (\(f(r.alertsPerThousand, 2)) per 1,000 events)",
        ]
        guard r.labelled > 0 else {
            lines.append("no labels: set event.label to evaluate")
            return lines.joined(separator: "\n")
        }
        let positives = r.combined?.positives ?? 0
        lines.append("labelled: \(r.labelled) (\(positives) positive, rate \(f(Double(positives) / Double(r.labelled))))")
        lines.append("")
        lines.append("| scorer | ROC-AUC | PR-AUC |")
        lines.append("|---|---:|---:|")
        let shadowNames = Set(r.shadow.map(\.name))
        for (name, m) in r.detectors {
            lines.append("| \(name)\(shadowNames.contains(name) ? " (shadow)" : "") | \(f(m.rocAUC)) | \(f(m.prAUC)) |")
        }
        if let rules = r.rules { lines.append("| rules (any fired) | \(f(rules.rocAUC)) | \(f(rules.prAUC)) |") }
        if let combined = r.combined { lines.append("| combined | \(f(combined.rocAUC)) | \(f(combined.prAUC)) |") }
        lines.append("")
        lines.append("at the alert threshold: precision \(f(r.decisions.precision)), recall \(f(r.decisions.recall))")
        for shadow in r.shadow {
            lines.append(
                "shadow \(shadow.name) would have alerted on \(shadow.wouldAlert) events: precision \(f(shadow.decisions.precision)), recall \(f(shadow.decisions.recall))"
            )
        }
        if r.labelsJoined + r.labelsUnknown > 0 {
            lines.append("delayed labels: \(r.labelsJoined) joined, \(r.labelsUnknown) unknown or expired")
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ r: Replay.Report) -> String {
        func metrics(_ m: BinaryClassificationMetrics?) -> String {
            guard let m else { return "null" }
            return "{\"roc_auc\":\(num(m.rocAUC)),\"pr_auc\":\(num(m.prAUC))}"
        }
        func num(_ v: Double) -> String { v.isNaN ? "null" : String(v) }
        let detectors = r.detectors.map { "\"\($0.name)\":\(metrics($0.metrics))" }.joined(separator: ",")
        let refused = r.refused.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        let shadow = r.shadow.map {
            "\"\($0.name)\":{\"would_alert\":\($0.wouldAlert),\"precision\":\(num($0.decisions.precision)),\"recall\":\(num($0.decisions.recall))}"
        }.joined(separator: ",")
        return """
            {"events":\(r.events),"seconds":\(num(r.seconds)),"events_per_second":\(num(r.eventsPerSecond)),"refused":{\(refused)},\
            "alerts":\(r.alerts),"alerts_per_1000":\(num(r.alertsPerThousand)),"labelled":\(r.labelled),\
            "detectors":{\(detectors)},"rules":\(metrics(r.rules)),"combined":\(metrics(r.combined)),\
            "precision":\(num(r.decisions.precision)),"recall":\(num(r.decisions.recall)),"shadow":{\(shadow)}}
            """
    }
}
