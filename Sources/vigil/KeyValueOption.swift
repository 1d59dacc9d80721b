import ArgumentParser

/// Parses repeatable `KEY=VALUE` option values (the value may itself hold `=`); a later key wins.
func keyValuePairs(_ entries: [String], option: String) throws -> [String: String] {
    var pairs: [String: String] = [:]
    for entry in entries {
        let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("\(option) takes KEY=VALUE, got \(entry)") }
        pairs[String(parts[0])] = String(parts[1])
    }
    return pairs
}
