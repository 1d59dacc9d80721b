/// Parses durations such as `250ms`, `30s`, `5m`, `24h`, `7d` or `1h30m` into milliseconds.
enum DurationParser {
    static func milliseconds(_ text: String) -> Int64? {
        let scalars = Array(text.trimmingCharacters(in: " ").unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var total: Int64 = 0
        var i = 0
        while i < scalars.count {
            var digits = ""
            while i < scalars.count, ("0"..."9").contains(scalars[i]) || scalars[i] == "." {
                digits.unicodeScalars.append(scalars[i])
                i += 1
            }
            var unit = ""
            while i < scalars.count, scalars[i].properties.isAlphabetic {
                unit.unicodeScalars.append(scalars[i])
                i += 1
            }
            guard let value = Double(digits), value >= 0 else { return nil }
            let scale: Double
            switch unit {
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            case "d": scale = 86_400_000
            default: return nil
            }
            let part = value * scale
            guard part.isFinite, part < 1e15 else { return nil }
            total += Int64(part.rounded())
        }
        return total
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
