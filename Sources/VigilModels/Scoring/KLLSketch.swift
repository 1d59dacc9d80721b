public import VigilCore

/// A KLL streaming quantile sketch (Karnin, Lang & Liberty, FOCS 2016).
///
/// Items enter level 0; a level holding more than its capacity is sorted and compacted: every other item
/// (odd or even positions, by a coin flip) moves up one level with twice the weight. Capacities shrink by 2/3
/// per level below the top, so memory is O(k log(n/k)) and the rank error is about 1.65 / k with high
/// probability. The coin is a seeded generator, so results are reproducible.
public struct KLLSketch: Sendable {
    public let k: Int
    private var levels: [[Double]] = [[]]
    public private(set) var count: Int = 0
    private var rng: UInt64
    /// A level's capacity by its depth below the top (`k (2/3)^depth` rounded up, at least 8), worked out once:
    /// every added value asks for level 0's, which was a loop over the levels.
    private let capacityByDepth: [Int]

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
        var level = 0
        while level < levels.count {
            if levels[level].count >= capacity(level: level) {
                if level + 1 == levels.count {
                    levels.append([])
                    levels[level + 1].reserveCapacity(k)
                }
                levels[level].sortWithoutAllocating(by: <)
                let offset = coin() ? 1 : 0
                var i = offset
                while i < levels[level].count - (levels[level].count % 2 == 1 ? 1 : 0) {
                    levels[level + 1].append(levels[level][i])
                    i += 2
                }
                // An odd item stays behind at this level.
                if levels[level].count % 2 == 1 {
                    let last = levels[level][levels[level].count - 1]
                    levels[level].removeAll(keepingCapacity: true)
                    levels[level].append(last)
                } else {
                    levels[level].removeAll(keepingCapacity: true)
                }
            }
            level += 1
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
        var weighted: [(value: Double, weight: Double)] = []
        var weight = 1.0
        var total = 0.0
        for level in levels {
            for item in level {
                weighted.append((item, weight))
                total += weight
            }
            weight *= 2
        }
        guard !weighted.isEmpty else { return .nan }
        weighted.sort { $0.value < $1.value }
        let target = q * total
        var cumulative = 0.0
        for entry in weighted {
            cumulative += entry.weight
            if cumulative >= target { return entry.value }
        }
        return weighted[weighted.count - 1].value
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
        levels = []
        for _ in 0..<n { levels.append(try r.readDoubles()) }
    }
}
