import Testing
import VigilCore
import VigilModels

/// The sketch as it was before its upper levels were kept sorted: every level sorted when it compacts, items
/// moved up appended as runs. The same coin and capacities, so the two must hold the same items.
private struct SortingEveryLevelSketch {
    let k: Int
    var levels: [[Double]] = [[]]
    var count = 0
    var rng: UInt64

    init(k: Int, seed: UInt64 = 0x5eed) {
        self.k = max(8, k)
        rng = seed | 1
    }

    func capacity(level: Int) -> Int {
        var c = Double(k)
        for _ in 0..<(levels.count - 1 - level) { c *= 2.0 / 3.0 }
        return max(8, Int(c.rounded(.up)))
    }

    mutating func add(_ value: Double) {
        levels[0].append(value)
        count += 1
        guard levels[0].count >= capacity(level: 0) else { return }
        var level = 0
        while level < levels.count {
            if levels[level].count >= capacity(level: level) {
                if level + 1 == levels.count { levels.append([]) }
                levels[level].sort()
                rng ^= rng << 13
                rng ^= rng >> 7
                rng ^= rng << 17
                var i = rng & 1 == 1 ? 1 : 0
                let even = levels[level].count - levels[level].count % 2
                while i < even {
                    levels[level + 1].append(levels[level][i])
                    i += 2
                }
                levels[level] = levels[level].count % 2 == 1 ? [levels[level].last!] : []
            }
            level += 1
        }
    }

    /// Every item with its weight, in level order.
    var weighted: [(value: Double, weight: Double)] {
        var all: [(value: Double, weight: Double)] = []
        var weight = 1.0
        for level in levels {
            for item in level { all.append((item, weight)) }
            weight *= 2
        }
        return all
    }

    /// The sketch's state in `KLLSketch`'s format, its upper levels as unsorted runs.
    var bytes: [UInt8] {
        var w = BinaryWriter()
        w.write(k); w.write(count); w.write(rng)
        w.write(levels.count)
        for level in levels { w.write(level) }
        return w.bytes
    }
}

private func items(of sketch: KLLSketch) -> [(value: Double, weight: Double)] {
    var all: [(value: Double, weight: Double)] = []
    sketch.forEachWeighted { all.append(($0, $1)) }
    return all
}

private func sameItems(_ a: [(value: Double, weight: Double)], _ b: [(value: Double, weight: Double)]) -> Bool {
    let order: ((value: Double, weight: Double), (value: Double, weight: Double)) -> Bool = {
        $0.value < $1.value || ($0.value == $1.value && $0.weight < $1.weight)
    }
    let x = a.sorted(by: order)
    let y = b.sorted(by: order)
    return x.count == y.count && zip(x, y).allSatisfy { $0.value.bitPattern == $1.value.bitPattern && $0.weight == $1.weight }
}

/// Streams with few ties, many ties and mostly one value.
private func stream(_ kind: Int, _ n: Int, seed: UInt64) -> [Double] {
    var generator = SplitMix64(seed: seed)
    return (0..<n).map { _ in
        switch kind {
        case 0: Double.random(in: 0..<1, using: &generator)
        case 1: Double(generator.next() % 7)
        default: generator.next() % 10 == 0 ? Double.random(in: 0..<100, using: &generator) : 0.5
        }
    }
}

@Suite("KLL sketch")
struct KLLSketchTests {
    /// Keeping the upper levels sorted and merging into them holds, after every compaction, exactly the items (and
    /// weights) that sorting each level at its compaction held; ranks and quantiles read the same.
    @Test(arguments: [(8, 0), (16, 1), (200, 0), (200, 1), (200, 2), (50, 2)])
    func mergingHoldsWhatSortingEachLevelHeld(k: Int, kind: Int) {
        var sketch = KLLSketch(k: k)
        var reference = SortingEveryLevelSketch(k: k)
        let values = stream(kind, 60_000, seed: UInt64(k * 10 + kind))
        for (i, value) in values.enumerated() {
            sketch.add(value)
            reference.add(value)
            if i % 997 == 0 || i == values.count - 1 {
                #expect(sameItems(items(of: sketch), reference.weighted), "after \(i + 1) values")
            }
        }
        let referenceItems = reference.weighted
        let total = referenceItems.reduce(0) { $0 + $1.weight }
        for probe in stream(kind, 50, seed: 99) {
            let below = referenceItems.filter { $0.value <= probe }.reduce(0) { $0 + $1.weight }
            #expect(sketch.rank(probe) == below / total)
        }
    }

