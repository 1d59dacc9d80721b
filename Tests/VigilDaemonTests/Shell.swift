import Foundation

/// Runs shell commands for tests with posix_spawn and waitpid: Foundation's `Process` was seen missing a
/// child's exit here (a script that starts a daemon).
enum Shell {
    /// Runs `command` with /bin/sh, standard output (and error, unless `standardError` is false) going to a
    /// temporary file, and returns the exit status and what it printed.
    static func run(_ command: String, environment: [String: String] = [:], standardError: Bool = true) throws -> (status: Int32, output: String) {
        let output = NSTemporaryDirectory() + "vigil-shell-\(UUID().uuidString.prefix(8)).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let assignments = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let line = "\(assignments.isEmpty ? "" : "export \(assignments); ")\(command) >'\(output)' \(standardError ? "2>&1" : "2>/dev/null")"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(line), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw TestSetupError("cannot run /bin/sh") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let exit = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// The built `vigil` executable (scripts/test builds it before the tests run).
    static var vigil: String { repositoryRoot.appendingPathComponent(".build/debug/vigil").path }
}
