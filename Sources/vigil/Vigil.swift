import ArgumentParser

@main
struct Vigil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Real-time fraud and anomaly scoring for Kafka.",
        subcommands: [RunCommand.self, CheckConfigCommand.self, ProduceCommand.self, ReplayCommand.self, TailCommand.self, ReloadCommand.self, BenchCommand.self, TopicsCommand.self, VersionCommand.self]
    )
}
