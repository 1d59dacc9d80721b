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
        let (sum, zeros) = registers.withUnsafeBufferPointer { all in
            harmonicSum(UnsafeBufferPointer(rebasing: all[base..<base + m]))
        }
        let mDouble = Double(m)
        let alpha = 0.7213 / (1 + 1.079 / mDouble)
        let raw = alpha * mDouble * mDouble / sum
        if raw <= 2.5 * mDouble, zeros > 0 {
            return mDouble * log(mDouble / Double(zeros))
        }
        return raw
    }

    /// The sum of 2^-r over the registers, equal bit for bit to adding them up one by one in doubles, and the
    /// number of zero registers.
    ///
    /// While no register is above 45 every term is a multiple of 2^-45 and the sum stays below 2^precision, so
    /// every partial sum of the doubles is exact, and the sum is taken as an integer count of 2^-45 instead: no
    /// chain of dependent floating-point additions, and a loop the compiler vectorizes. A register above 45 (a
    /// key that has seen some 2^45 values) takes the additions in order.
    @inline(__always)
    static func harmonicSum(_ registers: UnsafeBufferPointer<UInt8>) -> (sum: Double, zeros: Int) {
        var scaled: UInt64 = 0
        var largest: UInt8 = 0
        var zeros = 0
        for r in registers {
            scaled &+= 1 &<< (45 &- UInt64(r))
            largest = max(largest, r)
            // 1 for a zero register without a branch (registers stay below 129): most registers of a key just
            // past the exact set are zero, the rest not, in no order a predictor could follow.
            zeros &+= Int((r &- 1) >> 7)
        }
        if largest <= 45, registers.count <= 1 << 7 {
            return (Double(scaled) * 0x1p-45, zeros)
        }
        var sum = 0.0
        for r in registers {
            // 2^-r exactly, built from its bits: exp2 gives the same value at many times the cost.
            sum += Double(bitPattern: UInt64(1023 - Int(r)) << 52)
        }
        return (sum, zeros)
    }
}
