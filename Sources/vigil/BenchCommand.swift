import ArgumentParser
import Foundation
import Logging
import VigilDaemon

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput.",
        subcommands: [Core.self, Kafka.self, Latency.self, Memory.self, Forest.self, Scale.self, Quick.self, Machine.self]
    )

    struct Core: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events through decode + features + detectors in-process (no Kafka), 1 thread and 1...N workers."
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/vigil.yaml"
        @Option(name: .long, help: "Synthetic events per run.") var events: Int = 500_000
        @Option(name: .long, help: "Rounds of runs, each measurement once per round; the median of each is reported.") var runs: Int = 3
        @Option(name: .long, help: "Largest worker count.") var maxWorkers: Int = ProcessInfo.processInfo.activeProcessorCount
        @Option(name: .long, help: "Append the results as Markdown to this file.") var markdown: String?
        @Flag(name: .long, help: "Print the rows as JSON lines instead of a table.") var json = false
        @Flag(name: .long, help: "Then feed the threaded core with the most workers at half its measured rate and report each event's latency (no broker).")
        var latency = false

        func run() throws {
            let configuration = try VigilConfiguration.load(file: config)
            let bench = CoreBenchmark(config: configuration, count: events)
            // Round by round, every measurement once per round, so that the ratios to the one-thread row compare runs
            // taken minutes apart at most, not one row's runs on a quiet machine with another's on a busy one.
            var samples: [[CoreBenchmark.Row]] = Array(repeating: [], count: 2 + max(1, maxWorkers))
            for _ in 0..<max(1, runs) {
                samples[0].append(bench.decodeOnly())
                samples[1].append(bench.sequential())
                for workers in 1...max(1, maxWorkers) { samples[1 + workers].append(bench.pipeline(workers: workers)) }
            }
            let rows = samples.map(\.median)
            let paced = latency ? bench.pacedLatency(workers: max(1, maxWorkers), rate: rows[rows.count - 1].eventsPerSecond / 2) : nil
            if json {
                for row in rows { print(row.jsonLine()) }
                if let p = paced {
                    print(#"{"paced_latency":{"workers":\#(p.workers),"rate":\#(Int(p.rate)),"fed_rate":\#(Int(p.fedRate)),"events":\#(p.events),"p50_ms":\#(p.p50),"p99_ms":\#(p.p99),"p999_ms":\#(p.p999),"max_ms":\#(p.max)}}"#)
                }
                return
            }
            let base = rows[1].eventsPerSecond
            var lines = ["| measurement | events | seconds | events/s | vs 1 thread |", "|---|---:|---:|---:|---:|"]
            for row in rows {
                lines.append(
                    "| \(row.name) | \(row.events) | \(String(format: "%.3f", row.seconds)) | \(Int(row.eventsPerSecond)) | \(String(format: "%.2fx", row.eventsPerSecond / base)) |"
                )
            }
            if let p = paced {
                lines.append("")
                lines.append(String(format: "Threaded core, %d workers, fed evenly at %d events/s (half its rate), from each event being due to the stage finishing it: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d events).",
                    p.workers, Int(p.fedRate), p.p50, p.p99, p.p999, p.max, p.events))
            }
            let table = lines.joined(separator: "\n")
            print(table)
            if let markdown {
                let header = """

                    ### vigil bench core — \(ISO8601DateFormatter().string(from: Date()))

                    Command: `vigil bench core --config \(config) --events \(events) --runs \(runs)`, release build.
                    Machine: \(MachineDescription.current). Commit: \(MachineDescription.commit).


                    """
                if !FileManager.default.fileExists(atPath: markdown) {
                    guard FileManager.default.createFile(atPath: markdown, contents: nil) else {
                        throw ValidationError("cannot create \(markdown)")
                    }
                }
                guard let handle = FileHandle(forWritingAtPath: markdown) else { throw ValidationError("cannot write \(markdown)") }
                handle.seekToEndOfFile()
                handle.write(Data((header + table + "\n").utf8))
                try handle.close()
            }
        }
    }
}

