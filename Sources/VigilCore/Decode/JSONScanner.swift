#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A validating, allocation-free reader of one JSON text (RFC 8259) over raw bytes.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    let maxDepth: Int

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var atEnd: Bool { position >= bytes.count }

    @inline(__always)
    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            let b = bytes[position]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            position += 1
        }
    }

    func error(_ kind: DecodeError.Kind, _ message: String) -> DecodeError {
        DecodeError(kind, message, at: position)
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(DecodeError) {
        skipWhitespace()
        guard peek() == byte else {
            throw error(.malformedJSON, atEnd ? "unexpected end, expected \(what)" : "expected \(what)")
        }
        position += 1
    }

    /// A string token: the raw bytes between the quotes and whether they contain escapes.
    struct StringToken {
        var range: Range<Int>
        var hasEscapes: Bool
    }

    /// Reads a string (the opening quote is next), validating escapes and UTF-8.
    mutating func readString() throws(DecodeError) -> StringToken {
        guard peek() == 0x22 else { throw error(.malformedJSON, "expected a string") }
        position += 1
        let start = position
        var escapes = false
        while position < bytes.count {
            // Eight bytes at a time past plain ASCII (0x20-0x7F but the quote and the backslash), which the steps
            // below would pass one by one: ids, keys and names are mostly that. The position is kept in a register
            // meanwhile (through `self` it was stored back at every word).
            if let base = bytes.baseAddress {
                var at = position
                let end = bytes.count
                while at &+ 8 <= end {
                    let special = Self.specialBytes(in: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                    if special != 0 {
                        at &+= special.trailingZeroBitCount &>> 3
                        break
                    }
                    at &+= 8
                }
                position = at
                guard at < end else { break }
            }
            let b = bytes[position]
            if b == 0x22 {
                let token = StringToken(range: start..<position, hasEscapes: escapes)
                position += 1
                return token
            }
            if b == 0x5C {
                escapes = true
                position += 1
                guard let e = peek() else { break }
                switch e {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
                    position += 1
                case 0x75:
                    position += 1
                    for _ in 0..<4 {
                        guard let h = peek(), isHex(h) else { throw error(.malformedJSON, "bad \\u escape") }
                        position += 1
                    }
                default:
                    throw error(.malformedJSON, "bad escape")
                }
            } else if b < 0x20 {
                throw error(.malformedJSON, "control character in string")
            } else if b < 0x80 {
                position += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw error(.malformedJSON, "unterminated string")
    }

    /// The high bit of each byte of `word` (first byte lowest) that ends a run of plain string bytes: a quote, a
    /// backslash, a control character or a byte of a multi-byte UTF-8 sequence. A set bit may also follow a byte
    /// that is one (a borrow), never precede it, so the lowest set bit is always the first such byte; zero when
    /// there is none.
    @inline(__always)
    static func specialBytes(in word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let zeroQuote = (quotes &- ones) & ~quotes
        let zeroBackslash = (backslashes &- ones) & ~backslashes
        let control = (word &- ones &* 0x20) & ~word
        return (zeroQuote | zeroBackslash | control | word) & highs
    }

    private func isHex(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102)
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF).
    private mutating func skipUTF8Sequence() throws(DecodeError) {
        let b0 = bytes[position]
        var length = 0
        var minimum: UInt32 = 0
        var scalar: UInt32 = 0
        if b0 & 0xE0 == 0xC0 {
            length = 2; minimum = 0x80; scalar = UInt32(b0 & 0x1F)
        } else if b0 & 0xF0 == 0xE0 {
            length = 3; minimum = 0x800; scalar = UInt32(b0 & 0x0F)
        } else if b0 & 0xF8 == 0xF0 {
            length = 4; minimum = 0x10000; scalar = UInt32(b0 & 0x07)
        } else {
            throw error(.invalidUTF8, "invalid UTF-8 lead byte")
        }
        guard position + length <= bytes.count else { throw error(.invalidUTF8, "truncated UTF-8 sequence") }
        for k in 1..<length {
            let b = bytes[position + k]
            guard b & 0xC0 == 0x80 else { throw error(.invalidUTF8, "invalid UTF-8 continuation byte") }
            scalar = (scalar << 6) | UInt32(b & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
            throw error(.invalidUTF8, "invalid UTF-8 scalar")
        }
        position += length
    }

    /// Decodes a string token's escapes into `buffer`; returns the decoded length, or nil when it does not fit.
    func unescape(_ token: StringToken, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        var out = 0
        var i = token.range.lowerBound
        func put(_ b: UInt8) -> Bool {
            guard out < buffer.count else { return false }
            buffer[out] = b
            out += 1
            return true
        }
        func hex(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = bytes[at + k]
                v = v * 16 + UInt32(c <= 57 ? c - 48 : (c | 0x20) - 87)
            }
            return v
        }
        while i < token.range.upperBound {
            let b = bytes[i]
            if b != 0x5C {
                guard put(b) else { return nil }
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            var scalar: UInt32
            switch e {
            case 0x62: scalar = 8
            case 0x66: scalar = 12
            case 0x6E: scalar = 10
            case 0x72: scalar = 13
            case 0x74: scalar = 9
            case 0x75:
                scalar = hex(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar), i + 6 <= token.range.upperBound, bytes[i] == 0x5C, bytes[i + 1] == 0x75 {
                    let low = hex(i + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                if (0xD800...0xDFFF).contains(scalar) { scalar = 0xFFFD }
            default: scalar = UInt32(e)
            }
            if scalar < 0x80 {
                guard put(UInt8(scalar)) else { return nil }
            } else if scalar < 0x800 {
                guard put(UInt8(0xC0 | (scalar >> 6))), put(UInt8(0x80 | (scalar & 0x3F))) else { return nil }
            } else if scalar < 0x10000 {
                guard put(UInt8(0xE0 | (scalar >> 12))), put(UInt8(0x80 | ((scalar >> 6) & 0x3F))),
                    put(UInt8(0x80 | (scalar & 0x3F)))
                else { return nil }
            } else {
                guard put(UInt8(0xF0 | (scalar >> 18))), put(UInt8(0x80 | ((scalar >> 12) & 0x3F))),
                    put(UInt8(0x80 | ((scalar >> 6) & 0x3F))), put(UInt8(0x80 | (scalar & 0x3F)))
                else { return nil }
            }
        }
        return out
    }

    /// A number token's bytes, validated against JSON's grammar, with its digits as read on the way: the integer
    /// they make with the point left out (wrapping past 19 digits) and how many digits that integer took, and how
    /// many of them follow the point (the integer part's lone leading zero is not among them). The values are
    /// worked out from these, without reading the bytes again.
    struct NumberToken {
        var range: Range<Int>
        var isInteger: Bool
        var hasExponent = false
        var mantissa: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
    }

    mutating func readNumber() throws(DecodeError) -> NumberToken {
        var token = NumberToken(range: position..<position, isInteger: true)
        if peek() == 0x2D { position += 1 }
        guard let first = peek(), first >= 48, first <= 57 else { throw error(.malformedJSON, "bad number") }
        if first == 48 {
            position += 1
        } else {
            token.digits = readDigits(onto: &token.mantissa)
        }
        if peek() == 0x2E {
            token.isInteger = false
            position += 1
            guard let d = peek(), d >= 48, d <= 57 else { throw error(.malformedJSON, "bad number fraction") }
            token.fractionDigits = readDigits(onto: &token.mantissa)
            token.digits &+= token.fractionDigits
        }
        if let e = peek(), e == 0x65 || e == 0x45 {
            token.isInteger = false
            token.hasExponent = true
            position += 1
            if let s = peek(), s == 0x2B || s == 0x2D { position += 1 }
            guard let d = peek(), d >= 48, d <= 57 else { throw error(.malformedJSON, "bad number exponent") }
            while let d = peek(), d >= 48, d <= 57 { position += 1 }
        }
        token.range = token.range.lowerBound..<position
        return token
    }

    /// Reads a run of digits onto `mantissa` (wrapping past 19 digits in all); returns how many it read. The loop
    /// keeps the position in a register: through `self` it was stored back at every digit.
    @inline(__always)
    private mutating func readDigits(onto mantissa: inout UInt64) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let start = position
        let end = bytes.count
        var at = start
        var value = mantissa
        while at < end {
            let digit = base.load(fromByteOffset: at, as: UInt8.self) &- 48
            guard digit < 10 else { break }
            value = value &* 10 &+ UInt64(digit)
            at &+= 1
        }
        mantissa = value
        position = at
        return at &- start
    }

    /// Exact powers of ten as doubles: 10^22 is the largest that is.
    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
        1e21, 1e22,
    ]

    /// The token's value as a double, correctly rounded (what `strtod` gives); infinite when out of range.
    func double(_ token: NumberToken) -> Double {
        fastDouble(token) ?? parsedDouble(token)
    }

    /// The value of a token without an exponent whose digits (at most 19, so read without wrapping) make an
    /// integer of at most 2^53, with at most 22 of them after the point (prices, amounts, counts): that integer and
    /// that power of ten are both exact doubles, so one division rounds correctly (Clinger's fast path), to the
    /// value `strtod` gives. Nil for any other token.
    @inline(__always)
    private func fastDouble(_ token: NumberToken) -> Double? {
        guard !token.hasExponent, token.digits <= 19, token.mantissa <= 1 << 53, token.fractionDigits <= 22 else { return nil }
        let value = token.fractionDigits == 0 ? Double(token.mantissa) : Double(token.mantissa) / Self.exactPowersOfTen[token.fractionDigits]
        return bytes[token.range.lowerBound] == 0x2D ? -value : value
    }

    /// The token's value by `strtod` on a stack copy.
    private func parsedDouble(_ token: NumberToken) -> Double {
        let count = token.range.count
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buffer in
            for k in 0..<count { buffer[k] = CChar(bitPattern: bytes[token.range.lowerBound + k]) }
            buffer[count] = 0
            return strtod(buffer.baseAddress!, nil)
        }
    }

    /// The token as an exact integer, when it is one and fits.
    func int64(_ token: NumberToken) -> Int64? {
        guard token.isInteger else { return nil }
        let negative = bytes[token.range.lowerBound] == 0x2D
        // Up to 18 digits the integer read with the token is exact and fits; longer ones are worked out again with
        // overflow checks.
        if token.digits <= 18 { return negative ? -Int64(token.mantissa) : Int64(token.mantissa) }
        var i = token.range.lowerBound
        if negative { i += 1 }
        var value: Int64 = 0
        while i < token.range.upperBound {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - 48))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }

    /// Reads `true`, `false` or `null`; returns its first byte.
    mutating func readLiteral() throws(DecodeError) -> UInt8 {
        guard let b = peek() else { throw error(.malformedJSON, "unexpected end, expected a value") }
        // The literal's bytes after the first, packed little-endian: "rue", "alse", "ull".
        let (rest, count): (UInt32, Int)
        switch b {
        case 0x74: (rest, count) = (0x65_75_72, 3)
        case 0x66: (rest, count) = (0x65_73_6C_61, 4)
        case 0x6E: (rest, count) = (0x6C_6C_75, 3)
        default: throw error(.malformedJSON, "unexpected byte")
        }
        guard position + 1 + count <= bytes.count else { throw error(.malformedJSON, "truncated literal") }
        for k in 0..<count where bytes[position + 1 + k] != UInt8((rest >> UInt32(8 * k)) & 0xFF) {
            throw error(.malformedJSON, "bad literal")
        }
        position += 1 + count
        return b
    }

    /// Validates and skips any value, nested no deeper than `maxDepth`.
    mutating func skipValue(depth: Int) throws(DecodeError) {
        skipWhitespace()
        guard let b = peek() else { throw error(.malformedJSON, "unexpected end, expected a value") }
        switch b {
        case 0x22:
            _ = try readString()
        case 0x7B, 0x5B:
            guard depth < maxDepth else { throw error(.tooDeep, "nested deeper than \(maxDepth) levels") }
            let close: UInt8 = b == 0x7B ? 0x7D : 0x5D
            position += 1
            skipWhitespace()
            if peek() == close {
                position += 1
                return
            }
            while true {
                if b == 0x7B {
                    skipWhitespace()
                    _ = try readString()
                    try expect(0x3A, "':'")
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard let next = peek() else { throw error(.malformedJSON, "unexpected end inside a container") }
                position += 1
                if next == close { return }
                guard next == 0x2C else { throw error(.malformedJSON, "expected ',' or a closing bracket") }
            }
        case 0x2D, 48...57:
            _ = try readNumber()
        default:
            _ = try readLiteral()
        }
    }
}
