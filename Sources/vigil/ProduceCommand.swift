import ArgumentParser
import Foundation
import Logging
import VigilDaemon
import VigilKafka

struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce a seeded synthetic card-transaction stream with injected fraud and a label field."
    )

    @Option(name: .long, help: "Brokers to produce to (with --topic).") var brokers: String = "127.0.0.1:9092"
    @Option(name: .long, help: "Topic to produce to, keyed by card.") var topic: String?
    @Option(name: .long, help: "File to write JSON lines to instead of a topic ('-' for standard output).") var output: String?
    @Option(name: .long, help: "Events to produce.") var count: Int = 100_000
    @Option(name: .long, help: "Events per second of wall-clock time (0: as fast as possible).") var rate: Double = 0
    @Option(name: .long, help: "Events per second of event time.") var eventRate: Double = 1000
    @Option(name: .long, help: "Fraction of events that are fraudulent.") var fraudRate: Double = 0.01
    @Option(name: .long, help: "Random seed: the same seed gives the same stream.") var seed: UInt64 = 1
    @Option(name: .long, help: "Number of cards.") var cards: Int = 20_000
    @Option(name: .long, help: "Number of merchants.") var merchants: Int = 2_000
    @Option(name: .long, help: "Event time of the first event, ms since the epoch (default: now).") var startMs: Int64?
    @Option(name: .long, help: "Also produce this many malformed messages, spread through the stream.") var malformed: Int = 0
    @Flag(name: .long, help: "Give every event a card never seen before (a key explosion, for memory-bound tests).") var distinctCards = false

    func validate() throws {
        guard (topic == nil) != (output == nil) else { throw ValidationError("give exactly one of --topic and --output") }
        guard (0...0.5).contains(fraudRate) else { throw ValidationError("--fraud-rate must be between 0 and 0.5") }
    }

    func run() throws {
        var options = TransactionGenerator.Options()
        options.seed = seed
        options.cards = max(1, cards)
        options.merchants = max(1, merchants)
        options.fraudRate = fraudRate
        options.eventsPerSecond = eventRate
        options.startMs = startMs ?? Int64(Date().timeIntervalSince1970 * 1000)
        var generator = TransactionGenerator(options: options)
        let sink = try Sink(topic: topic, output: output, brokers: brokers)
        let malformedEvery = malformed > 0 ? max(1, count / malformed) : Int.max
        var malformedSent = 0
        let clock = ContinuousClock()
        let start = clock.now
        var fraud = 0
        for i in 0..<count {
            let next = generator.next()
            fraud += next.label
            if distinctCards {
                let card = "x\(seed)-\(i)"
                try sink.send(key: card, value: next.json.replacingOccurrences(of: "\"card_id\":\"\(next.key)\"", with: "\"card_id\":\"\(card)\""))
            } else {
                try sink.send(key: next.key, value: next.json)
            }
            if (i + 1) % malformedEvery == 0, malformedSent < malformed {
                try sink.send(key: next.key, value: MalformedSamples.sample(malformedSent, seed: seed))
                malformedSent += 1
            }
            if rate > 0 {
                let due = start + .seconds(Double(i + 1) / rate)
                if clock.now < due { Thread.sleep(forTimeInterval: Double((due - clock.now).components.attoseconds) / 1e18) }
            }
        }
        try sink.finish()
        printError("produced \(count) events (\(fraud) fraudulent) and \(malformedSent) malformed messages")
    }
}

/// Where `vigil produce` writes.
private final class Sink {
    let producer: KafkaProducer?
    let topic: KafkaProducerTopic?
    let file: FileHandle?
    var buffer: [UInt8] = []

    init(topic name: String?, output: String?, brokers: String) throws {
        if let name {
            let options = KafkaClientOptions(bootstrapServers: brokers.split(separator: ",").map(String.init), clientID: "vigil-produce")
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(client: options, linger: .milliseconds(5)),
                logger: quietLogger("vigil.produce")
            )
            self.producer = producer
            self.topic = try producer.topic(name)
            self.file = nil
        } else {
            producer = nil
            topic = nil
            if output == "-" {
                file = FileHandle.standardOutput
            } else {
                guard FileManager.default.createFile(atPath: output!, contents: nil) else { throw ValidationError("cannot create \(output!)") }
                guard let handle = FileHandle(forWritingAtPath: output!) else { throw ValidationError("cannot write \(output!)") }
                file = handle
            }
        }
        buffer.reserveCapacity(1 << 20)
    }

    func send(key: String, value: String) throws {
        if let producer, let topic {
            var k = Array(key.utf8)
            var v = Array(value.utf8)
            try k.withUnsafeMutableBytes { key in
                try v.withUnsafeMutableBytes { value in
                    try producer.produce(to: topic, key: UnsafeRawBufferPointer(key), value: UnsafeRawBufferPointer(value), blockWhenFull: true)
                }
            }
        } else {
            buffer.append(contentsOf: value.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 { flushFile() }
        }
    }

    private func flushFile() {
        file?.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        if let producer { try producer.close(timeout: .seconds(60)) }
        flushFile()
        if file !== FileHandle.standardOutput { try file?.close() }
    }
}