extension BenchCommand {
    /// The raw librdkafka read and the daemon pipeline on one topic, alternating, several runs each.
    struct Kafka: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "librdkafka alone reading a topic vs the Vigil pipeline scoring it, side by side (medians, ratio)."
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/bench.yaml"
        @Option(name: .long, help: "Brokers holding the topic.") var brokers: String
        @Option(name: .long, help: "The prepared topic (from vigil produce).") var topic: String
        @Option(name: .long, help: "Events to read per run (at most the topic's size).") var events: Int = 1_000_000
        @Option(name: .long, help: "Runs of each; the median is reported.") var runs: Int = 3
        @Flag(name: .long, help: "Print the rows as JSON lines instead of a table.") var json = false

        func run() throws {
            let configuration = try VigilConfiguration.load(file: config)
            let logger = Logger(label: "vigil.bench") { StructuredLogHandler(label: $0, format: .logfmt, level: .warning, limiter: nil) }
            let bench = KafkaBenchmark(brokers: brokers, topic: topic, events: events)
            var raw: [CoreBenchmark.Row] = []
            var pipeline: [CoreBenchmark.Row] = []
            for _ in 0..<max(1, runs) {
                raw.append(try bench.rawRead(properties: configuration.kafka.properties, logger: logger))
                pipeline.append(try bench.pipeline(config: configuration, logger: logger))
            }
            let rows = [raw.median, pipeline.median]
            if json {
                for row in rows { print(row.jsonLine()) }
                return
            }
            print("| measurement | events | seconds | events/s | vs raw read |")
            print("|---|---:|---:|---:|---:|")
            for row in rows {
                print("| \(row.name) | \(row.events) | \(String(format: "%.3f", row.seconds)) | \(Int(row.eventsPerSecond)) | \(String(format: "%.1f %%", 100 * row.eventsPerSecond / rows[0].eventsPerSecond)) |")
            }
        }
    }

    /// A short core benchmark that records its figure or checks against the recorded one.
    struct Quick: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Regression guard (well under a minute): the core rate on one thread, against a recorded figure.",
            discussion: """
                Run with --record before a change (writes the median rate to the baseline file), and without it \
                after: exits non-zero when the rate dropped by more than --tolerance. Machines are noisy: record \
                and check on the same machine, close together in time.
                """
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/bench.yaml"
        @Option(name: .long, help: "Where the recorded figure lives.") var baseline: String = ".build/bench-baseline.json"
        @Option(name: .long, help: "Synthetic events per run.") var events: Int = 200_000
        @Option(name: .long, help: "Runs; the median is used.") var runs: Int = 5
        @Option(name: .long, help: "Allowed drop, as a fraction.") var tolerance: Double = 0.10
        @Flag(name: .long, help: "Record this run's figure as the baseline.") var record = false

        func run() throws {
            let bench = CoreBenchmark(config: try VigilConfiguration.load(file: config), count: events)
            _ = bench.sequential()
            let samples = (0..<max(1, runs)).map { _ in bench.sequential().eventsPerSecond }.sorted()
            let rate = samples[samples.count / 2]
            print("core, 1 thread: \(Int(rate)) events/s (median of \(samples.count); \(samples.map { String(Int($0)) }.joined(separator: ", ")))")
            if record {
                let text = #"{"config":"\#(config)","events_per_second":\#(Int(rate)),"commit":"\#(MachineDescription.commit)"}"#
                try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: baseline))
                print("recorded in \(baseline)")
                return
            }
            guard let data = FileManager.default.contents(atPath: baseline),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let recorded = object["events_per_second"] as? Double ?? (object["events_per_second"] as? Int).map(Double.init)
            else { throw ValidationError("no baseline in \(baseline): run with --record first") }
            let change = rate / recorded - 1
            print("baseline: \(Int(recorded)) events/s (commit \(object["commit"] ?? "?")); change \(String(format: "%+.1f %%", 100 * change))")
            if change < -tolerance {
                print("REGRESSION: more than \(Int(tolerance * 100)) % slower than the baseline")
                throw ExitCode(1)
            }
        }
    }
}

