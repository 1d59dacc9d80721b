/// Why serialised state could not be read back.
public struct StateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Writes state in Vigil's versioned binary format: little-endian fixed-width numbers, doubles by bit pattern
/// (so a restore is bit-exact), arrays as a count and their elements.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ value: UInt64) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }
    public mutating func write(_ value: Int) { write(Int64(value)) }
    public mutating func write(_ value: Int32) { write(Int64(value)) }
    public mutating func write(_ value: Double) { write(value.bitPattern) }
    public mutating func write(_ value: Float) { write(UInt64(value.bitPattern)) }
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func write(_ value: UInt8) { bytes.append(value) }

    // The collection writes go through the collection's buffer when it is contiguous (`Array`, `StateArray`):
    // they are generic and compiled in this module, so iterating another module's collection element by element
    // made run-time generic calls per element (a 582 MB checkpoint took 23-27 s, BENCHMARKS.md).

    public mutating func write(_ values: some Collection<Double>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<Float>) {
        write(values.count)
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<Int64>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<Int32>) {
        write(values.count)
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<Int>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<UInt64>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ values: some Collection<UInt8>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        bytes.append(contentsOf: values)
    }

    /// Appends a contiguous collection's elements as they lie in memory, in one copy; false when the collection
    /// is not contiguous (or the machine is big-endian), and nothing was written. Only for element types whose
    /// format is their memory layout — 8-byte little-endian numbers (Double by bit pattern, Int64, UInt64, Int on
    /// 64-bit machines), bytes, and Bool (one byte, 0 or 1) — so either way gives the same bytes; large state
    /// tables are then written at memory speed instead of through a generic iteration per element.
    private mutating func appendMemoryLayout<C: Collection>(of values: C) -> Bool {
        #if _endian(little) && _pointerBitWidth(_64)
        let appended: Void? = values.withContiguousStorageIfAvailable { buffer in
            bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
        return appended != nil
        #else
        return false
        #endif
    }

    public mutating func write(_ values: some Collection<Bool>) {
        write(values.count)
        if appendMemoryLayout(of: values) { return }
        let written: Void? = values.withContiguousStorageIfAvailable { for v in $0 { write(v) } }
        if written == nil { for v in values { write(v) } }
    }

    public mutating func write(_ value: String) { write(Array(value.utf8)) }

    /// Wraps a payload: magic `VGLS`, the format version, a kind tag, the payload length, the payload and an
    /// FNV-1a checksum of everything before it.
    public static func envelope(kind: String, version: UInt64, payload: [UInt8]) -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.append(contentsOf: Array("VGLS".utf8))
        w.write(version)
        w.write(kind)
        w.write(payload)
        let sum = w.bytes.withUnsafeBytes { FNV1a.hash($0) }
        w.write(sum)
        return w.bytes
    }
}

/// Reads what `BinaryWriter` wrote; every read checks bounds and throws on truncated or implausible input.
public struct BinaryReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isAtEnd: Bool { position == bytes.count }

    public mutating func readUInt64() throws(StateError) -> UInt64 {
        guard position + 8 <= bytes.count else { throw StateError("truncated state at byte \(position)") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    public mutating func readInt64() throws(StateError) -> Int64 { Int64(bitPattern: try readUInt64()) }
    public mutating func readInt() throws(StateError) -> Int { Int(try readInt64()) }
    public mutating func readInt32() throws(StateError) -> Int32 {
        let v = try readInt64()
        guard let narrow = Int32(exactly: v) else { throw StateError("value \(v) out of range at byte \(position)") }
        return narrow
    }
    public mutating func readDouble() throws(StateError) -> Double { Double(bitPattern: try readUInt64()) }
    public mutating func readFloat() throws(StateError) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: try readUInt64())) }

    public mutating func readUInt8() throws(StateError) -> UInt8 {
        guard position < bytes.count else { throw StateError("truncated state at byte \(position)") }
        position += 1
        return bytes[position - 1]
    }

    public mutating func readBool() throws(StateError) -> Bool { try readUInt8() != 0 }

    /// A count, refused when larger than the bytes left could hold (corrupt input must not allocate wildly).
    private mutating func readCount(elementSize: Int) throws(StateError) -> Int {
        let n = try readInt()
        guard n >= 0, n <= (bytes.count - position) / max(1, elementSize) else {
            throw StateError("implausible length \(n) at byte \(position)")
        }
        return n
    }

    public mutating func readDoubles() throws(StateError) -> [Double] {
        let n = try readCount(elementSize: 8)
        var out: [Double] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readDouble()) }
        return out
    }

    public mutating func readFloats() throws(StateError) -> [Float] {
        let n = try readCount(elementSize: 8)
        var out: [Float] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readFloat()) }
        return out
    }

    public mutating func readInt64s() throws(StateError) -> [Int64] {
        let n = try readCount(elementSize: 8)
        var out: [Int64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readInt64()) }
        return out
    }

    public mutating func readInt32s() throws(StateError) -> [Int32] {
        let n = try readCount(elementSize: 8)
        var out: [Int32] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readInt32()) }
        return out
    }

    public mutating func readInts() throws(StateError) -> [Int] {
        let n = try readCount(elementSize: 8)
        var out: [Int] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readInt()) }
        return out
    }

    public mutating func readUInt64s() throws(StateError) -> [UInt64] {
        let n = try readCount(elementSize: 8)
        var out: [UInt64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readUInt64()) }
        return out
    }

    public mutating func readBytes() throws(StateError) -> [UInt8] {
        let n = try readCount(elementSize: 1)
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    public mutating func readBools() throws(StateError) -> [Bool] {
        let n = try readCount(elementSize: 1)
        var out: [Bool] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readBool()) }
        return out
    }

    public mutating func readString() throws(StateError) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    /// Opens an envelope: checks the magic, the checksum, the kind and the version; returns the payload.
    public static func open(_ data: [UInt8], kind expectedKind: String, versions: ClosedRange<UInt64>) throws(StateError) -> (version: UInt64, payload: [UInt8]) {
        guard data.count >= 12, Array(data[0..<4]) == Array("VGLS".utf8) else { throw StateError("not Vigil state (bad magic)") }
        let body = Array(data[0..<(data.count - 8)])
        var tail = BinaryReader(Array(data[(data.count - 8)...]))
        let sum = try tail.readUInt64()
        guard body.withUnsafeBytes({ FNV1a.hash($0) }) == sum else { throw StateError("state checksum mismatch: corrupt") }
        var reader = BinaryReader(body)
        reader.position = 4
        let version = try reader.readUInt64()
        let kind = try reader.readString()
        guard kind == expectedKind else { throw StateError("state of kind '\(kind)', expected '\(expectedKind)'") }
        guard versions.contains(version) else { throw StateError("\(kind) state version \(version) is not supported (supported: \(versions))") }
        return (version, try reader.readBytes())
    }
}

/// A value whose whole state can be written and read back bit-exactly.
public protocol BinaryStateRepresentable {
    func write(to writer: inout BinaryWriter)
    init(from reader: inout BinaryReader) throws(StateError)
}
