import Foundation
import Testing
import VigilDaemon

@Suite("JSON writer")
struct JSONWriterTests {
    /// Strings, keys and raw byte strings of every kind of byte — plain ASCII, quotes, backslashes, each control
    /// byte, multi-byte UTF-8 — come out as JSON that parses back to the same text, escaped exactly as the
    /// byte-by-byte rules say (`\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX`, everything else as it is).
    @Test func stringsOfEveryKindOfByteRoundTrip() throws {
        var samples = ["", "card_id", "plain text with spaces", "a\"b", "back\\slash", "line\nbreak\r\ttab", "naïve 日本 🛰", "\"", "\\"]
        samples += (0..<0x20).map { "x\(Character(Unicode.Scalar(UInt8($0))))y" }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab\"\\\n\t\u{01}\u{1F} é€😀".unicodeScalars)
        for _ in 0..<300 { samples.append(String(String.UnicodeScalarView((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))) }

        for text in samples {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key(text)
            writer.string(text)
            writer.key("bytes")
            Array(text.utf8).withUnsafeBytes { writer.string(bytes: $0) }
            writer.endObject()
            let object = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: String], "\(text.debugDescription)")
            #expect(object[text] == text && object["bytes"] == text, "\(text.debugDescription)")
            let quoted = "\"" + Self.escaped(text) + "\""
            #expect(String(decoding: writer.bytes, as: UTF8.self) == "{\(quoted):\(quoted),\"bytes\":\(quoted)}", "\(text.debugDescription)")
        }
    }

    /// Numbers come out as the six-decimal rule says — the value rounded to millionths, `-` when that is below
    /// zero, the whole part, then the fraction without its trailing zeros — over integers, fractions, values
    /// rounding to zero and the extremes below 10^15; integers of every size as Swift prints them.
    @Test func numbersAreWrittenByTheSixDecimalRule() throws {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 1, -1, 0.5, -0.5, 1e-7, -1e-7, 4e-7, 6e-7, -6e-7, 0.000001, 123.456, -123.456, 1e15 - 1, -(1e15 - 1), 999_999.9999995, 0.1, 0.25]
        for _ in 0..<5_000 {
            let magnitude = Double.random(in: -7...15, using: &generator)
            values.append((Bool.random(using: &generator) ? 1 : -1) * Foundation.pow(10, magnitude) * Double.random(in: 0.1...0.99, using: &generator))
            values.append(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) / 100)
        }
        for value in values where abs(value) < 1e15 {
            var writer = JSONWriter()
            writer.number(value)
            let text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(text == Self.sixDecimals(value), "\(value)")
            #expect(Double(text) != nil, "\(text)")
        }
        for value in [Int64.min, Int64.min + 1, -1, 0, 1, 9, 10, 99, 100, Int64.max] + (0..<1_000).map({ _ in Int64.random(in: .min ... .max, using: &generator) }) {
            var writer = JSONWriter()
            writer.int(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
        }
    }

    /// The six-decimal rule in plain string arithmetic.
    static func sixDecimals(_ value: Double) -> String {
        let scaled = (value * 1_000_000).rounded()
        let whole = Int64(scaled / 1_000_000)
        let fraction = Int64(abs(scaled.truncatingRemainder(dividingBy: 1_000_000)))
        var text = (scaled < 0 ? "-" : "") + String(whole.magnitude)
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    /// The escaping rules, byte by byte.
    static func escaped(_ text: String) -> String {
        var out: [UInt8] = []
        for b in text.utf8 {
            switch b {
            case 0x22: out += Array("\\\"".utf8)
            case 0x5C: out += Array("\\\\".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20: out += Array(String(format: "\\u%04x", Int(b)).utf8)
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
