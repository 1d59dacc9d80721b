import Synchronization

/// Limits how often one call site may log: at most `burst` lines per `intervalNs`, then the rest of the interval is
/// counted instead of written, and the next line written says how many were left out.
///
/// Keys are call sites (file, line, level), so a flood of one repeated error — a stream of malformed messages —
/// costs a few lines per interval while other messages keep flowing. Shared by every logger of the process.
public final class LogRateLimiter: Sendable {
    /// The verdict for one line.
    public enum Decision: Equatable, Sendable {
        /// Write it; `suppressedBefore` lines from the same call site were left out since the last one written.
        case write(suppressedBefore: Int)
        case suppress
    }

    private struct Window {
        var startNs: UInt64
        var written: Int
        var suppressed: Int
    }

    public let burst: Int
    public let intervalNs: UInt64
    private let windows = Mutex<[String: Window]>([:])
    private let suppressedCount = Atomic<Int>(0)

    /// Lines left out since the start, over all call sites.
    public var suppressedTotal: Int { suppressedCount.load(ordering: .relaxed) }

    public init(burst: Int, intervalNs: UInt64) {
        self.burst = max(1, burst)
        self.intervalNs = max(1, intervalNs)
    }

    /// Decides for one line from call site `key` at monotonic time `nowNs`.
    public func decide(key: String, nowNs: UInt64) -> Decision {
        windows.withLock { windows in
            var window = windows[key] ?? Window(startNs: nowNs, written: 0, suppressed: 0)
            if nowNs &- window.startNs >= intervalNs {
                window.startNs = nowNs
                window.written = 0
            }
            let decision: Decision
            if window.written < burst {
                decision = .write(suppressedBefore: window.suppressed)
                window.written += 1
                window.suppressed = 0
            } else {
                decision = .suppress
                window.suppressed += 1
                suppressedCount.add(1, ordering: .relaxed)
            }
            windows[key] = window
            return decision
        }
    }
}
