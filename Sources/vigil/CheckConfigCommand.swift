import ArgumentParser
import VigilDaemon

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file: prints OK, or every error with its key path and line."
    )

    @Argument(help: "The YAML config file.") var file: String

    func run() throws {
        do {
            let config = try VigilConfiguration.load(file: file)
            print("OK: \(config.features.count) features, \(config.detectors.count) detectors, \(config.rules.count) rules, \(config.schema.entities.count) entities")
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("\(file): \(error)") }
            throw ExitCode(1)
        } catch {
            printError("\(file): \(error)")
            throw ExitCode(1)
        }
    }
}
