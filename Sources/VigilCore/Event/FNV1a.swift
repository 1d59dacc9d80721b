/// 64-bit FNV-1a with a final avalanche mix: fast, allocation-free and stable across runs and processes
/// (unlike `Hasher`, which is seeded per process), so routing and sketches are reproducible.
public enum FNV1a {
    @inline(__always)
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return mix(h)
    }

    public static func hash(_ string: String) -> UInt64 {
        var utf8 = Array(string.utf8)
        return utf8.withUnsafeMutableBytes { hash(UnsafeRawBufferPointer($0)) }
    }

    /// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
