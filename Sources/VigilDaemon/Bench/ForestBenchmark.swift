import Foundation
import VigilCore
import VigilModels

/// The random cut forest alone, as Amazon's own JMH benchmark runs theirs (RandomCutForestBenchmark's
/// `scoreAndUpdate`): a fresh forest per run, 10 dimensions, 50,000 points of a normal mixture, each point
/// scored and then offered to the samplers. Reported in points per second.
public struct ForestBenchmark: Sendable {
    public let dimensions: Int
    public let sampleSize: Int
    public let points: [Double]

    /// - Parameter count: points per run.
    public init(dimensions: Int = 10, sampleSize: Int = 256, count: Int = 50_000, seed: UInt64 = 11) {
        self.dimensions = dimensions
        self.sampleSize = sampleSize
        points = Self.normalMixture(count: count, dimensions: dimensions, seed: seed)
    }

    /// Two unit-variance Gaussian clusters five apart on every axis, and one point in a hundred drawn uniformly
    /// from a wide box: what a detector spends its time on in practice (mostly normal points, a few outliers).
    public static func normalMixture(count: Int, dimensions: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        func gaussian() -> Double {
            // Box-Muller; 1 - u keeps the logarithm finite.
            let u = 1 - rng.uniform(), v = rng.uniform()
            return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
        }
        var result = [Double]()
        result.reserveCapacity(count * dimensions)
        for _ in 0..<count {
            let outlier = rng.uniform() < 0.01
            let centre = rng.uniform() < 0.5 ? 0.0 : 5.0
            for _ in 0..<dimensions {
                result.append(outlier ? rng.uniform() * 30 - 10 : centre + gaussian())
            }
        }
        return result
    }

    /// One run with a fresh forest of `trees` trees.
    public func run(trees: Int) -> CoreBenchmark.Row {
        var forest = RandomCutForest(dimensions: dimensions, trees: trees, sampleSize: sampleSize, seed: 99)
        let count = points.count / dimensions
        var checksum = 0.0
        let start = ContinuousClock.now
        points.withUnsafeBufferPointer { all in
            for i in 0..<count {
                let score = forest.scoreAndLearn(UnsafeBufferPointer(rebasing: all[(i * dimensions)..<((i + 1) * dimensions)]), high: nil, low: nil)
                if !score.isNaN { checksum += score }
            }
        }
        let d = ContinuousClock.now - start
        precondition(checksum > 0)
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return CoreBenchmark.Row(name: "random cut forest, \(trees) trees, sample \(sampleSize), \(dimensions) dimensions", events: count, seconds: seconds)
    }
}
