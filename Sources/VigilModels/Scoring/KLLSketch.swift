public import VigilCore

/// A KLL streaming quantile sketch (Karnin, Lang & Liberty, FOCS 2016).
///
/// Items enter level 0; a level holding more than its capacity is sorted and compacted: every other item
/// (odd or even positions, by a coin flip) moves up one level with twice the weight. Capacities shrink by 2/3
/// per level below the top, so memory is O(k log(n/k)) and the rank error is about 1.65 / k with high
/// probability. The coin is a seeded generator, so results are reproducible.
///
/// Levels above 0 are kept sorted: the items a compaction moves up are in order already and are merged into
/// the next level, so only level 0 (unordered arrivals) is ever sorted, and a sorted view of all items is a
/// merge of the levels (`sortedWeighted`).
public struct KLLSketch: Sendable {
    public let k: Int
    private var levels: [[Double]] = [[]]
    public private(set) var count: Int = 0
    private var rng: UInt64
    /// A level's capacity by its depth below the top (`k (2/3)^depth` rounded up, at least 8), worked out once:
    /// every added value asks for level 0's, which was a loop over the levels.
    private let capacityByDepth: [Int]
    /// Whether a level may hold its capacity or more between compactions: only in a sketch restored from state
    /// written elsewhere. A sketch built by `add` has every level under its capacity between compactions (items only
    /// move up, each level is looked at after the one below it; a level is added on top only by a cascade that
    /// compacted every level below, which then hold at most one item each, so their shrunk capacities hold too), and
    /// a compaction stops at the first level it leaves alone: nothing above it changed.
    private var levelsMayBeFull = false

    public init(k: Int = 200, seed: UInt64 = 0x5eed) {
        self.k = max(8, k)
        self.rng = seed | 1
        capacityByDepth = Self.capacities(k: self.k)
        levels[0].reserveCapacity(self.k)
    }

    /// Capacities for depths 0 to 63 (the most levels a sketch may have).
    private static func capacities(k: Int) -> [Int] {
        var c = Double(k)
        var capacities: [Int] = []
        for _ in 0..<64 {
            capacities.append(max(8, Int(c.rounded(.up))))
            c *= 2.0 / 3.0
        }
        return capacities
    }

    private func capacity(level: Int) -> Int {
        capacityByDepth[levels.count - 1 - level]
    }

    public mutating func add(_ value: Double) {
        guard !value.isNaN else { return }
        levels[0].append(value)
        count += 1
        if levels[0].count >= capacity(level: 0) { compact() }
    }

    private mutating func coin() -> Bool {
        rng ^= rng << 13
        rng ^= rng >> 7
        rng ^= rng << 17
        return rng & 1 == 1
    }

    private mutating func compact() {
        // A pass over the levels from the bottom: a full level is compacted into the one above, which is looked at
        // next; the first pass after a restore looks at every level.
        let wholePass = levelsMayBeFull
        levelsMayBeFull = false
        var level = 0
        while level < levels.count {
            guard levels[level].count >= capacity(level: level) else {
                if wholePass { level += 1; continue }
                return
            }
            if level + 1 == levels.count {
                levels.append([])
                levels[level + 1].reserveCapacity(k)
            }
            let offset = coin() ? 1 : 0
            // Both levels are reached through the outer buffer, without moving either out of `levels` and back.
            levels.withUnsafeMutableBufferPointer { levels in
                if level == 0 { levels[0].sortWithoutAllocating(by: <) }
                let n = levels[level].count
                // Every other item of an even count (the last of an odd count stays behind: the largest).
                let promoted = (n - n % 2) / 2
                levels[level].withUnsafeBufferPointer { Self.merge($0, first: offset, stride: 2, count: promoted, into: &levels[level + 1]) }
                if n % 2 == 1 { levels[level][0] = levels[level][n - 1] }
                levels[level].removeLast(n - n % 2)
            }
            level += 1
        }
    }

