import Testing
import VigilCore

@Suite("Median by selection")
struct MedianTests {
    /// Against a sort, on random values with many ties and on sorted, reversed and constant input, every length
    /// from 1 to 70: the same median, bit for bit, and every order statistic in its place.
    @Test func equalsTheMedianOfASortedCopy() {
        var rng = SplitMix64(seed: 11)
        for n in 1...70 {
            let shapes: [[Double]] = [
                (0..<n).map { _ in Double(rng.next() % 7) },
                (0..<n).map { _ in rng.uniform() * 100 - 50 },
                (0..<n).map(Double.init),
                (0..<n).reversed().map(Double.init),
                Array(repeating: 3.5, count: n),
            ]
            for values in shapes {
                let sorted = values.sorted()
                let expected = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
                var copy = values
                let median = copy.withUnsafeMutableBufferPointer { $0.medianBySelection() }
                #expect(median.bitPattern == expected.bitPattern, "n \(n): \(median) vs \(expected)")
                #expect(copy.sorted() == sorted, "a permutation of the input")
                for k in [0, n / 3, n - 1] {
                    var scratch = values
                    let value = scratch.withUnsafeMutableBufferPointer { $0.selectOrderStatistic(k) }
                    #expect(value == sorted[k])
                    #expect(scratch[..<k].allSatisfy { $0 <= value } && scratch[(k + 1)...].allSatisfy { $0 >= value })
                }
            }
        }
    }

    @Test func anEmptyBufferHasNoMedian() {
        var empty: [Double] = []
        #expect(empty.withUnsafeMutableBufferPointer { $0.medianBySelection() }.isNaN)
    }
}
