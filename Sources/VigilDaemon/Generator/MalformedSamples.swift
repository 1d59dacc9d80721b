/// Malformed input messages of every kind the decoder refuses, for demos and tests.
public enum MalformedSamples {
    /// The kinds cycled through, with the `vigil.error.kind` each should be refused with.
    public static let kinds: [(String, String)] = [
        ("not json at all", "malformed_json"),
        (#"{"event_id":"broken","ts":1767225600000,"card_id":"c1","amount":12.5"#, "malformed_json"),
        (#"[1,2,3]"#, "not_object"),
        (#"{"ts":1767225600000,"card_id":"c1","amount":1}"#, "missing_field"),
        (#"{"event_id":"x-noentity","ts":1767225600000,"amount":1}"#, "missing_field"),
        (#"{"event_id":"x-type","ts":1767225600000,"card_id":"c1","amount":"twelve"}"#, "wrong_type"),
        (#"{"event_id":"x-inf","ts":1767225600000,"card_id":"c1","amount":1e400}"#, "non_finite"),
        (#"{"event_id":"x-old","ts":12,"card_id":"c1","amount":1}"#, "time_out_of_range"),
    ]

    /// The `index`-th malformed message; its event id (when it has one) is unique per seed and index.
    public static func sample(_ index: Int, seed: UInt64) -> String {
        let (text, _) = kinds[index % kinds.count]
        return text.replacingOccurrences(of: "\"x-", with: "\"bad-\(seed)-\(index)-")
    }

    /// The refusal kind of the `index`-th sample.
    public static func kind(_ index: Int) -> String { kinds[index % kinds.count].1 }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}
