import Foundation
import Logging
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

@Suite("Bad input and bad configs, fuzzed", .serialized)
struct FuzzTests {
    /// Over 100,000 refused messages (of about 116,000 mutated ones) mixed into 23,000 valid ones: the daemon
    /// keeps running, every refused message is on the dead-letter topic with the reason the decoder gives, and
    /// every valid one is scored.
    @Test(.timeLimit(.minutes(6)))
    func aHundredThousandBadMessagesAreDeadLetteredAndTheValidOnesScored() throws {
        let fixture = try DaemonFixture(prefix: "fuzz", partitions: 2)
        let decoder = EventDecoder(schema: fixture.config.schema)
        var options = TransactionGenerator.Options()
        options.seed = 31
        options.cards = 400
        var generator = TransactionGenerator(options: options)
        var mutator = InputMutator(seed: 32)
        let mutations = InputMutator.Mutation.allCases

        // What each message must become: a score (by event id) or a dead letter (by key) with a reason.
        var validIDs: [String: Int] = [:]
        var refusals: [String: DecodeError.Kind] = [:]
        var mutationMismatches: [String] = []
        var earlierID = "none"
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
        let total = 140_000
        for i in 0..<total {
            let t = generator.next()
            let key = Array("fz-\(i)".utf8)
            var bytes = Array(t.json.utf8)
            var expected: DecodeError.Kind?
            var mutation: InputMutator.Mutation?
            if i % 6 != 0 {
                mutation = mutations[i % mutations.count]
                (bytes, expected) = mutator.mutate(t.json, id: t.eventID, earlierID: earlierID, as: mutation!)
            }
            // The decoder is the oracle for what the daemon must do with each message.
            var event = Event()
            var outcome: DecodeError.Kind?
            if bytes.isEmpty {
                outcome = .emptyMessage
            } else {
                do {
                    try bytes.withUnsafeBytes { try decoder.decode($0, into: &event) }
                } catch let error as DecodeError {
                    outcome = error.kind
                } catch {
                    outcome = .malformedJSON
                }
            }
            if let expected, outcome != expected { mutationMismatches.append("\(mutation!): \(String(describing: outcome))") }
            if let outcome {
                refusals["fz-\(i)"] = outcome
            } else {
                let id = event.id.withBytes { String(decoding: $0, as: UTF8.self) }
                validIDs[id, default: 0] += 1
                if mutation == nil { earlierID = id }
            }
            try producer.produce(topic: fixture.config.kafka.inputTopics[0], key: key, value: bytes.isEmpty ? nil : bytes, blockWhenFull: true)
        }
        try producer.close(timeout: .seconds(60))
        #expect(mutationMismatches.isEmpty, "mutations that did not produce their refusal: \(mutationMismatches.prefix(5))")
        let validCount = validIDs.values.reduce(0, +)
        #expect(refusals.count >= 100_000, "at least 100,000 bad messages (\(refusals.count))")
        #expect(Set(refusals.values).count >= 10, "the refusals cover most kinds: \(Set(refusals.values))")

        // The daemon's logger as `vigil run` sets it up: structured, rate limited per call site.
        let lines = LineCollector()
        let limiter = LogRateLimiter(burst: 10, intervalNs: 10_000_000_000)
        var logger = Logger(label: "vigil") { StructuredLogHandler(label: $0, format: .logfmt, level: .info, limiter: limiter, sink: lines.sink) }
        logger.logLevel = .info
        let service = try VigilService(config: fixture.config, logger: logger)
        try service.start()
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = clock.now + .seconds(240)
        while clock.now < deadline,
            service.counters.scored.load(ordering: .relaxed) + service.counters.deadLettered.load(ordering: .relaxed) < total
        {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let seconds = Double((clock.now - started).components.seconds) + 1
        service.requestStop()
        service.waitUntilStopped()
        #expect(service.counters.consumed.load(ordering: .relaxed) >= total)
        // A flood of bad input does not flood the log: 10 lines per 10 s at most, the rest counted.
        let deadLetterLines = lines.lines.filter { $0.contains("dead-lettered") }
        #expect(deadLetterLines.count <= 10 * (Int(seconds / 10) + 1), "\(deadLetterLines.count) dead-letter log lines in \(seconds) s")
        #expect(limiter.suppressedTotal >= refusals.count - deadLetterLines.count, "the rest were counted, not written")

        let deadLetters = try Broker.readAll(fixture.config.kafka.deadLetterTopic, expecting: refusals.count, deadline: .seconds(120))
        var lettered: [String: String] = [:]
        for message in deadLetters {
            let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let kind = message.headers.first { $0.name == "vigil.error.kind" }?.value.map { String(decoding: $0, as: UTF8.self) }
            lettered[key] = kind ?? "(no reason)"
        }
        let missingLetters = refusals.keys.filter { lettered[$0] == nil }
        let wrongReasons = refusals.filter { lettered[$0.key] != nil && lettered[$0.key] != $0.value.rawValue }
        let unexpectedLetters = lettered.keys.filter { refusals[$0] == nil }
        #expect(missingLetters.isEmpty, "\(missingLetters.count) refused messages missing from the dead-letter topic")
        #expect(wrongReasons.isEmpty, "\(wrongReasons.count) dead letters with another reason, e.g. \(wrongReasons.first.map { "\($0.key): \($0.value) vs \(lettered[$0.key]!)" } ?? "")")
        #expect(unexpectedLetters.isEmpty, "\(unexpectedLetters.count) valid messages were dead-lettered")

        let scores = try Broker.readAll(fixture.config.kafka.scoresTopic!, expecting: validCount, deadline: .seconds(120))
        var scored: [String: Int] = [:]
        for message in scores {
            let object = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
            scored[object?["event_id"] as? String ?? "", default: 0] += 1
        }
        let unscored = validIDs.filter { (scored[$0.key] ?? 0) < $0.value }
        #expect(unscored.isEmpty, "\(unscored.count) valid event ids not scored as often as sent")
        #expect(scores.count >= validCount)
    }

    /// 3,000 random edits of the shipped config (lines dropped, duplicated, swapped, re-indented, characters
    /// changed, values replaced, cut short): each loads or is refused with located messages, never a crash.
    @Test func mutatedConfigsAreRefusedWithAMessageNeverACrash() throws {
        let original = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path, encoding: .utf8)
        let lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var rng = SplitMix64(seed: 77)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        let tokens = ["", "-1", "0", "1e309", "nan", "true", "[]", "{}", "\"\"", "5x", "99999999999999999999", "~", "&a", "*a", "!!binary x", "'", "\t", ":"]
        var refused = 0
        var accepted = 0
        for round in 0..<3_000 {
            var edited = lines
            for _ in 0..<(1 + below(3)) {
                let i = below(edited.count)
                switch below(7) {
                case 0: edited.remove(at: i)
                case 1: edited.insert(edited[i], at: i)
                case 2: edited.swapAt(i, below(edited.count))
                case 3: edited[i] = String(repeating: " ", count: below(6)) + edited[i].trimmingCharacters(in: .whitespaces)
                case 4:
                    var chars = Array(edited[i])
                    if !chars.isEmpty { chars[below(chars.count)] = Array("x:-[]{}#\"' 9")[below(12)] }
                    edited[i] = String(chars)
                case 5:
                    if let colon = edited[i].firstIndex(of: ":") { edited[i] = String(edited[i][...colon]) + " " + tokens[below(tokens.count)] }
                default: edited = Array(edited.prefix(i))
                }
                if edited.isEmpty { edited = [""] }
            }
            do {
                _ = try VigilConfiguration.load(yaml: edited.joined(separator: "\n"))
                accepted += 1
            } catch {
                refused += 1
                #expect(!error.errors.isEmpty, "round \(round): refused without a reason")
                for problem in error.errors {
                    #expect(!problem.message.isEmpty, "round \(round): an empty message")
                }
            }
        }
        #expect(refused > 1_000, "most edits break something: \(refused) refused, \(accepted) accepted")
    }
}
