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

    /// Appends the values without a count (the caller writes it): how a collection of plain structs of 8-byte
    /// numbers (window statistics) is written in one copy; `BinaryReader.read(into:)` reads it back.
    public mutating func write(contentsOf values: UnsafeBufferPointer<Double>) {
        if appendMemoryLayout(of: values) { return }
        for v in values { write(v) }
    }

    /// Appends the bytes without a count (the caller writes it): a byte table written in parts, read back with
    /// `BinaryReader.readBytes(count:_:)`.
    public mutating func write(contentsOf raw: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    public mutating func write(_ value: String) { write(Array(value.utf8)) }

    /// Wraps a payload: magic `VGLX`, the format version, a kind tag, the payload length, the payload and an
    /// XXH64 checksum of everything before it. (Envelopes written before 2026-11-27 have magic `VGLS` and an
    /// FNV-1a checksum; `BinaryReader` reads both.)
    public static func envelope(kind: String, version: UInt64, payload: [UInt8]) -> [UInt8] {
        envelope(kind: kind, version: version) { $0.bytes.append(contentsOf: payload) }
    }

    /// An envelope whose payload `writePayload` writes straight into it (no payload buffer of its own), in a
    /// buffer with room for `capacity` bytes reserved up front.
    public static func envelope(kind: String, version: UInt64, capacity: Int = 0, _ writePayload: (inout BinaryWriter) -> Void) -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.reserveCapacity(capacity)
        w.appendEnvelope(kind: kind, version: version, writePayload)
        return w.bytes
    }

    /// Writes an envelope as a byte-array field — its length, then the envelope — the same bytes as
    /// `write(BinaryWriter.envelope(kind:version:_:))`, but written in place: nested state (a scorer holding
    /// feature windows holding stores) is built in one buffer instead of being copied into every level above it.
    public mutating func writeEnvelope(kind: String, version: UInt64, _ writePayload: (inout BinaryWriter) -> Void) {
        let length = reserveLength()
        appendEnvelope(kind: kind, version: version, writePayload)
        fillLength(length)
    }

    private mutating func appendEnvelope(kind: String, version: UInt64, _ writePayload: (inout BinaryWriter) -> Void) {
        let start = bytes.count
        bytes.append(contentsOf: Self.magic)
        write(version)
        write(kind)
        let length = reserveLength()
        writePayload(&self)
        fillLength(length)
        let sum = bytes.withUnsafeBytes { XXHash64.hash(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        write(sum)
    }

    /// The magic of envelopes checksummed with XXH64 (written now), and of those checksummed with FNV-1a.
    static let magic: [UInt8] = Array("VGLX".utf8)
    static let fnvMagic: [UInt8] = Array("VGLS".utf8)

    /// Room for a length written once what it measures is: the offset to pass to `fillLength`.
    private mutating func reserveLength() -> Int {
        write(0 as UInt64)
        return bytes.count
    }

    /// Writes the number of bytes written since `reserveLength` returned `end` into the room it made.
    private mutating func fillLength(_ end: Int) {
        let length = UInt64(bytes.count - end).littleEndian
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: length, toByteOffset: end - 8, as: UInt64.self) }
    }
}

