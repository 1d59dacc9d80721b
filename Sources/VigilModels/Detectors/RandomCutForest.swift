import Foundation
public import VigilCore

/// A streaming robust random cut forest (Guha et al., ICML 2016) scoring by collusive displacement (CoDisp).
///
/// Each tree keeps a sample of at most `sampleSize` points, chosen by reservoir sampling or by time decay
/// (each point gets the priority `λ t + Gumbel noise`, the top `sampleSize` priorities are kept, so recent points
/// are favoured with rate λ, as in Amazon's implementation). A point is scored before it may join the samples:
/// in each tree, the place an insertion would put it is found and its CoDisp read from the path there, the tree
/// unchanged. The score is the trees' mean CoDisp.
///
/// With `shingleSize > 1` the forest scores the concatenation of the last `shingleSize` input vectors, so a
/// break in a sequence's shape stands out, not just an odd value.
///
/// Attribution, as in Amazon's RCF, splits the score over input dimensions and directions: in each tree, along
/// the path from the point's leaf up to the node where its displacement peaks, every level credits each
/// dimension with how far the point lies outside the sibling subtree's box (above it: "high"; below: "low"),
/// relative to the grown box's total span; each tree's credits are scaled to sum to its CoDisp and averaged.
/// The high and low parts over all dimensions add up to the score.
public struct RandomCutForest: Sendable, Equatable {
    public enum Sampling: Sendable, Equatable {
        case reservoir
        /// Time decay with rate λ per event (Amazon's default: 1 / (10 x sampleSize)).
        case timeDecay(lambda: Double)
    }

    public let inputDimensions: Int
    public let shingleSize: Int
    public let sampleSize: Int
    public let sampling: Sampling
    /// Scores are reported once every tree's sample holds this many points (Amazon's "output after").
    public let outputAfter: Int
    private var trees: [RandomCutTree]
    /// Sampled points: per tree, `sampleSize` slots of `dimensions` values.
    private var points: [Double]
    private var used: [Int]
    /// Whether each tree slot holds a point (which must leave the tree when the slot is reused).
    private var occupied: [Bool]
    /// Time-decay priorities per tree slot (a min-heap of slot indices by priority).
    private var priorities: [Double]
    private var heaps: [[Int32]]
    private var seen = 0
    private var shingle: [Double]
    private var shingleFilled = 0
    private var rng: SplitMix64

    public var dimensions: Int { inputDimensions * shingleSize }

    public init(dimensions: Int, trees: Int = 50, sampleSize: Int = 256, shingleSize: Int = 1, sampling: Sampling? = nil, outputAfter: Int? = nil, seed: UInt64 = 42) {
        precondition(dimensions > 0 && trees > 0 && sampleSize > 1 && shingleSize > 0)
        inputDimensions = dimensions
        self.shingleSize = shingleSize
        self.sampleSize = sampleSize
        self.sampling = sampling ?? .timeDecay(lambda: 1 / (10 * Double(sampleSize)))
        self.outputAfter = outputAfter ?? max(1, sampleSize / 4)
        let d = dimensions * shingleSize
        self.trees = (0..<trees).map { _ in RandomCutTree(dimensions: d, capacity: sampleSize) }
        points = Array(repeating: 0, count: trees * sampleSize * d)
        used = Array(repeating: 0, count: trees)
        occupied = Array(repeating: false, count: trees * sampleSize)
        priorities = Array(repeating: 0, count: trees * sampleSize)
        heaps = Array(repeating: [], count: trees)
        shingle = Array(repeating: 0, count: d)
        rng = SplitMix64(seed: seed)
    }

    public var isWarm: Bool { used.min() ?? 0 >= outputAfter }

