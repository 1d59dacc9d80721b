import Yams

/// Replaces `${NAME}` in config values with the environment variable `NAME` (`${NAME:-default}` when it may be
/// unset; `$${` for a literal `${`), so secrets such as SASL passwords or the admin token stay out of config
/// files. Only values are substituted, never keys; an unset variable without a default is an error at its key
/// path and line.
enum EnvironmentSubstitution {
    static func apply(to node: Node, path: String, environment: [String: String], reader: ConfigReader) -> Node {
        switch node {
        case .scalar(var scalar):
            guard scalar.string.contains("$") else { return node }
            let (text, missing) = expand(scalar.string, environment: environment)
            for name in missing {
                reader.fail(path, node, "environment variable \(name) is not set (give it, or a default: ${\(name):-value})")
            }
            scalar.string = text
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = mapping.map { key, value in
                let name = key.scalar?.string ?? ""
                return (key, apply(to: value, path: path.isEmpty ? name : "\(path).\(name)", environment: environment, reader: reader))
            }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            let nodes = sequence.enumerated().map { index, element in
                apply(to: element, path: "\(path)[\(index)]", environment: environment, reader: reader)
            }
            return .sequence(Node.Sequence(nodes, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// The text with every reference expanded, and the names that were unset without a default.
    static func expand(_ text: String, environment: [String: String]) -> (String, [String]) {
        var out = ""
        var missing: [String] = []
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("${") {
                out += "${"
                rest = after.dropFirst(2)
                continue
            }
            guard after.hasPrefix("{"), let close = after.firstIndex(of: "}") else {
                out += "$"
                rest = after
                continue
            }
            let reference = after[after.index(after: after.startIndex)..<close]
            let parts = reference.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if let value = environment[name] {
                out += value
            } else if parts.count == 2 {
                out += parts[1]
            } else {
                missing.append(name)
            }
            rest = after[after.index(after: close)...]
        }
        out += rest
        return (out, missing)
    }
}
