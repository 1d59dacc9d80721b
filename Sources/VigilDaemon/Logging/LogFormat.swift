/// How the daemon writes log lines (`logging.format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=... level=... logger=... msg="..." key=value`: one line per record, for people and for Loki/grep.
    case logfmt
    /// One JSON object per line, for log shippers.
    case json
    /// swift-log's plain stream format.
    case text
}
