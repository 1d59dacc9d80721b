import Foundation
import Testing
import VigilCore
@testable import VigilFeatures

@Suite("HyperLogLog")
struct HyperLogLogTests {
    /// The estimate builds 2^-r from its bits; it must equal the textbook formula with exp2, bit for bit, for
    /// every register value a 64-bit hash can give.
    @Test func theEstimateEqualsTheFormulaWithExp2() {
        var rng = SplitMix64(seed: 5)
        let precision = 7
        let m = 1 << precision
        for round in 0..<200 {
            let registers = (0..<m).map { _ in round == 0 ? 0 : UInt8(rng.next() % UInt64(64 - precision + 2)) }
            var sum = 0.0
            var zeros = 0
            for r in registers {
                sum += exp2(-Double(r))
                if r == 0 { zeros += 1 }
            }
            let mDouble = Double(m)
            let raw = 0.7213 / (1 + 1.079 / mDouble) * mDouble * mDouble / sum
            let expected = raw <= 2.5 * mDouble && zeros > 0 ? mDouble * log(mDouble / Double(zeros)) : raw
            let estimate = HyperLogLog.estimate(precision: precision, registers: StateArray(registers), base: 0)
            #expect(estimate.bitPattern == expected.bitPattern)
        }
    }
}
