import Foundation
import Logging
import Synchronization
import Testing
import VigilDaemon

/// Collects log lines for assertions.
final class LineCollector: Sendable {
    private let stored = Mutex<[String]>([])
    var lines: [String] { stored.withLock { $0 } }
    var sink: StructuredLogHandler.Sink { { line in self.stored.withLock { $0.append(line) } } }
}

@Suite("Structured logs and their rate limit")
struct LoggingTests {
    @Test func logfmtQuotesWhatNeedsQuotingAndSortsFields() {
        let lines = LineCollector()
        var logger = Logger(label: "vigil") { StructuredLogHandler(label: $0, format: .logfmt, level: .info, limiter: nil, sink: lines.sink) }
        logger[metadataKey: "worker"] = "2"
        logger.warning("input message dead-lettered", metadata: ["kind": "malformed_json", "reason": "unexpected \"}\" at 3"])
        logger.debug("not written: below the level")
        #expect(lines.lines.count == 1)
        let line = lines.lines[0]
        #expect(line.hasPrefix("ts=20"))
        #expect(line.contains(#" level=warning logger=vigil msg="input message dead-lettered" kind=malformed_json reason="unexpected \"}\" at 3" worker=2"#), "\(line)")
    }

    @Test func jsonLinesParseAndCarryEveryField() throws {
        let lines = LineCollector()
        let logger = Logger(label: "vigil") { StructuredLogHandler(label: $0, format: .json, level: .info, limiter: nil, sink: lines.sink) }
        logger.error("delivery failed", metadata: ["topic": "alerts", "detail": "line1\nline2"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.lines[0].utf8)) as? [String: String])
        #expect(object["level"] == "error")
        #expect(object["msg"] == "delivery failed")
        #expect(object["topic"] == "alerts")
        #expect(object["detail"] == "line1\nline2")
        #expect(object["ts"]?.hasSuffix("Z") == true)
    }

    /// A flood of one repeated error writes `burst` lines per interval; the next line written says how many
    /// were left out; other call sites are not affected.
    @Test func aFloodOfOneErrorIsLimitedPerCallSite() {
        let lines = LineCollector()
        let limiter = LogRateLimiter(burst: 5, intervalNs: 60_000_000_000)
        let logger = Logger(label: "vigil") { StructuredLogHandler(label: $0, format: .logfmt, level: .info, limiter: limiter, sink: lines.sink) }
        for i in 0..<10_000 {
            logger.warning("input message dead-lettered", metadata: ["offset": "\(i)"])
        }
        logger.error("a different problem")
        logger.info("info lines are not limited")
        #expect(lines.lines.count == 7)
        #expect(lines.lines.filter { $0.contains("dead-lettered") }.count == 5)
    }

    @Test func theLimiterReportsWhatItLeftOutWhenTheNextIntervalStarts() {
        let limiter = LogRateLimiter(burst: 2, intervalNs: 1_000)
        #expect(limiter.decide(key: "a", nowNs: 0) == .write(suppressedBefore: 0))
        #expect(limiter.decide(key: "a", nowNs: 10) == .write(suppressedBefore: 0))
        #expect(limiter.decide(key: "a", nowNs: 20) == .suppress)
        #expect(limiter.decide(key: "a", nowNs: 30) == .suppress)
        #expect(limiter.decide(key: "b", nowNs: 30) == .write(suppressedBefore: 0))
        #expect(limiter.decide(key: "a", nowNs: 1_500) == .write(suppressedBefore: 2))
        #expect(limiter.decide(key: "a", nowNs: 1_600) == .write(suppressedBefore: 0))
        #expect(limiter.decide(key: "a", nowNs: 1_700) == .suppress)
    }

    @Test func loggingKeysAreValidated() throws {
        let full = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path, encoding: .utf8)
        let base = full.components(separatedBy: "\nlogging:")[0] + "\n"
        let good = try VigilConfiguration.load(yaml: base + "\nlogging: { format: json, level: warning, rate_limit: { burst: 3, interval: 5s } }\n")
        #expect(good.logging.format == .json)
        #expect(good.logging.level == "warning")
        #expect(good.logging.rateLimitBurst == 3 && good.logging.rateLimitIntervalMs == 5_000)
        let off = try VigilConfiguration.load(yaml: base + "\nlogging: { rate_limit: off }\n")
        #expect(off.logging.rateLimitBurst == nil)
        let lineCount = base.split(separator: "\n", omittingEmptySubsequences: false).count
        do {
            _ = try VigilConfiguration.load(yaml: base + "\nlogging:\n  format: xml\n  colour: true\n")
            Issue.record("a bad logging section was accepted")
        } catch {
            let text = error.errors.map(\.description).joined(separator: "\n")
            #expect(text.contains("logging.format"), "\(text)")
            #expect(text.contains("line \(lineCount + 2)"), "\(text)")
            #expect(text.contains("logging.colour"), "\(text)")
        }
    }
}