    /// The sorted view merges the levels into what sorting every item by value (ties by level) gives.
    @Test(arguments: [(8, 0), (200, 1), (200, 2), (30, 0)])
    func sortedWeightedIsEveryItemInValueOrder(k: Int, kind: Int) {
        var sketch = KLLSketch(k: k)
        var values: [Double] = [], weights: [Double] = [], scratchValues: [Double] = [], scratchWeights: [Double] = []
        for (i, value) in stream(kind, 20_000, seed: UInt64(k + kind)).enumerated() {
            sketch.add(value)
            guard i % 1_331 == 0 else { continue }
            sketch.sortedWeighted(values: &values, weights: &weights, scratchValues: &scratchValues, scratchWeights: &scratchWeights)
            // Level order is weight order; the items of one level and value are interchangeable.
            let expected = items(of: sketch).enumerated().sorted {
                $0.element.value < $1.element.value || ($0.element.value == $1.element.value && $0.offset < $1.offset)
            }.map(\.element)
            #expect(values.map(\.bitPattern) == expected.map(\.value.bitPattern))
            #expect(weights == expected.map(\.weight))
        }
    }

    /// A compaction stops at the first level it leaves alone, which holds for any sketch `add` built; a restored
    /// state whose levels are over their capacities (written by hand, or by another implementation) has them
    /// compacted at the next compaction, as a pass over every level does.
    @Test func aRestoredSketchWithFullLevelsCompactsThemAll() throws {
        var reference = SortingEveryLevelSketch(k: 40)
        let values = stream(0, 5_000, seed: 11)
        // Capacities 12, 18, 27 and 40 from the bottom: level 2 is over its own, and the compaction of level 0 into
        // level 1 does not fill level 1, so only a pass over every level reaches it.
        reference.levels = [Array(values[0..<10]), Array(values[10..<12]).sorted(), Array(values[12..<52]).sorted(), Array(values[52..<57]).sorted()]
        reference.count = 10 + 2 * 2 + 4 * 40 + 8 * 5
        var r = BinaryReader(reference.bytes)
        var sketch = try KLLSketch(from: &r)
        for (i, value) in values[57...].enumerated() {
            sketch.add(value)
            reference.add(value)
            if i % 97 == 0 { #expect(sameItems(items(of: sketch), reference.weighted), "after \(i + 1) values") }
        }
        #expect(sameItems(items(of: sketch), reference.weighted))
    }

    /// A sketch saved with its upper levels as unsorted runs (before they were kept sorted) is restored sorted and
    /// goes on exactly as the old implementation would.
    @Test func aSketchSavedWithUnsortedLevelsRestoresAndContinues() throws {
        var reference = SortingEveryLevelSketch(k: 40)
        let values = stream(0, 30_000, seed: 5)
        for value in values[..<10_000] { reference.add(value) }
        #expect(reference.levels.dropFirst().contains { $0 != $0.sorted() }, "the saved sketch has an unsorted level")
        var r = BinaryReader(reference.bytes)
        var sketch = try KLLSketch(from: &r)
        #expect(r.isAtEnd)
        #expect(sameItems(items(of: sketch), reference.weighted))
        for value in values[10_000...] {
            sketch.add(value)
            reference.add(value)
        }
        #expect(sameItems(items(of: sketch), reference.weighted))
        #expect(sketch.count == reference.count)
    }
}
