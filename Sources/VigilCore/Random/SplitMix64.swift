/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, seedable generator. Everything random in Vigil — tree
/// shapes, sampling, sketches, the synthetic stream — draws from it, so a seed reproduces a run exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    /// The whole state: saving it and restoring it continues the same sequence.
    public var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return FNV1a.mix(state)
    }

    /// A uniform draw from [0, 1) with 53 bits of precision.
    public mutating func uniform() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
