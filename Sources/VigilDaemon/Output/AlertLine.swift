public import Foundation

/// One readable line per alert: time, entity, score and percentile, rules, and the top reasons.
public enum AlertLine {
    /// Formats one alert record (the alert topic's JSON); unreadable records are shown as they are.
    public static func format(_ data: Data) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return "(unreadable alert) \(String(decoding: data, as: UTF8.self))"
        }
        let time = object["event_time"] as? String ?? "?"
        let entities = (object["entities"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let score = (object["score"] as? Double).map { String(format: "%.4f", $0) } ?? "?"
        let percentile = (object["percentile"] as? Double).map { String(format: " p%.2f", $0) } ?? ""
        let rules = (object["rules"] as? [String] ?? []).joined(separator: ",")
        let reasons = (object["explanation"] as? [[String: Any]] ?? []).prefix(3).map { item -> String in
            let feature = item["feature"] as? String ?? "?"
            let value = (item["value"] as? Double).map { String(format: "%g", $0) } ?? "null"
            let contribution = (item["contribution"] as? Double).map { String(format: "%.2f", $0) } ?? "?"
            return "\(feature)=\(value) (\(contribution))"
        }
        var line = "\(time)  \(entities.joined(separator: " "))  score \(score)\(percentile)"
        if !rules.isEmpty { line += "  rules [\(rules)]" }
        if !reasons.isEmpty { line += "  because \(reasons.joined(separator: "; "))" }
        return line
    }
}
