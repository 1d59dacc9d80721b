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

    /// The sum of 2^-r taken as an integer (registers up to 45) equals the doubles added one by one, bit for bit,
    /// for registers as keys fill them (small values), at the bound (45) and just past it (46: the additions).
    @Test(arguments: [3, 10, 20, 45, 46, 58])
    func theHarmonicSumEqualsTheAdditionsInOrder(largest: Int) {
        var rng = SplitMix64(seed: UInt64(largest))
        for round in 0..<300 {
            var registers = (0..<128).map { _ in UInt8(rng.next() % UInt64(largest + 1)) }
            if round % 3 == 0 { registers[Int(rng.next() % 128)] = UInt8(largest) }
            var expected = 0.0
            for r in registers { expected += exp2(-Double(r)) }
            let (sum, zeros) = registers.withUnsafeBufferPointer { HyperLogLog.harmonicSum($0) }
            #expect(sum.bitPattern == expected.bitPattern, "round \(round)")
            #expect(zeros == registers.filter { $0 == 0 }.count)
        }
    }
}
