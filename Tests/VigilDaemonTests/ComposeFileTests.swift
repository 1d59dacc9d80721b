import Foundation
import Testing
import VigilDaemon
import Yams

/// docker-compose.yml cannot run here (no Docker engine), so its pieces are checked to fit together: every
/// service has an image or a buildable Dockerfile, dependencies exist and their conditions can be met, ports
/// are well formed and distinct, every mounted file exists, and the files mounted into Vigil, Prometheus and
/// Grafana agree with each other and with what Vigil really serves.
@Suite("docker-compose.yml")
struct ComposeFileTests {
    let root = repositoryRoot
    let compose: [String: Any]
    let services: [String: [String: Any]]

    init() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        compose = try #require(try Yams.load(yaml: text) as? [String: Any])
        services = try #require(compose["services"] as? [String: [String: Any]])
    }

    @Test func theExpectedServicesAreThere() {
        #expect(Set(services.keys) == ["kafka", "topics", "vigil", "producer", "prometheus", "grafana"])
    }

    @Test func everyServiceHasAnImageOrABuildableDockerfile() throws {
        for (name, service) in services {
            let build = service["build"] as? [String: Any]
            #expect(service["image"] != nil || build != nil, "\(name) has neither image nor build")
            if let build {
                let context = root.appendingPathComponent(build["context"] as? String ?? ".")
                let dockerfile = context.appendingPathComponent(build["dockerfile"] as? String ?? "Dockerfile")
                #expect(FileManager.default.fileExists(atPath: dockerfile.path), "\(name): \(dockerfile.path) is missing")
            }
        }
        // The producer runs the image the vigil service builds.
        #expect(services["producer"]?["image"] as? String == services["vigil"]?["image"] as? String)
        #expect((services["kafka"]?["image"] as? String)?.hasPrefix("apache/kafka:") == true, "the official Apache Kafka image")
    }

    /// Build on Swift's Ubuntu 24.04 image, run on a slim Ubuntu 24.04 with librdkafka; every COPY source exists.
    @Test func theDockerfileBuildsOnNobleAndRunsWithLibrdkafka() throws {
        let dockerfile = try String(contentsOf: root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let lines = dockerfile.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(dockerfile.contains("ARG SWIFT_IMAGE=swift:") && dockerfile.contains("-noble"))
        #expect(stages.last?.hasPrefix("FROM ubuntu:24.04") == true)
        #expect(dockerfile.contains("librdkafka-dev") && dockerfile.contains("librdkafka1"))
        for line in lines where line.hasPrefix("COPY ") && !line.contains("--from=") {
            let parts = line.split(separator: " ").dropFirst().dropLast()
            for source in parts {
                #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(String(source)).path), "COPY source \(source) is missing")
            }
        }
        let ignored = try String(contentsOf: root.appendingPathComponent(".dockerignore"), encoding: .utf8)
        #expect(ignored.contains(".build") && ignored.contains(".deps"), "build folders stay out of the context")
    }

    @Test func dependenciesExistAndTheirConditionsCanBeMet() {
        for (name, service) in services {
            let dependsOn = service["depends_on"] as? [String: [String: Any]] ?? [:]
            for (target, options) in dependsOn {
                guard let dependency = services[target] else {
                    Issue.record("\(name) depends on \(target), which is not a service")
                    continue
                }
                switch options["condition"] as? String {
                case "service_healthy":
                    #expect(dependency["healthcheck"] != nil, "\(name) waits for \(target) to be healthy, but it has no healthcheck")
                case "service_completed_successfully":
                    #expect(dependency["restart"] as? String == "no", "\(target) is a one-shot job")
                case "service_started":
                    break
                default:
                    Issue.record("\(name) -> \(target): unknown condition \(String(describing: options["condition"]))")
                }
            }
        }
        // No cycles: every service can start.
        var started: Set<String> = []
        while started.count < services.count {
            let ready = services.filter { !started.contains($0.key) && Set(($0.value["depends_on"] as? [String: Any] ?? [:]).keys).isSubset(of: started) }
            guard !ready.isEmpty else {
                Issue.record("depends_on has a cycle among \(Set(services.keys).subtracting(started))")
                return
            }
            started.formUnion(ready.keys)
        }
    }

    @Test func portsAreWellFormedAndDistinct() {
        var hostPorts: [Int] = []
        for (name, service) in services {
            for port in service["ports"] as? [String] ?? [] {
                let parts = port.split(separator: ":").compactMap { Int($0) }
                #expect(parts.count == 2 && parts.allSatisfy { (1...65535).contains($0) }, "\(name): port \(port)")
                hostPorts.append(parts.first ?? 0)
            }
        }
        #expect(Set(hostPorts).count == hostPorts.count, "host ports collide: \(hostPorts)")
    }

    @Test func everyMountedFileExists() {
        for (name, service) in services {
            for volume in service["volumes"] as? [String] ?? [] {
                let source = String(volume.split(separator: ":")[0])
                #expect(source.hasPrefix("./"), "\(name): \(volume) should be a bind mount of a repository file")
                #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(source).path), "\(name): \(source) is missing")
            }
        }
    }

    /// The config Vigil runs is valid, its topics are the ones the topic job creates, it reaches Kafka on the
    /// internal listener, and it listens where Prometheus scrapes.
    @Test func vigilKafkaTopicsAndPrometheusAgree() throws {
        let vigil = try #require(services["vigil"])
        let command = try #require(vigil["command"] as? [String])
        let configInContainer = try #require(value(after: "--config", in: command))
        let mount = try #require((vigil["volumes"] as? [String])?.first { $0.split(separator: ":")[1] == configInContainer })
        let config = try VigilConfiguration.load(file: root.appendingPathComponent(String(mount.split(separator: ":")[0])).path)

        let kafkaEnvironment = try #require(services["kafka"]?["environment"] as? [String: Any])
        #expect((kafkaEnvironment["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true, "KRaft mode")
        let advertised = try #require(kafkaEnvironment["KAFKA_ADVERTISED_LISTENERS"] as? String)
        let internalBrokers = try #require(value(after: "--brokers", in: command))
        #expect(advertised.contains("://\(internalBrokers)"), "vigil's --brokers \(internalBrokers) is an advertised listener")
        let producerCommand = try #require(services["producer"]?["command"] as? [String])
        #expect(value(after: "--brokers", in: producerCommand) == internalBrokers)
        #expect(config.kafka.inputTopics.contains(value(after: "--topic", in: producerCommand) ?? ""))

        let script = try String(contentsOf: root.appendingPathComponent("deploy/kafka/create-topics.sh"), encoding: .utf8)
        let created = Set(script.split(separator: "\n").filter { $0.hasPrefix("create ") }.map { String($0.split(separator: " ")[1]) })
        var needed = Set(config.kafka.inputTopics + [config.kafka.alertsTopic, config.kafka.deadLetterTopic])
        if let scores = config.kafka.scoresTopic { needed.insert(scores) }
        #expect(needed.isSubset(of: created), "topics not created: \(needed.subtracting(created))")

        let listen = try #require(value(after: "--http-listen", in: command))
        let port = try #require(listen.split(separator: ":").last.map(String.init))
        #expect(listen.hasPrefix("0.0.0.0:"), "reachable from the other containers")
        #expect((vigil["ports"] as? [String])?.contains { $0.hasSuffix(":\(port)") } == true)
        let prometheus = try #require(try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("deploy/prometheus/prometheus.yml"), encoding: .utf8)) as? [String: Any])
        let jobs = try #require(prometheus["scrape_configs"] as? [[String: Any]])
        let targets = jobs.flatMap { ($0["static_configs"] as? [[String: Any]] ?? []).flatMap { $0["targets"] as? [String] ?? [] } }
        #expect(targets.contains("vigil:\(port)"))
    }

    /// The `vigil` commands in the file use only options the binary has.
    @Test func theCommandsUseRealOptions() throws {
        for (name, subcommand) in [("vigil", "run"), ("producer", "produce")] {
            let command = try #require(services[name]?["command"] as? [String])
            #expect(command.first == subcommand)
            let help = try Shell.run("'\(Shell.vigil)' \(subcommand) --help")
            for option in command where option.hasPrefix("--") {
                #expect(help.output.contains(option), "\(name): vigil \(subcommand) has no option \(option)")
            }
        }
    }

    /// Grafana reads the compose Prometheus and the mounted dashboards, and every metric the dashboard queries
    /// is one Vigil exports.
    @Test func grafanaProvisioningFitsAndItsQueriesUseRealMetrics() throws {
        let grafana = try #require(services["grafana"])
        let volumes = grafana["volumes"] as? [String] ?? []
        let datasources = try #require(try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("deploy/grafana/provisioning/datasources/prometheus.yml"), encoding: .utf8)) as? [String: Any])
        let source = try #require((datasources["datasources"] as? [[String: Any]])?.first)
        let prometheusPort = try #require((services["prometheus"]?["ports"] as? [String])?.first?.split(separator: ":").last)
        #expect(source["url"] as? String == "http://prometheus:\(prometheusPort)")
        #expect(volumes.contains { $0.hasPrefix("./deploy/grafana/provisioning:/etc/grafana/provisioning") })

        let providers = try #require(try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("deploy/grafana/provisioning/dashboards/vigil.yml"), encoding: .utf8)) as? [String: Any])
        let path = try #require(((providers["providers"] as? [[String: Any]])?.first?["options"] as? [String: Any])?["path"] as? String)
        let dashboardMount = try #require(volumes.first { $0.split(separator: ":")[1] == path })
        let folder = root.appendingPathComponent(String(dashboardMount.split(separator: ":")[0]))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)

        let exported = try exportedMetricNames()
        for file in files {
            let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(file))) as? [String: Any])
            let panels = try #require(dashboard["panels"] as? [[String: Any]])
            #expect(panels.count >= 8)
            for panel in panels {
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    let expression = target["expr"] as? String ?? ""
                    let names = expression.matches(of: /vigil_[a-z_]+/).map { String($0.output) }
                    #expect(!names.isEmpty, "\(file): \(expression)")
                    for name in names {
                        let base = name.replacing(/_(bucket|count|sum)$/, with: "")
                        #expect(exported.contains(base), "\(file) queries \(name), which Vigil does not export")
                    }
                }
            }
        }
    }

    /// Metric names as the exporter declares them (`name: "vigil_..."`), read from the sources.
    private func exportedMetricNames() throws -> Set<String> {
        var names: Set<String> = []
        for file in ["MetricsExporter.swift", "KafkaStatisticsGauges.swift"] {
            let text = try String(contentsOf: root.appendingPathComponent("Sources/VigilDaemon/HTTP/\(file)"), encoding: .utf8)
            for match in text.matches(of: /"(vigil_[a-z_]+)"/) { names.insert(String(match.output.1)) }
        }
        return names
    }

    private func value(after option: String, in command: [String]) -> String? {
        guard let index = command.firstIndex(of: option), index + 1 < command.count else { return nil }
        return command[index + 1]
    }
}
