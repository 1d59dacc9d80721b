#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import VigilCore

private let schema = EventSchema(
    idField: "event_id",
    timeField: "ts",
    timeFormat: .epochMilliseconds,
    entities: [("card", "card_id"), ("merchant", "merchant_id")],
    numericFields: ["amount"],
    categoricalFields: ["country", "currency"],
    labelField: "label",
    maxMessageBytes: 512
)

private func decode(_ text: String, schema: EventSchema = schema) throws(DecodeError) -> Event {
    let decoder = EventDecoder(schema: schema)
    var event = Event()
    var bytes = Array(text.utf8)
    var failure: DecodeError?
    bytes.withUnsafeMutableBytes { buffer in
        do {
            try decoder.decode(UnsafeRawBufferPointer(buffer), into: &event)
        } catch {
            failure = error as? DecodeError
        }
    }
    if let failure { throw failure }
    return event
}

private func kind(of text: String, schema: EventSchema = schema) -> DecodeError.Kind? {
    do {
        _ = try decode(text, schema: schema)
        return nil
    } catch {
        return error.kind
    }
}

private let deepArray: String = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
private let deepObject: String = "{\"a\":" + deepArray + "}"

@Suite("Event decoding")
struct EventDecoderTests {
    @Test func decodesEveryMappedFieldAndSkipsTheRest() throws {
        let event = try decode("""
            {"event_id":"e-1","ts":1764000000123,"card_id":"c42","merchant_id":7,"amount":12.5,
             "country":"FR","currency":"EUR","label":1,"extra":{"nested":[1,2,{"x":null}]},"note":"caf\\u00e9"}
            """)
        #expect(event.id.string == "e-1")
        #expect(event.timeMs == 1_764_000_000_123)
        #expect(event.entities[0].string == "c42")
        #expect(event.entities[1].string == "7")
        #expect(event.numeric[0] == 12.5)
        #expect(event.categorical[0] == FNV1a.hash("FR"))
        #expect(event.categorical[1] == FNV1a.hash("EUR"))
        #expect(event.label == 1)
    }

