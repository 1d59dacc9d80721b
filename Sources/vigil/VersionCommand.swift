import ArgumentParser
import VigilKafka

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print Vigil's and librdkafka's versions.")

    func run() throws {
        print("vigil 0.1.0 (librdkafka \(KafkaConsumer.librdkafkaVersion))")
    }
}
