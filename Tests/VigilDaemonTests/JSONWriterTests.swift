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
