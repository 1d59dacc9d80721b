import Yams

/// Walks a YAML node tree, reading typed values and recording every problem with its key path and line.
///
/// Each `mapping` read declares the keys it knows; `finish` reports the rest as unknown, so a misspelt key
/// is refused instead of silently ignored.
final class ConfigReader {
    private(set) var errors: [ConfigError] = []

    func fail(_ error: ConfigError) {
        errors.append(error)
    }

    func fail(_ path: String, _ node: Node?, _ message: String) {
        errors.append(ConfigError(path: path, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, message: message))
    }

    /// A mapping's entries by key, remembering which keys were read.
    final class Mapping {
        let path: String
        let node: Node
        private(set) var entries: [(key: String, keyNode: Node, value: Node)] = []
        private var read: Set<String> = []
        unowned let reader: ConfigReader

        init(path: String, node: Node, reader: ConfigReader) {
            self.path = path
            self.node = node
            self.reader = reader
            if let mapping = node.mapping {
                for (key, value) in mapping {
                    let name = key.scalar?.string ?? ""
                    if entries.contains(where: { $0.key == name }) {
                        reader.fail(child(name), key, "duplicate key")
                    }
                    entries.append((name, key, value))
                }
            }
        }

        func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        func node(_ key: String) -> Node? {
            read.insert(key)
            return entries.first { $0.key == key }?.value
        }

        func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

        func string(_ key: String, required: Bool = false, default value: String? = nil) -> String? {
            guard let node = node(key) else {
                if required { reader.fail(child(key), self.node, "required key missing") }
                return value
            }
            guard let scalar = node.scalar, node.tag.description != "tag:yaml.org,2002:null" || !scalar.string.isEmpty else {
                reader.fail(child(key), node, "expected a text value")
                return value
            }
            return scalar.string
        }

        func int(_ key: String, default value: Int, range: ClosedRange<Int> = Int.min...Int.max) -> Int {
            guard let node = node(key) else { return value }
            guard let text = node.scalar?.string, let parsed = Int(text.replacingUnderscores()) else {
                reader.fail(child(key), node, "expected an integer")
                return value
            }
            guard range.contains(parsed) else {
                reader.fail(child(key), node, "must be between \(range.lowerBound) and \(range.upperBound)")
                return value
            }
            return parsed
        }

        func double(_ key: String, default value: Double?, range: ClosedRange<Double>? = nil) -> Double? {
            guard let node = node(key) else { return value }
            guard let text = node.scalar?.string, let parsed = Double(text.replacingUnderscores()), parsed.isFinite else {
                reader.fail(child(key), node, "expected a number")
                return value
            }
            if let range, !range.contains(parsed) {
                reader.fail(child(key), node, "must be between \(range.lowerBound) and \(range.upperBound)")
                return value
            }
            return parsed
        }

        func bool(_ key: String, default value: Bool) -> Bool {
            guard let node = node(key) else { return value }
            switch node.scalar?.string {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default:
                reader.fail(child(key), node, "expected true or false")
                return value
            }
        }

        /// A duration such as `5m`; a bare number is refused (units are required).
        func duration(_ key: String, default value: Int64?, required: Bool = false) -> Int64? {
            guard let node = node(key) else {
                if required { reader.fail(child(key), self.node, "required key missing") }
                return value
            }
            guard let text = node.scalar?.string, let ms = DurationParser.milliseconds(text) else {
                reader.fail(child(key), node, "expected a duration such as 250ms, 30s, 5m, 24h or 7d")
                return value
            }
            return ms
        }

        func stringList(_ key: String, required: Bool = false) -> [String] {
            guard let node = node(key) else {
                if required { reader.fail(child(key), self.node, "required key missing") }
                return []
            }
            if let text = node.scalar?.string, node.sequence == nil {
                return text.isEmpty ? [] : [text]
            }
            guard let sequence = node.sequence else {
                reader.fail(child(key), node, "expected a list")
                return []
            }
            var result: [String] = []
            for (i, item) in sequence.enumerated() {
                guard let text = item.scalar?.string else {
                    reader.fail("\(child(key))[\(i)]", item, "expected a text value")
                    continue
                }
                result.append(text)
            }
            return result
        }

        func mapping(_ key: String, required: Bool = false) -> Mapping? {
            guard let node = node(key) else {
                if required { reader.fail(child(key), self.node, "required section missing") }
                return nil
            }
            return reader.mapping(child(key), node)
        }

        func sequence(_ key: String) -> [(path: String, node: Node)] {
            guard let node = node(key) else { return [] }
            guard let sequence = node.sequence else {
                reader.fail(child(key), node, "expected a list")
                return []
            }
            return sequence.enumerated().map { ("\(child(key))[\($0.offset)]", $0.element) }
        }

        /// Reports keys present but never read.
        func finish() {
            for entry in entries where !read.contains(entry.key) {
                reader.fail(child(entry.key), entry.keyNode, "unknown key")
            }
        }
    }

    /// A mapping node, or nil (with an error) when the node is something else.
    func mapping(_ path: String, _ node: Node) -> Mapping? {
        guard node.mapping != nil else {
            fail(path, node, "expected a mapping of keys to values")
            return nil
        }
        return Mapping(path: path, node: node, reader: self)
    }
}

extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
