import ArgumentParser
import Dispatch
import Foundation
import Logging
import VigilDaemon

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: consume the input topics, score every event, publish alerts."
    )

    @Option(name: .long, help: "The YAML config file.") var config: String
    @Option(name: .long, help: "Override kafka.brokers.") var brokers: String?
    @Option(name: .long, help: "Override pipeline.workers.") var workers: Int?
    @Option(name: .long, help: "Override http.listen (host:port, or off); containers listen on 0.0.0.0.") var httpListen: String?
    @Option(name: .long, help: "Override logging.level: trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .long, help: "Override logging.format: logfmt, json or text.") var logFormat: String?
    @Option(name: .long, help: "Write a JSON summary of the run to this file when stopping.") var summary: String?

    func run() throws {
        var configuration: VigilConfiguration
        do {
            configuration = try VigilConfiguration.load(file: config)
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("\(config): \(error)") }
            throw ExitCode(1)
        }
        let overrides = Overrides(brokers: brokers, workers: workers, httpListen: httpListen, logLevel: logLevel, logFormat: logFormat)
        guard overrides.logLevel.map({ Logger.Level(rawValue: $0) != nil }) ?? true,
            overrides.logFormat.map({ LogFormat(rawValue: $0) != nil }) ?? true
        else {
            printError("--log-level or --log-format has an unknown value")
            throw ExitCode(1)
        }
        overrides.apply(to: &configuration)
        let logging = configuration.logging
        let limiter = logging.rateLimitBurst.map { LogRateLimiter(burst: $0, intervalNs: UInt64(logging.rateLimitIntervalMs) * 1_000_000) }
        LoggingSystem.bootstrap { label in
            StructuredLogHandler(label: label, format: logging.format, level: Logger.Level(rawValue: logging.level) ?? .info, limiter: limiter)
        }
        let logger = Logger(label: "vigil")
        let configPath = config
        let service = try VigilService(config: configuration, logger: logger, configSource: {
            var new = try VigilConfiguration.load(file: configPath)
            overrides.apply(to: &new)
            return new
        })

        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        let reloadSource = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "vigil.reload"))
        reloadSource.setEventHandler {
            logger.notice("SIGHUP: re-reading \(configPath)")
            service.reloadFromSource()
        }
        reloadSource.resume()
        let queue = DispatchQueue(label: "vigil.signals")
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                logger.notice("signal \(number): stopping")
                service.requestStop()
            }
            source.resume()
            return source
        }
        try service.start()
        service.waitUntilStopped()
        sources.forEach { $0.cancel() }
        reloadSource.cancel()

        let report = RunSummary(service: service)
        printError(report.text)
        if let summary {
            try report.json.write(toFile: summary, atomically: true, encoding: .utf8)
        }
    }
}

/// Command-line values that replace config keys, at start and on every reload (so a reload never sees a change
/// the operator made on the command line).
struct Overrides: Sendable {
    var brokers: String?
    var workers: Int?
    var httpListen: String?
    var logLevel: String?
    var logFormat: String?

    func apply(to config: inout VigilConfiguration) {
        if let brokers { config.kafka.brokers = brokers }
        if let workers { config.pipeline.workers = max(1, workers) }
        if let httpListen { config.httpListen = httpListen }
        if let logLevel { config.logging.level = logLevel }
        if let logFormat, let format = LogFormat(rawValue: logFormat) { config.logging.format = format }
    }
}

/// What a run did, printed when the daemon stops.
struct RunSummary {
    let text: String
    let json: String

    init(service: VigilService) {
        let c = service.counters
        let consumed = c.consumed.load(ordering: .relaxed)
        let seconds = max(service.uptime, 0.001)
        let rules = c.alertsPerRule
        let detectors = c.alertsPerDetector
        let dead = c.deadLettersByReason
        var lines = [
            "vigil summary",
            "  events in:       \(consumed) in \(String(format: "%.1f", seconds)) s (\(Int(Double(consumed) / seconds)) events/s)",
            "  scored:          \(c.scored.load(ordering: .relaxed)) (late: \(service.lateEvents))",
            "  alerts:          \(c.alerts.load(ordering: .relaxed)) (suppressed by cooldown: \(c.suppressedByCooldown.load(ordering: .relaxed)))",
        ]
        for (name, count) in rules { lines.append("    rule \(name): \(count)") }
        for (name, count) in detectors { lines.append("    detector \(name): \(count)") }
        lines.append("  dead letters:    \(c.deadLettered.load(ordering: .relaxed))")
        for (kind, count) in dead { lines.append("    \(kind): \(count)") }
        lines.append("  input pauses:    \(c.pauses.load(ordering: .relaxed)); delivery failures: \(c.deliveryFailures.load(ordering: .relaxed))")
        if service.config.kafka.labelsTopic != nil {
            lines.append("  labels:          \(c.labelsJoined.load(ordering: .relaxed)) joined, \(c.labelsUnknown.load(ordering: .relaxed)) unknown or expired, \(c.malformedLabels.load(ordering: .relaxed)) unreadable")
        }
        text = lines.joined(separator: "\n")

        func object(_ pairs: [(String, Int)]) -> String {
            "{" + pairs.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
        json = """
            {"events_in":\(consumed),"seconds":\(String(format: "%.3f", seconds)),"scored":\(c.scored.load(ordering: .relaxed)),\
            "late":\(service.lateEvents),"alerts":\(c.alerts.load(ordering: .relaxed)),"alerts_by_rule":\(object(rules)),\
            "alerts_by_detector":\(object(detectors)),"dead_letters":\(c.deadLettered.load(ordering: .relaxed)),\
            "dead_letters_by_reason":\(object(dead)),"pauses":\(c.pauses.load(ordering: .relaxed))}
            """
    }
}