/// Reads what `BinaryWriter` wrote; every read checks bounds and throws on truncated or implausible input.
///
/// A reader covers a range of its bytes: an envelope's payload is read by a reader over that part of the same
/// bytes (shared, not copied), so nested state is restored without copying each level out of the one above.
/// Positions in errors count from the start of the outermost bytes.
public struct BinaryReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var position: Int
    private let end: Int

    public init(_ bytes: [UInt8]) {
        self.init(bytes, range: 0..<bytes.count)
    }

    private init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    public var isAtEnd: Bool { position == end }

    public mutating func readUInt64() throws(StateError) -> UInt64 {
        guard end - position >= 8 else { throw StateError("truncated state at byte \(position)") }
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt64.self) }
        position += 8
        return UInt64(littleEndian: v)
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
        guard position < end else { throw StateError("truncated state at byte \(position)") }
        position += 1
        return bytes[position - 1]
    }

    public mutating func readBool() throws(StateError) -> Bool { try readUInt8() != 0 }

    /// A count, refused when larger than the bytes left could hold (corrupt input must not allocate wildly).
    private mutating func readCount(elementSize: Int) throws(StateError) -> Int {
        let n = try readInt()
        guard n >= 0, n <= (end - position) / max(1, elementSize) else {
            throw StateError("implausible length \(n) at byte \(position)")
        }
        return n
    }

    /// A count and that many 8-byte values, copied into an array of a type whose memory layout is that format
    /// (8-byte little-endian numbers; Double by bit pattern) in one copy.
    private mutating func readEightByteValues<T: BitwiseCopyable>(as type: T.Type) throws(StateError) -> [T] {
        precondition(MemoryLayout<T>.stride == 8)
        let n = try readCount(elementSize: 8)
        let from = position
        position += 8 * n
        return bytes.withUnsafeBytes { source in
            [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                let target = UnsafeMutableRawBufferPointer(buffer)
                #if _endian(little)
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from..<(from + 8 * n)]))
                #else
                for i in 0..<n {
                    let v = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: from + 8 * i, as: UInt64.self))
                    target.storeBytes(of: v, toByteOffset: 8 * i, as: UInt64.self)
                }
                #endif
                initialized = n
            }
        }
    }

    public mutating func readDoubles() throws(StateError) -> [Double] { try readEightByteValues(as: Double.self) }
    public mutating func readInt64s() throws(StateError) -> [Int64] { try readEightByteValues(as: Int64.self) }
    public mutating func readUInt64s() throws(StateError) -> [UInt64] { try readEightByteValues(as: UInt64.self) }

    public mutating func readInts() throws(StateError) -> [Int] {
        #if _pointerBitWidth(_64)
        return try readEightByteValues(as: Int.self)
        #else
        return try readInt64s().map { Int($0) }
        #endif
    }

    // Floats and Int32s are widened to 8 bytes in the format: read one by one (each read is one word load), into
    // the one array returned.
    public mutating func readFloats() throws(StateError) -> [Float] {
        let n = try readCount(elementSize: 8)
        var out: [Float] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readFloat()) }
        return out
    }

    public mutating func readInt32s() throws(StateError) -> [Int32] {
        let n = try readCount(elementSize: 8)
        var out: [Int32] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readInt32()) }
        return out
    }

    public mutating func readBytes() throws(StateError) -> [UInt8] {
        let n = try readCount(elementSize: 1)
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    /// Reads `count` bytes without a count before them (the caller read it), handing them to `body` where they
    /// lie (no copy).
    public mutating func readBytes<R>(count: Int, _ body: (UnsafeRawBufferPointer) -> R) throws(StateError) -> R {
        guard count >= 0, end - position >= count else { throw StateError("truncated state at byte \(position)") }
        let from = position
        position += count
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[from..<from + count])) }
    }

    public mutating func readBools() throws(StateError) -> [Bool] {
        let n = try readCount(elementSize: 1)
        defer { position += n }
        return bytes[position..<(position + n)].map { $0 != 0 }
    }

    /// Reads `values.count` values of 8 bytes each into `values`, without a count (the caller wrote it): how
    /// a collection of plain structs of 8-byte numbers is read in one copy.
    public mutating func read(into values: UnsafeMutableBufferPointer<Double>) throws(StateError) {
        guard (end - position) / 8 >= values.count else { throw StateError("truncated state at byte \(position)") }
        let from = position
        position += 8 * values.count
        bytes.withUnsafeBytes { source in
            #if _endian(little)
            UnsafeMutableRawBufferPointer(values).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from..<position]))
            #else
            for i in values.indices {
                values[i] = Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: from + 8 * i, as: UInt64.self)))
            }
            #endif
        }
    }

    public mutating func readString() throws(StateError) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    /// Opens an envelope: checks the magic, the checksum, the kind and the version; returns the version and a
    /// reader over the payload.
    public static func open(_ data: [UInt8], kind: String, versions: ClosedRange<UInt64>) throws(StateError) -> (version: UInt64, payload: BinaryReader) {
        try BinaryReader(data).openEnvelope(0..<data.count, kind: kind, versions: versions)
    }

    /// Reads an envelope written as a byte-array field (`BinaryWriter.writeEnvelope`) and opens it as `open`
    /// does; the returned reader covers its payload within these bytes.
    public mutating func readEnvelope(kind: String, versions: ClosedRange<UInt64>) throws(StateError) -> (version: UInt64, payload: BinaryReader) {
        let n = try readCount(elementSize: 1)
        let range = position..<(position + n)
        position += n
        return try openEnvelope(range, kind: kind, versions: versions)
    }

    private func openEnvelope(_ range: Range<Int>, kind expectedKind: String, versions: ClosedRange<UInt64>) throws(StateError) -> (version: UInt64, payload: BinaryReader) {
        guard range.count >= 12 else { throw StateError("not Vigil state (bad magic)") }
        let magic = bytes[range.lowerBound..<(range.lowerBound + 4)]
        let checksum: (UnsafeRawBufferPointer) -> UInt64
        if magic.elementsEqual(BinaryWriter.magic) {
            checksum = XXHash64.hash
        } else if magic.elementsEqual(BinaryWriter.fnvMagic) {
            checksum = FNV1a.hash
        } else {
            throw StateError("not Vigil state (bad magic)")
        }
        let body = range.lowerBound..<(range.upperBound - 8)
        var trailer = BinaryReader(bytes, range: body.upperBound..<range.upperBound)
        let sum = try trailer.readUInt64()
        guard bytes.withUnsafeBytes({ checksum(UnsafeRawBufferPointer(rebasing: $0[body])) }) == sum else {
            throw StateError("state checksum mismatch: corrupt")
        }
        var reader = BinaryReader(bytes, range: (body.lowerBound + 4)..<body.upperBound)
        let version = try reader.readUInt64()
        let kind = try reader.readString()
        guard kind == expectedKind else { throw StateError("state of kind '\(kind)', expected '\(expectedKind)'") }
        guard versions.contains(version) else { throw StateError("\(kind) state version \(version) is not supported (supported: \(versions))") }
        let n = try reader.readCount(elementSize: 1)
        guard reader.position + n == body.upperBound else { throw StateError("\(kind) state: trailing bytes after the payload") }
        return (version, BinaryReader(bytes, range: reader.position..<body.upperBound))
    }
}

/// A value whose whole state can be written and read back bit-exactly.
public protocol BinaryStateRepresentable {
    func write(to writer: inout BinaryWriter)
    init(from reader: inout BinaryReader) throws(StateError)
}
