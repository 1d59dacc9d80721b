#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Logging

/// Writes a line to standard error (file descriptor 2, so no shared `FILE *` is touched).
func printError(_ message: String) {
    var line = Array((message + "\n").utf8)
    line.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}

/// Writes a line to standard output at once (unbuffered, so piped output shows alerts as they arrive).
func writeLine(_ message: String) {
    var line = Array((message + "\n").utf8)
    line.withUnsafeMutableBytes { _ = write(1, $0.baseAddress, $0.count) }
}

/// A logger for the client commands: warnings and errors only, on standard error.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}
