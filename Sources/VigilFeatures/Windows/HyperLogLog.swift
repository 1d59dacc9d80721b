import Foundation
public import VigilCore

/// HyperLogLog registers for one key (Flajolet et al. 2007) with `2^precision` one-byte registers, stored in a
/// shared array by the caller. Standard error is about `1.04 / sqrt(2^precision)`.
public enum HyperLogLog {
    /// Adds a 64-bit hash to the registers at `registers[base ..< base + 2^precision]`.
    @inline(__always)
    public static func add(_ hash: UInt64, precision: Int, registers: inout StateArray<UInt8>, base: Int) {
        let index = Int(hash >> UInt64(64 - precision))
        let rest = (hash << UInt64(precision)) | (1 << UInt64(precision - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        if rank > registers[base + index] { registers[base + index] = rank }
    }

    /// The cardinality estimate, with linear counting for small ranges.
    public static func estimate(precision: Int, registers: StateArray<UInt8>, base: Int) -> Double {
        let m = 1 << precision
        var sum = 0.0
        var zeros = 0
        for i in 0..<m {
            let r = registers[base + i]
            // 2^-r exactly, built from its bits: exp2 gives the same value at many times the cost.
            sum += Double(bitPattern: UInt64(1023 - Int(r)) << 52)
            if r == 0 { zeros += 1 }
        }
        let mDouble = Double(m)
        let alpha = 0.7213 / (1 + 1.079 / mDouble)
        let raw = alpha * mDouble * mDouble / sum
        if raw <= 2.5 * mDouble, zeros > 0 {
            return mDouble * log(mDouble / Double(zeros))
        }
        return raw
    }
}
