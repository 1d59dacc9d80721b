import ArgumentParser
import Foundation
import VigilDaemon

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput.",
        subcommands: [Core.self]
    )

    struct Core: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events through decode + features + detectors in-process (no Kafka), 1 thread and 1...N workers."
        )

        @Option(name: .long, help: "The config whose features and detectors to run.") var config: String = "configs/vigil.yaml"
        @Option(name: .long, help: "Synthetic events per run.") var events: Int = 500_000
        @Option(name: .long, help: "Runs per measurement; the median is reported.") var runs: Int = 3
        @Option(name: .long, help: "Largest worker count.") var maxWorkers: Int = ProcessInfo.processInfo.activeProcessorCount
        @Option(name: .long, help: "Append the results as Markdown to this file.") var markdown: String?

        func run() throws {
            let configuration = try VigilConfiguration.load(file: config)
            let bench = CoreBenchmark(config: configuration, count: events)
            var rows: [CoreBenchmark.Row] = []
            func median(_ make: () -> CoreBenchmark.Row) -> CoreBenchmark.Row {
                let samples = (0..<max(1, runs)).map { _ in make() }.sorted { $0.seconds < $1.seconds }
                return samples[samples.count / 2]
            }
            rows.append(median { bench.decodeOnly() })
            rows.append(median { bench.sequential() })
            for workers in 1...max(1, maxWorkers) { rows.append(median { bench.pipeline(workers: workers) }) }
            let base = rows[1].eventsPerSecond
            var lines = ["| measurement | events | seconds | events/s | vs 1 thread |", "|---|---:|---:|---:|---:|"]
            for row in rows {
                lines.append(
                    "| \(row.name) | \(row.events) | \(String(format: "%.3f", row.seconds)) | \(Int(row.eventsPerSecond)) | \(String(format: "%.2fx", row.eventsPerSecond / base)) |"
                )
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