    /// Merges `count` items of the sorted `items` (positions `first`, `first + stride` …, ascending) into the
    /// sorted `level`, from the back, so nothing moves twice and nothing is allocated beyond the level's growth.
    private static func merge(_ items: UnsafeBufferPointer<Double>, first: Int, stride: Int, count: Int, into level: inout [Double]) {
        guard count > 0 else { return }
        let old = level.count
        level.append(contentsOf: repeatElement(0, count: count))
        level.withUnsafeMutableBufferPointer { out in
            var i = old - 1
            var j = count - 1
            var place = old + count - 1
            while j >= 0 {
                let incoming = items[first + j * stride]
                if i >= 0, out[i] > incoming {
                    out[place] = out[i]
                    i -= 1
                } else {
                    out[place] = incoming
                    j -= 1
                }
                place -= 1
            }
        }
    }

    /// The fraction of added values at or below `value` (estimated).
    public func rank(_ value: Double) -> Double {
        guard count > 0 else { return 0 }
        var weight = 1.0
        var below = 0.0
        var total = 0.0
        for level in levels {
            for item in level {
                if item <= value { below += weight }
                total += weight
            }
            weight *= 2
        }
        return below / total
    }

    /// The value at quantile `q` in [0, 1] (estimated); NaN when empty.
    public func quantile(_ q: Double) -> Double {
        var values: [Double] = [], weights: [Double] = [], scratchValues: [Double] = [], scratchWeights: [Double] = []
        sortedWeighted(values: &values, weights: &weights, scratchValues: &scratchValues, scratchWeights: &scratchWeights)
        guard !values.isEmpty else { return .nan }
        let target = q * weights.reduce(0, +)
        var cumulative = 0.0
        for (value, weight) in zip(values, weights) {
            cumulative += weight
            if cumulative >= target { return value }
        }
        return values[values.count - 1]
    }

    /// Calls `body` with every retained item and its weight.
    public func forEachWeighted(_ body: (Double, Double) -> Void) {
        var weight = 1.0
        for level in levels {
            for item in level { body(item, weight) }
            weight *= 2
        }
    }

    /// Items retained (memory is about 8 bytes each).
    public var retained: Int { levels.reduce(0) { $0 + $1.count } }

    /// Every retained item in ascending order into `values`, its weight at the same place in `weights` (items of
    /// equal value in level order, lower levels first), replacing their contents: level 0 sorted, then each
    /// higher level merged in. `scratchValues` and `scratchWeights` are working room; with arrays kept between
    /// calls nothing is allocated once they have grown to the sketch's size.
    public func sortedWeighted(values: inout [Double], weights: inout [Double], scratchValues: inout [Double], scratchWeights: inout [Double]) {
        values.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        values.append(contentsOf: levels[0])
        values.sortWithoutAllocating(by: <)
        weights.append(contentsOf: repeatElement(1, count: values.count))
        var weight = 2.0
        for level in levels.dropFirst() {
            scratchValues.removeAll(keepingCapacity: true)
            scratchWeights.removeAll(keepingCapacity: true)
            var i = 0
            var j = 0
            while i < values.count || j < level.count {
                // Ties go to the lower levels first.
                if j == level.count || (i < values.count && !(level[j] < values[i])) {
                    scratchValues.append(values[i])
                    scratchWeights.append(weights[i])
                    i += 1
                } else {
                    scratchValues.append(level[j])
                    scratchWeights.append(weight)
                    j += 1
                }
            }
            swap(&values, &scratchValues)
            swap(&weights, &scratchWeights)
            weight *= 2
        }
    }
}

extension KLLSketch: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(k); w.write(count); w.write(rng)
        w.write(levels.count)
        for level in levels { w.write(level) }
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        k = try r.readInt(); count = try r.readInt(); rng = try r.readUInt64()
        let n = try r.readInt()
        guard k >= 8, (1...64).contains(n) else { throw StateError("KLL sketch: bad shape") }
        capacityByDepth = Self.capacities(k: k)
        levelsMayBeFull = true
        levels = []
        for _ in 0..<n { levels.append(try r.readDoubles()) }
        // Sketches written before the levels above 0 were kept sorted hold them as runs; the items are the same.
        for level in levels.indices.dropFirst() { levels[level].sortWithoutAllocating(by: <) }
    }
}
