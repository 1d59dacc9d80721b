/// Appends JSON to a reusable byte buffer: no intermediate strings, no allocation once the buffer has grown.
///
/// Numbers are written with up to six decimals (or as integers when whole), the same way everywhere, so
/// replayed and live outputs compare byte for byte. NaN and infinities become `null`.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
        needsComma.reserveCapacity(8)
    }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma.removeAll(keepingCapacity: true)
        needsComma.append(false)
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(0x2C) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() {
        separate()
        bytes.append(0x7B)
        needsComma.append(false)
    }

    public mutating func endObject() {
        bytes.append(0x7D)
        needsComma.removeLast()
    }

    public mutating func beginArray() {
        separate()
        bytes.append(0x5B)
        needsComma.append(false)
    }

    public mutating func endArray() {
        bytes.append(0x5D)
        needsComma.removeLast()
    }

    /// Writes `"name":` inside an object; the next value follows it without a comma.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(0x3A)
        needsComma[needsComma.count - 1] = false
    }

    private mutating func valueDone() {
        needsComma[needsComma.count - 1] = true
    }

    public mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    /// A string value from raw UTF-8 bytes (entity keys and event ids, already validated when decoded).
    public mutating func string(bytes value: UnsafeRawBufferPointer) {
        separate()
        appendQuoted(UnsafeBufferPointer(start: value.baseAddress?.assumingMemoryBound(to: UInt8.self), count: value.count))
    }

    /// Writes an already encoded JSON value as it is.
    public mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
    }

    public mutating func bool(_ value: Bool) {
        separate()
        appendStatic(value ? "true" : "false")
    }

    public mutating func null() {
        separate()
        appendStatic("null")
    }

    public mutating func int(_ value: Int64) {
        separate()
        appendInteger(value)
    }

    /// A number in Swift's shortest form that reads back as exactly `value` (null when not finite). Allocates a
    /// string: for offline outputs such as training data, not for the records the daemon writes per event.
    public mutating func exactNumber(_ value: Double) {
        guard value.isFinite else {
            null()
            return
        }
        separate()
        bytes.append(contentsOf: value.description.utf8)
    }

    public mutating func number(_ value: Double) {
        guard value.isFinite else {
            null()
            return
        }
        separate()
        if abs(value) >= 1e15 {
            // Beyond exact integers: fall back to Swift's shortest representation (rare: amounts are smaller).
            bytes.append(contentsOf: value.description.utf8)
            return
        }
        let scaled = (value * 1_000_000).rounded()
        let whole = Int64(scaled / 1_000_000)
        let fraction = Int64(abs(scaled.truncatingRemainder(dividingBy: 1_000_000)))
        // `-whole.fraction`, the fraction's trailing zeros dropped, built backwards in a stack buffer and
        // appended at once (at most 23 bytes: whole is below 10^15).
        var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { digits in
            var start = digits.count
            if fraction != 0 {
                var rest = fraction
                var places = 6
                while rest % 10 == 0 {
                    rest /= 10
                    places -= 1
                }
                // The fraction's digits, with the leading zeros its place needs.
                let end = start
                start = Self.writeDigits(UInt64(rest), endingAt: end, in: digits)
                while start > end - places {
                    start -= 1
                    digits[start] = 0x30
                }
                start -= 1
                digits[start] = 0x2E
            }
            start = Self.writeDigits(whole.magnitude, endingAt: start, in: digits)
            if scaled < 0 {
                start -= 1
                digits[start] = 0x2D
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Writes `value`'s decimal digits to end just before `end`; returns where they start.
    private static func writeDigits(_ value: UInt64, endingAt end: Int, in digits: UnsafeMutableRawBufferPointer) -> Int {
        var start = end
        var rest = value
        repeat {
            start -= 1
            digits[start] = UInt8(48 + rest % 10)
            rest /= 10
        } while rest > 0
        return start
    }

    private mutating func appendStatic(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private mutating func appendInteger(_ value: Int64) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { digits in
            var start = Self.writeDigits(value.magnitude, endingAt: digits.count, in: digits)
            if value < 0 {
                start -= 1
                digits[start] = 0x2D
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[start...]))
        }
    }

    private mutating func appendString(_ value: String) {
        // Small (inline) strings have no contiguous storage to lend and go byte by byte: measured, that costs less
        // than `withUTF8` on a copy, which retains and releases the string for every call.
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { appendQuoted($0) }
        if written == nil {
            bytes.append(0x22)
            for b in value.utf8 { appendEscaped(b) }
            bytes.append(0x22)
        }
    }

    /// `utf8` in quotes: copied at once when no byte needs escaping (names, keys, ids: nearly always), else byte
    /// by byte.
    private mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(0x22)
        var plain = true
        for b in utf8 where b < 0x20 || b == 0x22 || b == 0x5C {
            plain = false
            break
        }
        if plain {
            bytes.append(contentsOf: utf8)
        } else {
            for b in utf8 { appendEscaped(b) }
        }
        bytes.append(0x22)
    }

    @inline(__always)
    private mutating func appendEscaped(_ b: UInt8) {
        switch b {
        case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
        case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
        case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
        default: bytes.append(b)
        }
    }
}
