import ArgumentParser
import Foundation
import VigilDaemon

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask a running daemon to re-read its config (thresholds, rules, cooldowns, detector weights).",
        discussion: """
            Posts to the daemon's loopback admin endpoint (/admin/reload), found from http.listen in --config or \
            given with --http. Sending SIGHUP to the daemon does the same. Exits 0 when the new config was applied, \
            1 when it was refused (changes that need a restart) or has errors; the daemon keeps its running config then.
            """
    )

    @Option(name: .long, help: "The daemon's config file (its http.listen is used).") var config: String?
    @Option(name: .long, help: "host:port of the daemon's HTTP endpoints (instead of --config).") var http: String?
    @Option(name: .long, help: "The admin token (default: $VIGIL_ADMIN_TOKEN, or http.admin_token from --config).") var token: String?

    func run() throws {
        let listen: String
        var token = self.token ?? ProcessInfo.processInfo.environment["VIGIL_ADMIN_TOKEN"]
        if let http {
            listen = http
        } else if let config {
            do {
                let loaded = try VigilConfiguration.load(file: config)
                listen = loaded.httpListen
                token = token ?? loaded.adminToken
            } catch let errors as ConfigErrors {
                for error in errors.errors { printError("\(config): \(error)") }
                throw ExitCode(1)
            }
        } else {
            throw ValidationError("give --config FILE or --http HOST:PORT")
        }
        guard listen != "off", let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            printError("the daemon's http.listen is \(listen): no admin endpoint to call (send SIGHUP instead)")
            throw ExitCode(1)
        }
        var host = String(listen[..<colon])
        if host.isEmpty || host == "0.0.0.0" || host == "*" { host = "127.0.0.1" }
        let response = try SimpleHTTPClient.request(method: "POST", host: host, port: port, path: "/admin/reload", bearerToken: token)
        print(response.body)
        if response.status != 200 { throw ExitCode(1) }
    }
}
