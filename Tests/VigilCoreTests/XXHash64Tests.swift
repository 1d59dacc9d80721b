import Testing
import VigilCore

@Suite("XXH64 checksum")
struct XXHash64Tests {
    /// The reference implementation's values (seed 0; python-xxhash 3.x), for inputs that end in each of the
    /// tail paths: under 32 bytes, exactly one stripe, stripes then 8-, 4- and 1-byte tails.
    @Test(arguments: [
        ("", 0xEF46_DB37_51D8_E999 as UInt64),
        ("a", 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0x44BC_2CF5_AD77_0999),
        ("0123456789abcdefghijklmnopqrstu", 0x80AD_FC1D_4202_0F39),
        ("0123456789abcdefghijklmnopqrstuv", 0xBF7C_9DBE_16B5_C6E2),
        ("0123456789abcdefghijklmnopqrstuvwxyz0123", 0x8DF6_B75C_7D2F_9D11),
    ])
    func matchesTheReference(text: String, expected: UInt64) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBytes { XXHash64.hash($0) } == expected)
    }

    @Test func matchesTheReferenceOnALongerInput() {
        let bytes = Array((0..<4).flatMap { _ in (0...255).map { UInt8($0) } }) + Array("Vigil".utf8)
        #expect(bytes.count == 1_029)
        #expect(bytes.withUnsafeBytes { XXHash64.hash($0) } == 0x95AB_4DF8_50DC_1EB5)
    }

    @Test func aFlippedBitChangesTheSum() {
        var bytes = Array(repeating: UInt8(7), count: 4_096)
        let sum = bytes.withUnsafeBytes { XXHash64.hash($0) }
        for position in [0, 31, 32, 4_000, 4_095] {
            bytes[position] ^= 0x10
            #expect(bytes.withUnsafeBytes { XXHash64.hash($0) } != sum, "bit flipped at \(position)")
            bytes[position] ^= 0x10
        }
    }
}
