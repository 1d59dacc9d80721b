import Dispatch
import Foundation
public import Logging

/// A swift-log handler writing one structured line per record (logfmt or JSON, or swift-log's plain text), with a
/// per-call-site rate limit for warnings and errors.
public struct StructuredLogHandler: LogHandler {
    /// Where finished lines go (standard error by default; tests capture them).
    public typealias Sink = @Sendable (String) -> Void

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    public let label: String
    public let format: LogFormat
    /// Applies to `.warning` and above; nil writes everything.
    public let limiter: LogRateLimiter?
    private let sink: Sink

    public init(label: String, format: LogFormat, level: Logger.Level, limiter: LogRateLimiter?, sink: @escaping Sink = StructuredLogHandler.standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.limiter = limiter
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        var suppressed = 0
        if let limiter, level >= .warning {
            switch limiter.decide(key: "\(event.file):\(event.line):\(level)", nowNs: DispatchTime.now().uptimeNanoseconds) {
            case .suppress: return
            case .write(let count): suppressed = count
            }
        }
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let explicit = event.metadata { fields.merge(explicit) { _, new in new } }
        if let error = event.error { fields["error"] = "\(error)" }
        if suppressed > 0 { fields["suppressed"] = "\(suppressed)" }
        sink(Self.line(format: format, time: Date(), level: level, label: label, message: "\(event.message)", fields: fields))
    }

    /// Formats one record.
    static func line(format: LogFormat, time: Date, level: Logger.Level, label: String, message: String, fields: Logger.Metadata) -> String {
        let timestamp = Self.timestamp(time)
        let sorted = fields.sorted { $0.key < $1.key }
        switch format {
        case .logfmt:
            var line = "ts=\(timestamp) level=\(level) logger=\(logfmtValue(label)) msg=\(logfmtValue(message))"
            for (key, value) in sorted { line += " \(logfmtKey(key))=\(logfmtValue("\(value)"))" }
            return line
        case .json:
            var line = #"{"ts":"\#(timestamp)","level":"\#(level)","logger":\#(jsonString(label)),"msg":\#(jsonString(message))"#
            for (key, value) in sorted { line += ",\(jsonString(key)):\(jsonString("\(value)"))" }
            return line + "}"
        case .text:
            let rendered = sorted.isEmpty ? "" : " " + sorted.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "\(timestamp) \(level) \(label) :\(rendered) \(message)"
        }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }

    private static func logfmtKey(_ key: String) -> String {
        String(key.map { $0 == " " || $0 == "=" || $0 == "\"" ? "_" : $0 })
    }

    /// Bare when it has no space, quote, equals sign or control character; quoted and escaped otherwise.
    static func logfmtValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.value < 0x20 }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    static func jsonString(_ value: String) -> String {
        var writer = JSONWriter(capacity: value.utf8.count + 8)
        writer.string(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Writes a line to standard error in one `write` call, so lines from different threads never interleave.
    public static let standardError: Sink = { line in
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
