import ArgumentParser
import Logging
import VigilKafka

struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "List or create topics.",
        subcommands: [List.self, Create.self]
    )

    struct Connection: ParsableArguments {
        @Option(name: .long, help: "Bootstrap brokers, host:port[,host:port].")
        var brokers: String = "127.0.0.1:9092"

        func admin() throws -> KafkaAdmin {
            let options = KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-topics")
            return try KafkaAdmin(client: options, logger: quietLogger("vigil.topics"))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics and their partition counts.")
        @OptionGroup var connection: Connection

        func run() throws {
            for topic in try connection.admin().listTopics() {
                print("\(topic.name)\t\(topic.partitions.count)")
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create topics (existing ones are left alone).")
        @OptionGroup var connection: Connection
        @Option(name: .long, help: "Partitions per topic.") var partitions: Int32 = 4
        @Option(name: .long, help: "Topic config key=value, repeatable (cleanup.policy=compact).") var config: [String] = []
        @Argument(help: "Topic names.") var names: [String]

        func run() throws {
            let configs = try keyValuePairs(config, option: "--config")
            let specs = names.map { KafkaTopicSpecification(name: $0, partitions: partitions, configs: configs) }
            try connection.admin().createTopics(specs)
            print("created or present: \(names.joined(separator: ", "))")
        }
    }
}
