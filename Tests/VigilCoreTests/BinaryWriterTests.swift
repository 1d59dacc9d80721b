import Testing
import VigilCore

@Suite("Binary state writer")
struct BinaryWriterTests {
    /// Contiguous collections (`Array`, `StateArray`) of 8-byte numbers, bytes and Bools are appended in one copy
    /// of their memory, others written through their buffer; the bytes must be those the element-by-element path writes (a lazy map is not contiguous),
    /// and read back the same.
    @Test func contiguousCollectionsWriteTheElementwiseBytes() throws {
        let doubles: [Double] = [0, -0.0, 1.5, -2.25e300, .infinity, -.infinity, .nan, .leastNonzeroMagnitude]
        let int64s: [Int64] = [0, -1, .min, .max, 1 << 40]
        let uint64s: [UInt64] = [0, 1, .max, 0xDEAD_BEEF_0000_0001]
        let ints: [Int] = [0, -7, .min, .max]
        let bools: [Bool] = [true, false, false, true]
        let bytes: [UInt8] = [0, 7, 255, 128]
        let int32s: [Int32] = [0, -1, .min, .max]

        var contiguous = BinaryWriter()
        var elementwise = BinaryWriter()
        contiguous.write(doubles); elementwise.write(doubles.lazy.map { $0 })
        contiguous.write(StateArray(doubles)); elementwise.write(doubles.lazy.map { $0 })
        contiguous.write(StateArray(int64s)); elementwise.write(int64s.lazy.map { $0 })
        contiguous.write(uint64s); elementwise.write(uint64s.lazy.map { $0 })
        contiguous.write(ints); elementwise.write(ints.lazy.map { $0 })
        contiguous.write(StateArray(bools)); elementwise.write(bools.lazy.map { $0 })
        contiguous.write(StateArray(bytes)); elementwise.write(bytes.lazy.map { $0 })
        contiguous.write(StateArray(int32s)); elementwise.write(int32s.lazy.map { $0 })
        contiguous.write([Double]()); elementwise.write([Double]().lazy.map { $0 })
        #expect(contiguous.bytes == elementwise.bytes)

        var r = BinaryReader(contiguous.bytes)
        #expect(try r.readDoubles().map(\.bitPattern) == doubles.map(\.bitPattern))
        #expect(try r.readDoubles().map(\.bitPattern) == doubles.map(\.bitPattern))
        #expect(try r.readInt64s() == int64s)
        #expect(try r.readUInt64s() == uint64s)
        #expect(try r.readInts() == ints)
        #expect(try r.readBools() == bools)
        #expect(try r.readBytes() == bytes)
        #expect(try r.readInt32s() == int32s)
        #expect(try r.readDoubles().isEmpty)
        #expect(r.isAtEnd)
    }

    /// An envelope written in place as a field is the bytes of the envelope built apart and written as a byte
    /// array (the format before in-place writes), and reads back through a reader over its payload.
    @Test func envelopesWrittenInPlaceAreTheEnvelopesBuiltApart() throws {
        var inner = BinaryWriter()
        inner.write([1.5, -2.5])
        inner.write("inside")
        var copied = BinaryWriter()
        copied.write(7 as Int)
        copied.write(BinaryWriter.envelope(kind: "inner", version: 3, payload: inner.bytes))
        copied.write(9 as Int)

        var inPlace = BinaryWriter()
        inPlace.write(7 as Int)
        inPlace.writeEnvelope(kind: "inner", version: 3) { w in
            w.write([1.5, -2.5])
            w.write("inside")
        }
        inPlace.write(9 as Int)
        #expect(inPlace.bytes == copied.bytes)

        var r = BinaryReader(inPlace.bytes)
        #expect(try r.readInt() == 7)
        var (version, payload) = try r.readEnvelope(kind: "inner", versions: 1...3)
        #expect(version == 3)
        #expect(try payload.readDoubles() == [1.5, -2.5])
        #expect(try payload.readString() == "inside")
        #expect(payload.isAtEnd)
        #expect(try r.readInt() == 9)
        #expect(r.isAtEnd)

        var wrongKind = BinaryReader(inPlace.bytes)
        _ = try wrongKind.readInt()
        #expect(throws: StateError("state of kind 'inner', expected 'outer'")) { try wrongKind.readEnvelope(kind: "outer", versions: 1...3) }
        var wrongVersion = BinaryReader(inPlace.bytes)
        _ = try wrongVersion.readInt()
        #expect(throws: StateError("inner state version 3 is not supported (supported: 1...2)")) { try wrongVersion.readEnvelope(kind: "inner", versions: 1...2) }
        var damaged = inPlace.bytes
        damaged[60] ^= 0x01
        var corrupt = BinaryReader(damaged)
        _ = try corrupt.readInt()
        #expect(throws: StateError("state checksum mismatch: corrupt")) { try corrupt.readEnvelope(kind: "inner", versions: 1...3) }
    }

    /// Envelopes written before XXH64 (magic VGLS, FNV-1a checksum) still open; their checksum is checked.
    @Test func envelopesWithTheFNVChecksumStillOpen() throws {
        var payload = BinaryWriter()
        payload.write([UInt64(1), 2, 3])
        var legacy = BinaryWriter()
        legacy.write(2 as UInt64)
        legacy.write("old")
        legacy.write(payload.bytes)
        var bytes = Array("VGLS".utf8) + legacy.bytes
        var sum = BinaryWriter()
        sum.write(bytes.withUnsafeBytes { FNV1a.hash($0) })
        bytes += sum.bytes

        var opened = try BinaryReader.open(bytes, kind: "old", versions: 1...2)
        #expect(opened.version == 2)
        #expect(try opened.payload.readUInt64s() == [1, 2, 3])
        #expect(opened.payload.isAtEnd)
        bytes[20] ^= 0x04
        #expect(throws: StateError("state checksum mismatch: corrupt")) { try BinaryReader.open(bytes, kind: "old", versions: 1...2) }
        #expect(Array(BinaryWriter.envelope(kind: "new", version: 1, payload: []).prefix(4)) == Array("VGLX".utf8))
    }
}