    /// Scores `x` (one input vector), then lets each tree's sampler decide whether to keep it.
    ///
    /// - Parameters:
    ///   - high, low: receive, per input dimension (summed over shingle positions), the attribution.
    /// - Returns: the mean CoDisp, or NaN while the shingle is filling or before `outputAfter`.
    public mutating func scoreAndLearn(_ x: UnsafeBufferPointer<Double>, high: UnsafeMutableBufferPointer<Double>?, low: UnsafeMutableBufferPointer<Double>?) -> Double {
        let d = dimensions
        // Shift the shingle and append x.
        if shingleSize > 1 {
            for i in 0..<(d - inputDimensions) { shingle[i] = shingle[i + inputDimensions] }
        }
        for i in 0..<inputDimensions { shingle[d - inputDimensions + i] = x[i] }
        shingleFilled = min(shingleSize, shingleFilled + 1)
        if let high, let low { for i in 0..<inputDimensions { high[i] = 0; low[i] = 0 } }
        guard shingleFilled == shingleSize else { return .nan }
        seen += 1
        let warm = isWarm
        var total = 0.0
        shingle.withUnsafeBufferPointer { point in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * d) { scratch in
                let treeHigh = UnsafeMutableBufferPointer(rebasing: scratch[0..<d])
                let treeLow = UnsafeMutableBufferPointer(rebasing: scratch[d..<(2 * d)])
                for t in trees.indices {
                    // Where x would go in this tree, and what it would score there, without inserting it: the same
                    // cuts an insertion draws, so the sampler's draws that follow are those an insert-score-delete
                    // left.
                    var rng = self.rng
                    let placement = trees[t].place(point) { rng.uniform() }
                    self.rng = rng
                    if warm {
                        let (score, peak) = trees[t].coDisplacement(of: placement)
                        total += score
                        if let high, let low {
                            trees[t].separationWeights(of: placement, x: point, until: peak, high: treeHigh, low: treeLow)
                            var weight = 0.0
                            for i in 0..<d { weight += treeHigh[i] + treeLow[i] }
                            if weight > 0 {
                                let scale = score / weight
                                for i in 0..<d {
                                    high[i % inputDimensions] += treeHigh[i] * scale
                                    low[i % inputDimensions] += treeLow[i] * scale
                                }
                            }
                        }
                    }
                    sample(tree: t, point: point)
                }
            }
        }
        guard warm else { return .nan }
        let n = Double(trees.count)
        if let high, let low { for i in 0..<inputDimensions { high[i] /= n; low[i] /= n } }
        return total / n
    }

    /// The sampler's decision for tree `t`: keep `point` (evicting another when full) or not.
    private mutating func sample(tree t: Int, point: UnsafeBufferPointer<Double>) {
        let d = dimensions
        var slot: Int?
        switch sampling {
        case .reservoir:
            if used[t] < sampleSize {
                slot = used[t]
                used[t] += 1
            } else if Int(rng.next() % UInt64(seen)) < sampleSize {
                slot = Int(rng.next() % UInt64(sampleSize))
            }
        case .timeDecay(let lambda):
            let u = max(rng.uniform(), 1e-300)
            let priority = lambda * Double(seen) - log(-log(u))
            if used[t] < sampleSize {
                slot = used[t]
                used[t] += 1
                priorities[t * sampleSize + slot!] = priority
                heapPush(t, Int32(slot!))
            } else if let smallest = heaps[t].first, priority > priorities[t * sampleSize + Int(smallest)] {
                slot = Int(smallest)
                priorities[t * sampleSize + slot!] = priority
                heapSiftDown(t, 0)
            }
        }
        guard let slot else { return }
        let base = (t * sampleSize + slot) * d
        if occupied[t * sampleSize + slot] {
            // The slot's previous point leaves the sample.
            points.withUnsafeBufferPointer { all in
                _ = trees[t].delete(UnsafeBufferPointer(rebasing: all[base..<(base + d)]))
            }
        }
        occupied[t * sampleSize + slot] = true
        for i in 0..<d { points[base + i] = point[i] }
        var rng = self.rng
        _ = points.withUnsafeBufferPointer { all in
            trees[t].insert(UnsafeBufferPointer(rebasing: all[base..<(base + d)])) { rng.uniform() }
        }
        self.rng = rng
    }

    private mutating func heapPush(_ t: Int, _ slot: Int32) {
        heaps[t].append(slot)
        var i = heaps[t].count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard priorities[t * sampleSize + Int(heaps[t][i])] < priorities[t * sampleSize + Int(heaps[t][p])] else { break }
            heaps[t].swapAt(i, p)
            i = p
        }
    }

    private mutating func heapSiftDown(_ t: Int, _ start: Int) {
        var i = start
        let n = heaps[t].count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < n, priorities[t * sampleSize + Int(heaps[t][l])] < priorities[t * sampleSize + Int(heaps[t][smallest])] { smallest = l }
            if r < n, priorities[t * sampleSize + Int(heaps[t][r])] < priorities[t * sampleSize + Int(heaps[t][smallest])] { smallest = r }
            if smallest == i { return }
            heaps[t].swapAt(i, smallest)
            i = smallest
        }
    }

    /// Tree invariants hold and every tree holds exactly its sampled points; for tests.
    public func isConsistent() -> Bool {
        trees.indices.allSatisfy { trees[$0].isConsistent() && trees[$0].totalMass == used[$0] }
    }

    /// Points each tree's sample holds.
    public var sampleCounts: [Int] { used }
}

extension RandomCutForest: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(inputDimensions); w.write(shingleSize); w.write(sampleSize); w.write(outputAfter)
        switch sampling {
        case .reservoir: w.write(UInt8(0)); w.write(0.0)
        case .timeDecay(let lambda): w.write(UInt8(1)); w.write(lambda)
        }
        w.write(trees.count)
        for tree in trees { tree.write(to: &w) }
        w.write(points); w.write(used); w.write(occupied); w.write(priorities)
        for heap in heaps { w.write(heap) }
        w.write(seen); w.write(shingle); w.write(shingleFilled)
        rng.write(to: &w)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        inputDimensions = try r.readInt(); shingleSize = try r.readInt(); sampleSize = try r.readInt(); outputAfter = try r.readInt()
        let kind = try r.readUInt8()
        let lambda = try r.readDouble()
        sampling = kind == 0 ? .reservoir : .timeDecay(lambda: lambda)
        let count = try r.readInt()
        guard inputDimensions > 0, shingleSize > 0, sampleSize > 1, (1...10_000).contains(count) else { throw StateError("random cut forest: bad shape") }
        trees = []
        for _ in 0..<count { trees.append(try RandomCutTree(from: &r)) }
        points = try r.readDoubles(); used = try r.readInts(); occupied = try r.readBools(); priorities = try r.readDoubles()
        heaps = []
        for _ in 0..<count { heaps.append(try r.readInt32s()) }
        seen = try r.readInt(); shingle = try r.readDoubles(); shingleFilled = try r.readInt()
        rng = try SplitMix64(from: &r)
        let d = inputDimensions * shingleSize
        guard points.count == count * sampleSize * d, used.count == count, occupied.count == count * sampleSize,
            priorities.count == count * sampleSize, shingle.count == d
        else { throw StateError("random cut forest: inconsistent arrays") }
    }
}
