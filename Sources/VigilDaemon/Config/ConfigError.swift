/// A problem in a config file, with the key path (`features[2].window.size`) and the line it is on.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(path: String, line: Int, column: Int = 0, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        let location = column > 0 ? "line \(line), column \(column)" : "line \(line)"
        return "\(path.isEmpty ? "(top level)" : path) (\(location)): \(message)"
    }
}

/// Every problem found in one config file.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
