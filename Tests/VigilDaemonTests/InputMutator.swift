import VigilCore
import VigilDaemon

/// Turns valid transaction messages into the bad input a daemon meets in the wild, one mutation at a time.
///
/// Each mutation says which refusal it must produce when that is certain (`expected`); random byte damage
/// (truncation, inserted bytes, wrong types) can land anywhere, so its outcome is left to the decoder oracle.
struct InputMutator {
    enum Mutation: String, CaseIterable {
        case truncated, insertedByte, deepNesting, longKey, hugeString, wrongType, nonFinite, nanToken, invalidUTF8
        case missingField, farFuture, farPast, duplicateID, oversized, empty, notObject
    }

    private var rng: SplitMix64

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
    }

    private mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }

    /// A mutated message and the refusal it must get (nil: ask the decoder), from a valid `json` whose event id
    /// is `id`; `earlierID` is a valid id seen before (for duplicates).
    mutating func mutate(_ json: String, id: String, earlierID: String, as mutation: Mutation) -> (bytes: [UInt8], expected: DecodeError.Kind?) {
        var bytes = Array(json.utf8)
        switch mutation {
        case .truncated:
            bytes = Array(bytes[0..<(1 + below(bytes.count - 2))])
            return (bytes, nil)
        case .insertedByte:
            let noise: [UInt8] = Array("{}[]\",:\\x0-".utf8)
            bytes.insert(noise[below(noise.count)], at: 1 + below(bytes.count - 2))
            return (bytes, nil)
        case .deepNesting:
            let depth = 40 + below(200)
            let nested = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
            return (Array(json.replacingOccurrences(of: "\"label\":", with: "\"nested\":\(nested),\"label\":").utf8), .tooDeep)
        case .longKey:
            let long = String(repeating: "k", count: 49 + below(2_000))
            return (Array(json.replacingOccurrences(of: "\"card_id\":\"", with: "\"card_id\":\"\(long)").utf8), .valueTooLong)
        case .hugeString:
            let huge = String(repeating: "h", count: 70_000 + below(50_000))
            return (Array(json.replacingOccurrences(of: "\"country\":", with: "\"note\":\"\(huge)\",\"country\":").utf8), .tooLarge)
        case .wrongType:
            let options = [("\"amount\":", "\"amount\":\"twelve\",\"was\":"), ("\"ts\":", "\"ts\":{\"t\":1},\"was\":"), ("\"card_id\":", "\"card_id\":[1],\"was\":")]
            let (from, to) = options[below(options.count)]
            return (Array(json.replacingOccurrences(of: from, with: to).utf8), nil)
        case .nonFinite:
            let value = ["1e999", "-1e999"][below(2)]
            return (Array(json.replacingOccurrences(of: "\"amount\":", with: "\"amount\":\(value),\"was\":").utf8), .nonFinite)
        case .nanToken:
            let value = ["NaN", "Infinity", "-Infinity"][below(3)]
            return (Array(json.replacingOccurrences(of: "\"amount\":", with: "\"amount\":\(value),\"was\":").utf8), .malformedJSON)
        case .invalidUTF8:
            guard let quote = json.utf8.firstIndex(of: UInt8(ascii: "c")) else { return (bytes, nil) }
            let at = json.utf8.distance(from: json.utf8.startIndex, to: quote)
            bytes.insert(contentsOf: [0xFF, 0xC3, 0x28][0..<(1 + below(3))], at: at)
            return (bytes, .invalidUTF8)
        case .missingField:
            let field = ["\"event_id\":\"\(id)\",", "\"card_id\":", "\"ts\":"][below(3)]
            if field.hasPrefix("\"event_id\"") { return (Array(json.replacingOccurrences(of: field, with: "").utf8), .missingField) }
            return (Array(json.replacingOccurrences(of: field, with: "\"renamed\":").utf8), .missingField)
        case .farFuture:
            return (Array(json.replacingOccurrences(of: "\"ts\":", with: "\"ts\":99999999999999,\"was\":").utf8), .timeOutOfRange)
        case .farPast:
            return (Array(json.replacingOccurrences(of: "\"ts\":", with: "\"ts\":\(below(1_000_000)),\"was\":").utf8), .timeOutOfRange)
        case .duplicateID:
            return (Array(json.replacingOccurrences(of: "\"event_id\":\"\(id)\"", with: "\"event_id\":\"\(earlierID)\"").utf8), nil)
        case .oversized:
            return (Array(repeating: UInt8(ascii: " "), count: 65_537 + below(10_000)) + bytes, .tooLarge)
        case .empty:
            return ([], .emptyMessage)
        case .notObject:
            return (Array(["[\(json)]", "\"\(id)\"", "42", "null", "true"][below(5)].utf8), .notObject)
        }
    }
}
