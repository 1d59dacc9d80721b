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
}