extension BenchCommand {
    /// Events/s with 1, 2, 3... instances in one group.
    struct Scale: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events/s of 1..N daemon instances in one consumer group (pipeline.repartition on), beside one without.",
            discussion: """
                Prepares a topic of --events synthetic events over --partitions partitions (unless --topic names one \
                already prepared), then, for each instance count, starts that many daemons together in a fresh group \
                reading it from the beginning and times the first event read to the last scored. Reports the CPU this \
                process and the broker (--broker-pid) used, which says what limits the scaling on this machine.
                """)

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/bench.yaml"
        @Option(name: .long, help: "Brokers.") var brokers: String
        @Option(name: .long, help: "A prepared topic to read (default: prepare a fresh one).") var topic: String?
        @Option(name: .long, help: "Events in the prepared topic.") var events: Int = 200_000
        @Option(name: .long, help: "Partitions of the prepared topic.") var partitions: Int32 = 6
        @Option(name: .long, help: "The largest instance count.") var instances: Int = 3
        @Option(name: .long, help: "Runs of each; the median is reported.") var runs: Int = 1
        @Option(name: .long, help: "The broker's process id, to report its CPU use too.") var brokerPid: Int32?
        @Flag(name: .long, help: "Print the rows as JSON lines instead of a table.") var json = false

        func run() throws {
            let configuration = try VigilConfiguration.load(file: config)
            let logger = Logger(label: "vigil.bench") { StructuredLogHandler(label: $0, format: .logfmt, level: .warning, limiter: nil) }
            let name = topic ?? "bench.scale-\(UUID().uuidString.prefix(8))"
            let bench = KafkaBenchmark(brokers: brokers, topic: name, events: events)
            if topic == nil { try bench.prepareTopic(partitions: partitions, logger: logger) }
            var rows: [KafkaBenchmark.ScalingRun] = []
            for (count, repartition) in [(1, false)] + (1...max(1, instances)).map({ ($0, true) }) {
                let samples = try (0..<max(1, runs)).map { _ in
                    try bench.scaling(config: configuration, instances: count, repartition: repartition, brokerPID: brokerPid, logger: logger)
                }.sorted { $0.eventsPerSecond < $1.eventsPerSecond }
                rows.append(samples[samples.count / 2])
            }
            let base = rows[1].eventsPerSecond
            if json {
                for r in rows {
                    let broker = r.brokerCores.map { String(format: "%.2f", $0) } ?? "null"
                    print(#"{"name":"\#(r.name)","instances":\#(r.instances),"repartition":\#(r.repartition),"events":\#(r.events),"seconds":\#(r.seconds),"events_per_second":\#(Int(r.eventsPerSecond)),"rescored":\#(r.rescored),"process_cores":\#(String(format: "%.2f", r.processCores)),"broker_cores":\#(broker)}"#)
                }
                return
            }
            print("| instances | events | seconds | events/s | vs 1 instance (repartition) | re-scored | cores: vigil / broker |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for r in rows {
                let broker = r.brokerCores.map { String(format: "%.2f", $0) } ?? "?"
                print("| \(r.name) | \(r.events) | \(String(format: "%.2f", r.seconds)) | \(Int(r.eventsPerSecond)) | \(String(format: "%.2fx", r.eventsPerSecond / base)) | \(r.rescored) | \(String(format: "%.2f", r.processCores)) / \(broker) |")
            }
        }
    }

    /// Read-to-delivery latency at a steady input rate.
    struct Latency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read-to-delivery latency percentiles (HDR histogram) of the Vigil pipeline at a steady input rate.",
            discussion: """
                Produces synthetic events at --rate into a fresh topic (as many partitions as --topic has) while the \
                daemon pipeline scores them, and reports the daemon's own latency histogram: each event from being \
                read to the broker acknowledging its last output (or to being scored, when it has none). The first \
                --warmup seconds are left out. scripts/bench runs it at half the pipeline's measured maximum. Also \
                reported: each record's input delay (from its timestamp, set when the paced producer hands it over, \
                to being read), and the read-to-delivery figures over only the seconds of steady input, the seconds \
                in which no record had waited over 250 ms upstream, following a second like that: when the broker \
                holds the input back, what it then hands over in a burst queues in the pipeline, and those seconds \
                show that catch-up rather than the pipeline's own latency.
                """
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/bench.yaml"
        @Option(name: .long, help: "Brokers.") var brokers: String
        @Option(name: .long, help: "The prepared topic (its partition count and name prefix are used).") var topic: String
        @Option(name: .long, help: "Input events per second.") var rate: Double
        @Option(name: .long, help: "Measured seconds.") var seconds: Double = 20
        @Option(name: .long, help: "Seconds left out at the start.") var warmup: Double = 5
        @Option(name: .long, help: "The broker's process id, to report its CPU use too.") var brokerPid: Int32?
        @Option(
            name: .long,
            help: "A librdkafka property for the daemon's clients, over the config's (KEY=VALUE; repeatable), such as fetch.wait.max.ms=10."
        )
        var property: [String] = []
        @Flag(name: .long, help: "Print the result as one JSON line.") var json = false

        func run() throws {
            var configuration = try VigilConfiguration.load(file: config)
            configuration.kafka.properties.merge(try keyValuePairs(property, option: "--property")) { _, given in given }
            let logger = Logger(label: "vigil.bench") { StructuredLogHandler(label: $0, format: .logfmt, level: .warning, limiter: nil) }
            let bench = KafkaBenchmark(brokers: brokers, topic: topic, events: 0)
            let r = try bench.latency(config: configuration, rate: rate, seconds: seconds, warmup: warmup, brokerPID: brokerPid, logger: logger)
            let broker = r.brokerCores.map { String(format: "%.2f", $0) } ?? "null"
            if json {
                print(#"{"target_rate":\#(Int(r.targetRate)),"produced_rate":\#(Int(r.producedRate)),"events":\#(r.events),"p50_ms":\#(r.p50),"p99_ms":\#(r.p99),"p999_ms":\#(r.p999),"max_ms":\#(r.max),"p99_without_outputs_ms":\#(r.p99WithoutOutputs),"with_outputs":{"events":\#(r.withOutputs.events),"p50_ms":\#(r.withOutputs.p50),"p99_ms":\#(r.withOutputs.p99),"max_ms":\#(r.withOutputs.max)},"input_delay":{"p50_ms":\#(r.inputDelay.p50),"p99_ms":\#(r.inputDelay.p99),"max_ms":\#(r.inputDelay.max)},"steady":{"seconds":\#(r.steady.seconds),"of":\#(r.steady.of),"p50_ms":\#(r.steady.p50),"p99_ms":\#(r.steady.p99),"p999_ms":\#(r.steady.p999)},"process_cores":\#(String(format: "%.2f", r.processCores)),"broker_cores":\#(broker)}"#)
                return
            }
            print("input \(Int(r.producedRate)) events/s (asked \(Int(r.targetRate))), \(r.events) events measured")
            print("CPU over the measured seconds: this process (pipeline and producer) \(String(format: "%.2f", r.processCores)) cores, broker \(broker)")
            print(String(format: "read-to-delivery latency: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms", r.p50, r.p99, r.p999, r.max))
            print(String(format: "  events without outputs (read to scored): p99 %.2f ms", r.p99WithoutOutputs))
            print(String(format: "  %d events with outputs (read to the broker's acknowledgement): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                r.withOutputs.events, r.withOutputs.p50, r.withOutputs.p99, r.withOutputs.max))
            print(String(format: "input delay (record timestamp to read: the producer and the broker): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                r.inputDelay.p50, r.inputDelay.p99, r.inputDelay.max))
            print(String(format: "read-to-delivery over the %d of %d seconds of steady input (no record read later than %d ms): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms",
                r.steady.seconds, r.steady.of, Int(LiveStatistics.steadyInputDelayMicroseconds / 1000), r.steady.p50, r.steady.p99, r.steady.p999))
        }
    }

    /// State per key and heap allocations per event.
    struct Memory: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bytes of state per active entity key, and heap allocations per event in steady state.",
            discussion: """
                Allocations are counted only when the process runs with scripts/benchmarking/allocation_counter.c \
                preloaded (LD_PRELOAD); scripts/bench builds it and does so. The first half of the events warms the \
                state up; the second half is counted, on one thread and through the threaded core, for --events and \
                twice as many: the difference per extra event is the per-event figure. VIGIL_ALLOCATION_TRACE=1 prints \
                the call stacks of the counted allocations (the first 64) to standard error.
                """
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/bench.yaml"
        @Option(name: .long, help: "Distinct cards for the per-key figure (three events each).") var cards: Int = 200_000
        @Option(name: .long, help: "Events for the allocation count (the second half is counted; then twice as many).") var events: Int = 400_000
        @Option(name: .long, help: "Workers for the threaded allocation count.") var workers: Int = 2
        @Flag(name: .long, help: "Print JSON lines instead of text.") var json = false

        func run() throws {
            let configuration = try VigilConfiguration.load(file: config)
            // Allocations first: the per-key run leaves a large, fragmented heap behind, which changes how often
            // growing arrays reallocate.
            if let counter = AllocationCounter() {
                // Two stream lengths: what grows with the number of events is the per-event cost; the rest is
                // capacity growth of structures sized by the data (sketch levels, key tables).
                let short = CoreBenchmark(config: configuration, count: events)
                let long = CoreBenchmark(config: configuration, count: 2 * events)
                let pairs = [
                    (short.sequential(counting: counter), long.sequential(counting: counter)),
                    (short.pipeline(workers: workers, counting: counter), long.pipeline(workers: workers, counting: counter)),
                ]
                for (a, b) in pairs {
                    let counted = { (row: CoreBenchmark.Row) in (events: row.events - row.events / 2, allocations: ((row.allocationsPerEvent ?? .nan) * Double(row.events - row.events / 2)).rounded()) }
                    let (x, y) = (counted(a), counted(b))
                    let perEvent = (y.allocations - x.allocations) / Double(y.events - x.events)
                    if json {
                        print(#"{"allocations":"\#(b.name)","events":[\#(x.events),\#(y.events)],"allocations_counted":[\#(Int(x.allocations)),\#(Int(y.allocations))],"allocations_per_event":\#(max(0, perEvent))}"#)
                    } else {
                        print("\(b.name): \(Int(x.allocations)) heap allocations in \(x.events) steady-state events, \(Int(y.allocations)) in \(y.events): \(String(format: "%.5f", max(0, perEvent))) per event")
                    }
                }
            } else {
                print(json ? #"{"allocations":null}"# : "allocations: not counted (run with LD_PRELOAD=allocation_counter.so)")
            }
            let report = MemoryBenchmark(config: configuration, cards: cards).run()
            for row in report.rows {
                let resident = row.residentBytesPerKey.map { String(Int($0)) } ?? "null"
                let longest = row.longestEvent.map { #"{"ms":\#(String(format: "%.3f", $0.milliseconds)),"keys":\#($0.keys)}"# } ?? "null"
                let slow = row.slowEvents.map { #"{"count":\#($0.count),"ms":\#(String(format: "%.1f", $0.milliseconds))}"# } ?? "null"
                if json {
                    let stores = row.declared.map { #"["\#($0.store)",\#($0.bytes)]"# }.joined(separator: ",")
                    print(#"{"entity":"\#(row.entity)","keys":\#(row.keys),"declared_bytes_per_key":\#(row.declaredBytesPerKey),"resident_bytes_per_key":\#(resident),"longest_event":\#(longest),"events_over_1ms":\#(slow),"declared_by_store":[\#(stores)]}"#)
                } else {
                    print("\(row.entity): \(row.keys) keys, \(row.declaredBytesPerKey) bytes per key declared, \(resident) resident")
                    if let longest = row.longestEvent {
                        print("    longest event while its keys arrived: \(String(format: "%.3f", longest.milliseconds)) ms (\(longest.keys) keys held after it)")
                    }
                    if let slow = row.slowEvents {
                        print("    events over 1 ms while its keys arrived: \(slow.count), \(String(format: "%.1f", slow.milliseconds)) ms in all")
                    }
                    for part in row.declared { print("    \(part.bytes) B  \(part.store)") }
                }
            }
            let checkpoint = report.checkpoint
            if json {
                print(#"{"checkpoint_bytes":\#(checkpoint.bytes),"chunks":\#(checkpoint.chunks),"first_write_s":\#(checkpoint.firstWriteSeconds),"write_s":\#(checkpoint.writeSeconds),"restore_s":\#(checkpoint.restoreSeconds),"restored_keys_match":\#(checkpoint.restoredKeysMatch)}"#)
            } else {
                print("""
                    checkpoint of that state: \(checkpoint.bytes / 1_000_000) MB in \(checkpoint.chunks) chunks, written in \
                    \(String(format: "%.2f", checkpoint.firstWriteSeconds)) s the first time, \
                    \(String(format: "%.2f", checkpoint.writeSeconds)) s with room reserved from its size, \
                    restored in \(String(format: "%.2f", checkpoint.restoreSeconds)) s\
                    \(checkpoint.restoredKeysMatch ? "" : " (THE RESTORED STATE DIFFERS)")
                    """)
            }
        }
    }
}

extension BenchCommand {
    /// The random cut forest alone, as Amazon's JMH benchmark measures theirs.
    struct Forest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Random cut forest points/s (score, then update) on Amazon's benchmark workload.",
            discussion: """
                Mirrors RandomCutForestBenchmark.scoreAndUpdate of github.com/aws/random-cut-forest-by-aws: a fresh \
                forest per run, 10 dimensions, sample size 256, 50,000 points of a normal mixture. Medians of --runs.
                """
        )

        @Option(name: .long, parsing: .upToNextOption, help: "Tree counts to measure.") var trees: [Int] = [50, 100]
        @Option(name: .long, help: "Points per run.") var points: Int = 50_000
        @Option(name: .long, help: "Runs per tree count; the median is reported.") var runs: Int = 3
        @Flag(name: .long, help: "Print JSON lines instead of a table.") var json = false

        func run() throws {
            let bench = ForestBenchmark(count: points)
            if !json {
                print("| measurement | points | seconds | points/s |")
                print("|---|---:|---:|---:|")
            }
            for count in trees {
                let row = (0..<max(1, runs)).map { _ in bench.run(trees: count) }.median
                if json {
                    print(row.jsonLine(extra: #""trees":\#(count),"#))
                } else {
                    print("| \(row.name) | \(row.events) | \(String(format: "%.3f", row.seconds)) | \(Int(row.eventsPerSecond)) |")
                }
            }
        }
    }
}

extension BenchCommand {
    /// Prints the machine description the benchmark reports carry (scripts/bench uses it).
    struct Machine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe this machine as benchmark reports do.")

        func run() { print(MachineDescription.current) }
    }
}

extension Array where Element == CoreBenchmark.Row {
    /// The run with the median time.
    var median: CoreBenchmark.Row { sorted { $0.seconds < $1.seconds }[count / 2] }
}

/// The machine a benchmark ran on.
enum MachineDescription {
    static var current: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory) memory, \(ProcessInfo.processInfo.operatingSystemVersionString)"
    }

    static var commit: String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["rev-parse", "--short", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
            process.waitUntilExit()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            return "unknown"
        }
    }
}
