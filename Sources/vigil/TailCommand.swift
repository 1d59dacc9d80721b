import ArgumentParser
import Foundation
import Logging
import VigilDaemon
import VigilKafka

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print alerts as they arrive, one readable line each."
    )

    @Option(name: .long, help: "Brokers.") var brokers: String = "127.0.0.1:9092"
    @Option(name: .long, help: "The alert topic.") var topic: String = "alerts"
    @Flag(name: .long, help: "Print the raw JSON records.") var json = false
    @Flag(name: .long, help: "Start from the oldest alert instead of new ones.") var fromBeginning = false
    @Flag(name: .long, inversion: .prefixedNo, help: "Keep waiting for new alerts (--no-follow stops when caught up).") var follow = true
    @Option(name: .long, help: "Stop after this many alerts.") var limit: Int?

    func run() throws {
        let options = KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-tail")
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: options,
                groupID: "vigil-tail-\(UUID().uuidString.prefix(8))",
                offsetReset: fromBeginning ? .earliest : .latest,
                reportPartitionEOF: !follow
            ),
            logger: quietLogger("vigil.tail")
        )
        try consumer.subscribe([topic])
        var printed = 0
        var idle = 0
        var atEnd = 0
        signal(SIGINT) { _ in StopFlag.requested = 1 }
        signal(SIGTERM) { _ in StopFlag.requested = 1 }
        while StopFlag.requested == 0 {
            let batch = try consumer.poll(maxMessages: 500, timeout: .milliseconds(200))
            for message in batch.messages where StopFlag.requested == 0 {
                guard let value = message.value else { continue }
                writeLine(json ? String(decoding: value, as: UTF8.self) : AlertLine.format(Data(value)))
                printed += 1
                if let limit, printed >= limit { StopFlag.requested = 1 }
            }
            if !follow {
                // Caught up once every assigned partition reported its end and nothing more arrived.
                atEnd += batch.errors.filter { $0.code == .partitionEOF }.count
                idle = batch.messages.isEmpty ? idle + 1 : 0
                let assigned = try consumer.assignment().count
                if assigned > 0, atEnd >= assigned, idle >= 2 { break }
            }
        }
        try consumer.close()
    }
}

/// Set from the signal handler; read by the polling loop.
private struct StopFlag {
    nonisolated(unsafe) static var requested: sig_atomic_t = 0
}