    @Test func optionalFieldsMayBeMissingOrNull() throws {
        let event = try decode(#"{"ts":1764000000000,"event_id":"e","card_id":"c","amount":null,"merchant_id":null}"#)
        #expect(event.numeric[0].isNaN)
        #expect(!event.entities[1].isPresent)
        #expect(event.categorical[0] == 0)
        #expect(event.label == -1)
    }

    @Test func escapedKeysAndValuesAreUnescaped() throws {
        let event = try decode(#"{"event_\u0069d":"a\"b","ts":1764000000000,"card_id":"\u00e9t\u00e9","country":"F\u0052"}"#)
        #expect(event.id.string == "a\"b")
        #expect(event.entities[0].string == "été")
        #expect(event.categorical[0] == FNV1a.hash("FR"))
    }

    @Test func timeFormats() throws {
        var seconds = schema
        seconds.timeFormat = .epochSeconds
        #expect(try decode(#"{"event_id":"e","ts":1764000000.25,"card_id":"c"}"#, schema: seconds).timeMs == 1_764_000_000_250)
        var iso = schema
        iso.timeFormat = .iso8601
        #expect(try decode(#"{"event_id":"e","ts":"2025-11-24T16:00:00.123Z","card_id":"c"}"#, schema: iso).timeMs == 1_764_000_000_123)
        #expect(try decode(#"{"event_id":"e","ts":"2025-11-24T17:00:00+01:00","card_id":"c"}"#, schema: iso).timeMs == 1_764_000_000_000)
        #expect(try decode(#"{"event_id":"e","ts":"2024-02-29 00:00:00","card_id":"c"}"#, schema: iso).timeMs == 1_709_164_800_000)
        #expect(kind(of: #"{"event_id":"e","ts":"2023-02-29T00:00:00Z","card_id":"c"}"#, schema: iso) == .wrongType)
        #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id":"c"}"#, schema: iso) == .wrongType)
    }

    @Test(arguments: [
        ("", DecodeError.Kind.emptyMessage),
        ("not json", .malformedJSON),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"c""#, .malformedJSON),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"c"} x"#, .malformedJSON),
        (#"{"event_id":"e",,"ts":1}"#, .malformedJSON),
        (#"{"event_id":"e","ts":01,"card_id":"c"}"#, .malformedJSON),
        (#"{"a":[1,2,]}"#, .malformedJSON),
        (#"{"a":tru}"#, .malformedJSON),
        (#"{"a":"\q"}"#, .malformedJSON),
        (#"[1,2,3]"#, .notObject),
        (#""text""#, .notObject),
        (#"{"ts":1764000000000,"card_id":"c"}"#, .missingField),
        (#"{"event_id":"e","card_id":"c"}"#, .missingField),
        (#"{"event_id":"e","ts":1764000000000}"#, .missingField),
        (#"{"event_id":"e","ts":1764000000000,"card_id":""}"#, .missingField),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"c","amount":"12"}"#, .wrongType),
        (#"{"event_id":"e","ts":"soon","card_id":"c"}"#, .wrongType),
        (#"{"event_id":{"a":1},"ts":1764000000000,"card_id":"c"}"#, .wrongType),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"c","amount":1e999}"#, .nonFinite),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"c","label":7}"#, .wrongType),
        (#"{"event_id":"e","ts":99,"card_id":"c"}"#, .timeOutOfRange),
        (#"{"event_id":"e","ts":99999999999999999,"card_id":"c"}"#, .timeOutOfRange),
        (#"{"event_id":"e","ts":1764000000000,"card_id":"\#(String(repeating: "k", count: 49))"}"#, .valueTooLong),
        (#"{"event_id":"\#(String(repeating: "i", count: 65))","ts":1764000000000,"card_id":"c"}"#, .valueTooLong),
        (#"{"pad":"\#(String(repeating: "x", count: 600))"}"#, .tooLarge),
        (deepArray, .tooDeep),
        (deepObject, .tooDeep),
    ])
    func refusedMessagesSayWhy(text: String, expected: DecodeError.Kind) {
        #expect(kind(of: text) == expected, "\(text.prefix(80))")
    }

    @Test func invalidUTF8IsRefused() {
        let decoder = EventDecoder(schema: schema)
        var event = Event()
        var bytes = Array(#"{"event_id":"e","ts":1764000000000,"card_id":"c","x":"ab"}"#.utf8)
        bytes.insert(0xC3, at: bytes.count - 3)  // a lead byte followed by an ASCII byte
        var kind: DecodeError.Kind?
        bytes.withUnsafeBytes { buffer in
            do { try decoder.decode(buffer, into: &event) } catch { kind = (error as? DecodeError)?.kind }
        }
        #expect(kind == .invalidUTF8)
        var overlong = Array(#"{"event_id":"e","ts":1764000000000,"card_id":"c","x":"a"}"#.utf8)
        overlong.insert(contentsOf: [0xC0, 0xAF], at: overlong.count - 2)
        kind = nil
        overlong.withUnsafeBytes { buffer in
            do { try decoder.decode(buffer, into: &event) } catch { kind = (error as? DecodeError)?.kind }
        }
        #expect(kind == .invalidUTF8)
    }

    /// Strings are passed eight bytes at a time where the bytes are plain: whatever the place of a quote, a
    /// backslash, a control character or a UTF-8 sequence in a string's words, it is read as byte by byte.
    @Test func stringsReadTheSameWhereverTheirSpecialBytesFall() throws {
        let plain = Array("abcdefghijklmnopqrstu".utf8)
        for length in 0...plain.count {
            for place in 0...length {
                let head = String(decoding: plain[..<place], as: UTF8.self)
                let tail = String(decoding: plain[place..<length], as: UTF8.self)
                let text = head + tail
                #expect(try decode(#"{"event_id":"\#(text)x","ts":1764000000000,"card_id":"c"}"#).id.string == text + "x")
                #expect(try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"\#(head)\"\#(tail)"}"#).entities[0].string == head + "\"" + tail)
                #expect(try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"\#(head)é€\#(tail)"}"#).entities[0].string == head + "é€" + tail)
                #expect(try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"\#(head)\u0041\#(tail)"}"#).entities[0].string == head + "A" + tail)
                #expect(kind(of: "{\"event_id\":\"e\",\"ts\":1764000000000,\"card_id\":\"\(head)\t\(tail)\"}") == .malformedJSON)
                #expect(kind(of: "{\"event_id\":\"e\",\"ts\":1764000000000,\"card_id\":\"\(head)\u{7F}\(tail)\"}") == nil, "DEL is plain")
                let bytes = Array(#"{"event_id":"e","ts":1764000000000,"card_id":"c","x":""#.utf8) + plain[..<place] + [0xC3] + plain[place..<length] + Array(#""}"#.utf8)
                var failure: DecodeError.Kind?
                var event = Event()
                bytes.withUnsafeBytes { buffer in
                    do { try EventDecoder(schema: schema).decode(buffer, into: &event) } catch { failure = (error as? DecodeError)?.kind }
                }
                #expect(failure == .invalidUTF8, "a lead byte with no continuation at \(place) of \(length)")
                #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id":"c","x":"\#(text)"#) == .malformedJSON, "unterminated")
            }
        }
    }

    /// Numbers with few enough digits are converted without `strtod` (an exact integer divided by an exact power of
    /// ten); every number must still get `strtod`'s value, bit for bit, on either side of those limits.
    @Test func numbersGetStrtodsValueBitForBit() throws {
        var rng = SplitMix64(seed: 31)
        var texts = ["0", "-0", "0.0", "-0.0", "1", "0.1", "0.3", "123.45", "9007199254740992", "9007199254740993", "0.0000000000000000000001",
                     "0.00000000000000000000001", "1234567890123456789", "12345678901234567890", "1e5", "2.5E-3", "-7e+2", "0.1e1"]
        for _ in 0..<20_000 {
            let digits = 1 + Int(rng.next() % 21)
            var text = rng.next() % 4 == 0 ? "-" : ""
            var body = (0..<digits).map { _ in String(rng.next() % 10) }.joined()
            while body.count > 1 && body.first == "0" { body.removeFirst() }
            if rng.next() % 4 != 0 {
                let point = Int(rng.next() % UInt64(body.count + 1))
                let integer = point == 0 ? "0" : String(body.prefix(point))
                let fraction = point == body.count ? "0" : String(body.dropFirst(point))
                body = integer + "." + fraction
            }
            text += body
            if rng.next() % 8 == 0 { text += "e" + String(Int(rng.next() % 40) - 20) }
            texts.append(text)
        }
        var mismatches: [String] = []
        for text in texts {
            let event = try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","amount":\#(text)}"#)
            if event.numeric[0].bitPattern != strtod(text, nil).bitPattern { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    /// Epoch times are read as exact integers of any length up to Int64's range (the digits gathered while the
    /// number is scanned, the longest ones checked for overflow); past it they are refused, never wrapped.
    @Test func integerTimesAreExactToInt64sLimits() throws {
        var decoder = EventDecoder(schema: schema)
        decoder.timeRangeMs = Int64.min...Int64.max
        func time(_ text: String) throws -> Int64 {
            var event = Event()
            var bytes = Array(#"{"event_id":"e","ts":\#(text),"card_id":"c"}"#.utf8)
            try bytes.withUnsafeMutableBytes { try decoder.decode(UnsafeRawBufferPointer($0), into: &event) }
            return event.timeMs
        }
        var rng = SplitMix64(seed: 5)
        var texts = ["0", "-0", "9", "-1", "999999999999999999", "-999999999999999999", "1000000000000000000",
                     "9223372036854775807", "-9223372036854775807", "9223372036854775808", "18446744073709551616", "99999999999999999999"]
        for digits in 1...20 {
            for _ in 0..<200 {
                let body = String(1 + rng.next() % 9) + (1..<digits).map { _ in String(rng.next() % 10) }.joined()
                texts.append((rng.next() % 2 == 0 ? "-" : "") + body)
            }
        }
        for text in texts {
            if let exact = Int64(text) {
                #expect(try time(text) == exact, "\(text)")
            } else {
                #expect(throws: DecodeError.self, "\(text)") { try time(text) }
            }
        }
    }

    /// Names are compared whole: keys that share a field's first bytes, or are a field's prefix, or extend it,
    /// are other fields.
    @Test func keysMatchWholeNamesOnly() throws {
        let event = try decode(#"""
            {"event_id":"e","ts":1764000000000,"card_id":"c","merchant_ix":"m1","merchant_i":"m2","merchant_id_":"m3",
             "event_i":"x","event_idx":"y","amoun":5,"amountt":6,"":7}
            """#)
        #expect(event.id.string == "e")
        #expect(!event.entities[1].isPresent)
        #expect(event.numeric[0].isNaN)
        #expect(try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","merchant_ix":"m1","merchant_id":"m"}"#).entities[1].string == "m")
        // Keys whose first eight bytes would run past the message's end are matched byte by byte: a short field
        // name last, an unknown one, names of eight bytes and more against longer and shorter neighbours.
        let short = EventSchema(
            idField: "event_id", timeField: "ts", timeFormat: .epochMilliseconds, entities: [("card", "card_id")],
            numericFields: ["a", "amount12", "amount123"], categoricalFields: [], labelField: nil, maxMessageBytes: 512)
        let last = try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","amount12":2,"amount123":3,"amount1234":4,"b":5,"a":7}"#, schema: short)
        #expect(last.numeric[0] == 7 && last.numeric[1] == 2 && last.numeric[2] == 3)
        #expect(try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","b":1}"#, schema: short).numeric[0].isNaN)
    }

    /// A key where the search would look first is compared in place (its bytes and closing quote); written
    /// any other way — an escape in it, a longer or shorter name, a quote missing at the message's end, a field
    /// name JSON must escape — it is read as a string and decodes the same.
    @Test func keysComparedInPlaceDecodeAsKeysReadAsStrings() throws {
        let escaped = try decode(#"{"ev\u0065nt_id":"e","t\u0073":1764000000000,"card_id":"c","merchant\u005fid":"m","amount":2}"#)
        #expect(escaped.id.string == "e" && escaped.timeMs == 1_764_000_000_000 && escaped.entities[1].string == "m" && escaped.numeric[0] == 2)
        let near = try decode(#"{"event_idx":"x","event_id":"e","tsx":1,"ts":1764000000000,"card_i":"y","card_id":"c","merchant_id_":"z"}"#)
        #expect(near.id.string == "e" && near.timeMs == 1_764_000_000_000 && near.entities[0].string == "c" && !near.entities[1].isPresent)
        #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id"#) == .malformedJSON)
        #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id:"c"}"#) == .malformedJSON)
        #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id"}"#) == .malformedJSON)
        let quoted = EventSchema(
            idField: "event_id", timeField: "ts", timeFormat: .epochMilliseconds, entities: [("card", "card_id")],
            numericFields: [#"a"b"#, #"c\d"#, "long\"quoted\\name"], categoricalFields: [], labelField: nil, maxMessageBytes: 512)
        let odd = try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","a\"b":1,"c\\d":2,"long\"quoted\\name":3}"#, schema: quoted)
        #expect(odd.numeric[0] == 1 && odd.numeric[1] == 2 && odd.numeric[2] == 3)
        #expect(kind(of: #"{"event_id":"e","ts":1764000000000,"card_id":"c","a"b":1,"padding":"so that eight bytes past the key are there to read"}"#, schema: quoted) == .malformedJSON)
    }

    /// What the consumer sets before decoding survives it — partition, offset, watermark, read time and the replay
    /// flag (an event read again after a restore only rebuilds state; losing the flag sent its outputs again) —
    /// and everything the message carries is overwritten, also what an earlier message left in a reused event.
    @Test(arguments: [true, false])
    func whatTheReaderSetSurvivesDecoding(isReplay: Bool) throws {
        let decoder = EventDecoder(schema: schema)
        var event = Event()
        event.numeric[0] = 5
        event.label = 1
        event.entities[1] = EntityKey("stale")!
        event.partition = 3
        event.offset = 77
        event.watermarkMs = 1_763_999_000_000
        event.consumedAtNs = 999
        event.isReplay = isReplay
        var bytes = Array(#"{"event_id":"e","ts":1764000000000,"card_id":"c"}"#.utf8)
        try bytes.withUnsafeMutableBytes { try decoder.decode(UnsafeRawBufferPointer($0), into: &event) }
        #expect(event.partition == 3 && event.offset == 77 && event.watermarkMs == 1_763_999_000_000 && event.consumedAtNs == 999)
        #expect(event.isReplay == isReplay)
        #expect(event.numeric[0].isNaN && event.label == -1 && !event.entities[1].isPresent)
        #expect(event.id.string == "e" && event.entities[0].string == "c")
    }

    @Test func lastDuplicateFieldWins() throws {
        let event = try decode(#"{"event_id":"e","ts":1764000000000,"card_id":"c","amount":1,"amount":2}"#)
        #expect(event.numeric[0] == 2)
    }

    /// The decoder starts each key's search just past the previous key's field, so a message in the usual order
    /// matches at the first try; any other order, with unknown fields anywhere, must decode the same.
    @Test func fieldsDecodeTheSameInAnyOrder() throws {
        var fields = [
            #""event_id":"e-9""#, #""ts":1764000000123"#, #""card_id":"c42""#, #""merchant_id":"m-7""#, #""amount":12.5"#,
            #""country":"FR""#, #""currency":"EUR""#, #""label":1"#, #""extra":[1,{"card_id":"no"}]"#, #""note":"x""#,
        ]
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            for i in stride(from: fields.count - 1, to: 0, by: -1) { fields.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            let event = try decode("{" + fields.joined(separator: ",") + "}")
            #expect(event.id.string == "e-9")
            #expect(event.timeMs == 1_764_000_000_123)
            #expect(event.entities[0].string == "c42")
            #expect(event.entities[1].string == "m-7")
            #expect(event.numeric[0] == 12.5)
            #expect(event.categorical[0] == FNV1a.hash("FR"))
            #expect(event.categorical[1] == FNV1a.hash("EUR"))
            #expect(event.label == 1)
        }
    }

    /// The decoder writes into ring slots that held earlier events: what a message leaves out must read as in a
    /// fresh event, and what the reader set (partition, offset, watermark, read time, replay) must stay.
    @Test func decodingIntoAUsedEventLeavesNoTraceOfTheLastOne() throws {
        let decoder = EventDecoder(schema: schema)
        func decode(_ text: String, into event: inout Event) throws {
            var bytes = Array(text.utf8)
            try bytes.withUnsafeMutableBytes { buffer in try decoder.decode(UnsafeRawBufferPointer(buffer), into: &event) }
        }
        let full = #"{"event_id":"a-rather-long-event-identifier-0123456789","ts":1764000000999,"card_id":"card-with-a-long-key-0123456789-abcdef","merchant_id":"m-123456789","amount":99.5,"country":"FR","currency":"EUR","label":1}"#
        let sparse = #"{"event_id":"e1","ts":1764000000001,"card_id":"c7"}"#
        var used = Event()
        try decode(full, into: &used)
        used.partition = 3
        used.offset = 41
        used.watermarkMs = 1_763_999_000_000
        used.consumedAtNs = 77
        used.isReplay = true
        try decode(sparse, into: &used)
        var fresh = Event()
        try decode(sparse, into: &fresh)

        #expect((used.partition, used.offset, used.watermarkMs, used.consumedAtNs, used.isReplay) == (3, 41, 1_763_999_000_000, 77, true))
        #expect(used.id == fresh.id && used.id.string == "e1")
        #expect(withUnsafeBytes(of: used.id.storage) { Array($0) } == withUnsafeBytes(of: fresh.id.storage) { Array($0) })
        #expect(used.timeMs == fresh.timeMs && used.label == fresh.label && used.label == -1)
        for i in 0..<EventLimits.entities {
            #expect(used.entities[i] == fresh.entities[i])
            #expect(withUnsafeBytes(of: used.entities[i].storage) { Array($0) } == withUnsafeBytes(of: fresh.entities[i].storage) { Array($0) })
        }
        #expect(used.entities[0].string == "c7" && !used.entities[1].isPresent)
        for i in 0..<EventLimits.numericFields { #expect(used.numeric[i].bitPattern == fresh.numeric[i].bitPattern) }
        for i in 0..<EventLimits.categoricalFields { #expect(used.categorical[i] == fresh.categorical[i]) }
        #expect(used.numeric[0].isNaN && used.categorical[0] == 0 && used.categorical[1] == 0)
    }

    /// Ids and keys are copied in place word by word: every length must give what the initialisers give.
    @Test func idsAndKeysOfEveryLengthReadAsTheirInitialisersMakeThem() throws {
        let text = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-+".utf8)
        for length in 1...EventLimits.idBytes {
            let value = String(decoding: text[..<length], as: UTF8.self)
            let key = String(decoding: text[..<Swift.min(length, EventLimits.keyBytes)], as: UTF8.self)
            let event = try decode(#"{"event_id":"\#(value)","ts":1764000000000,"card_id":"\#(key)"}"#)
            let id = EventID(value)!
            let entity = EntityKey(key)!
            #expect(event.id == id && event.id.count == id.count)
            #expect(withUnsafeBytes(of: event.id.storage) { Array($0) } == withUnsafeBytes(of: id.storage) { Array($0) })
            #expect(event.entities[0] == entity && event.entities[0].hash == entity.hash)
            #expect(withUnsafeBytes(of: event.entities[0].storage) { Array($0) } == withUnsafeBytes(of: entity.storage) { Array($0) })
        }
    }
}
