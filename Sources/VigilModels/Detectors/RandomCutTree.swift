import VigilCore

/// One robust random cut tree (Guha, Mishra, Roy & Schrijvers, ICML 2016) over the points its sampler keeps.
///
/// Nodes live in flat arrays with a free list; each node keeps its bounding box and mass, so inserting and
/// deleting a point touch only the path from the root to its leaf. Equal points share a leaf (mass > 1). A node's
/// links, cut and mass are one record and its box one run of numbers: a walk's step reads about three cache lines,
/// where eight arrays of one field each took seven or eight.
struct RandomCutTree: Sendable, Equatable {
    let dimensions: Int
    private(set) var root: Int32 = -1
    /// A node's links, cut and mass in one record, so that a step down reads one line for them.
    struct Node: Sendable, Equatable {
        var parent: Int32 = -1
        var left: Int32 = -1
        var right: Int32 = -1
        var cutDimension: Int32 = -1
        var mass: Int32 = 0
        var cutValue: Double = 0
    }

    private var nodes: [Node] = []
    /// Each node's bounding box, dimension by dimension the low and the high side next to each other: a step reads
    /// its node's box from one run of `2 x dimensions` numbers.
    private var boxes: [Double] = []
    private var freeNodes: [Int32] = []

    init(dimensions: Int, capacity: Int) {
        self.dimensions = dimensions
        let nodes = 2 * capacity + 2
        self.nodes.reserveCapacity(nodes)
        boxes.reserveCapacity(2 * nodes * dimensions)
    }

    var isEmpty: Bool { root < 0 }
    var totalMass: Int { root < 0 ? 0 : Int(nodes[Int(root)].mass) }

    private func isLeaf(_ n: Int) -> Bool { nodes[n].left < 0 }

    /// The low and the high side of node `n`'s box in dimension `i`.
    @inline(__always) private func low(_ n: Int, _ i: Int) -> Double { boxes[2 * (n * dimensions + i)] }
    @inline(__always) private func high(_ n: Int, _ i: Int) -> Double { boxes[2 * (n * dimensions + i) + 1] }

    /// The other child of `p`, whose child `n` is.
    @inline(__always) private func sibling(of n: Int, under p: Int) -> Int {
        nodes[p].left == Int32(n) ? Int(nodes[p].right) : Int(nodes[p].left)
    }

    private mutating func newNode() -> Int {
        if let reused = freeNodes.popLast() {
            let n = Int(reused)
            nodes[n] = Node()
            return n
        }
        nodes.append(Node())
        boxes.append(contentsOf: repeatElement(0, count: 2 * dimensions))
        return nodes.count - 1
    }

    private mutating func setBox(_ n: Int, point x: UnsafeBufferPointer<Double>) {
        for i in 0..<dimensions {
            boxes[2 * (n * dimensions + i)] = x[i]
            boxes[2 * (n * dimensions + i) + 1] = x[i]
        }
    }

    /// Sets inner node `n`'s box to the union of its children's; returns whether it changed, bit for bit.
    ///
    /// Every inner node's box is that union at all times, so a walk up the tree after a change below can stop
    /// recomputing at the first box that stays as it was: no box above it can change either.
    @discardableResult
    private mutating func recomputeBox(_ n: Int) -> Bool {
        let l = Int(nodes[n].left), r = Int(nodes[n].right)
        let run = 2 * dimensions
        return boxes.withUnsafeMutableBufferPointer { boxes in
            let (box, left, right) = (boxes.baseAddress! + n * run, boxes.baseAddress! + l * run, boxes.baseAddress! + r * run)
            var difference: UInt64 = 0
            for i in stride(from: 0, to: run, by: 2) {
                let (low, high) = (Swift.min(left[i], right[i]), Swift.max(left[i + 1], right[i + 1]))
                difference |= (low.bitPattern ^ box[i].bitPattern) | (high.bitPattern ^ box[i + 1].bitPattern)
                box[i] = low
                box[i + 1] = high
            }
            return difference != 0
        }
    }

    /// Adds `change` to the mass of `n` and of every ancestor, whose boxes stay as they are (a copy of a point
    /// already in the tree came or went).
    private mutating func changeMassesOnly(from n: Int, by change: Int32) {
        var n = n
        while n >= 0 {
            nodes[n].mass += change
            n = Int(nodes[n].parent)
        }
    }

    /// Adds `change` to the mass of `n` and of every ancestor, recomputing their boxes while they change.
    private mutating func changeMasses(from n: Int, by change: Int32) {
        var n = n
        var boxesChange = true
        while n >= 0 {
            nodes[n].mass += change
            if boxesChange { boxesChange = recomputeBox(n) }
            n = Int(nodes[n].parent)
        }
    }

    private func leafEquals(_ n: Int, _ x: UnsafeBufferPointer<Double>) -> Bool {
        for i in 0..<dimensions where low(n, i) != x[i] { return false }
        return true
    }

    /// Where inserting `x` puts it (`place(_:uniform:)`).
    enum Placement {
        /// The tree is empty: x becomes the root.
        case root
        /// x equals the point of this leaf, which would count it once more.
        case repeatOf(leaf: Int)
        /// A new node above `node` would cut x off at (dimension, value), x's new leaf its other child.
        case above(node: Int, dimension: Int, value: Double)
    }

    /// The walk an insertion of `x` takes, from the root down to where x goes: at each node a random cut over the
    /// node's box grown by x (`uniform` draws from [0, 1)), until a cut separates x from the node's points. Changes
    /// nothing, so scoring a point (`coDisplacement(of:)`) and inserting it draw the same cuts.
    func place(_ x: UnsafeBufferPointer<Double>, uniform: () -> Double) -> Placement {
        guard root >= 0 else { return .root }
        let (dimensions, run, point, x) = (dimensions, 2 * dimensions, x, x.baseAddress!)
        // Through buffer pointers: the walk is most of the forest's time, and the arrays' checked reads were about
        // a third of its instructions.
        return nodes.withUnsafeBufferPointer { nodes in
            boxes.withUnsafeBufferPointer { boxes in
                var node = Int(root)
                while true {
                    // The node's box, low and high side by side per dimension.
                    let box = boxes.baseAddress! + node * run
                    // The child x goes to if no cut here separates it, its box and record fetched while this
                    // node's cut is drawn: the walk otherwise waits on each box's load.
                    let record = nodes[node]
                    let isLeaf = record.left < 0
                    let next = isLeaf ? node : x[Int(record.cutDimension)] <= record.cutValue ? Int(record.left) : Int(record.right)
                    if !isLeaf {
                        prefetchRegion(boxes.baseAddress! + next * run, bytes: run * MemoryLayout<Double>.stride)
                        prefetchCacheLine(nodes.baseAddress! + next)
                    }
                    // The bounding box grown by x, and a random cut over its total span.
                    var span = 0.0
                    for i in 0..<dimensions {
                        span += Swift.max(box[2 &* i &+ 1], x[i]) - Swift.min(box[2 &* i], x[i])
                    }
                    if isLeaf, leafEquals(node, point) { return .repeatOf(leaf: node) }
                    var cut = uniform() * span
                    var dimension = 0
                    var value = 0.0
                    for i in 0..<dimensions {
                        let start = Swift.min(box[2 &* i], x[i])
                        let width = Swift.max(box[2 &* i &+ 1], x[i]) - start
                        if cut < width || i == dimensions - 1 {
                            dimension = i
                            value = start + Swift.min(cut, width)
                            break
                        }
                        cut -= width
                    }
                    let boxL = box[2 &* dimension]
                    let boxH = box[2 &* dimension &+ 1]
                    let separates = (x[dimension] <= value && value < boxL) || (x[dimension] > value && value >= boxH)
                    if separates { return .above(node: node, dimension: dimension, value: value) }
                    if isLeaf {
                        // Only a rounding edge fails to separate two different points: draw the cut again.
                        continue
                    }
                    node = next
                }
            }
        }
    }

    /// Inserts `x`; returns its leaf. `uniform` draws from [0, 1).
    @discardableResult
    mutating func insert(_ x: UnsafeBufferPointer<Double>, uniform: () -> Double) -> Int {
        switch place(x, uniform: uniform) {
        case .root:
            let leaf = newNode()
            setBox(leaf, point: x)
            nodes[leaf].mass = 1
            root = Int32(leaf)
            return leaf
        case .repeatOf(let leaf):
            // x is the leaf's point: no box changes.
            changeMassesOnly(from: leaf, by: 1)
            return leaf
        case .above(let node, let dimension, let value):
            return split(node, at: dimension, value: value, x: x)
        }
    }

    /// Puts a new internal node above `node`, cutting x off at (dimension, value); returns x's new leaf.
    private mutating func split(_ node: Int, at dimension: Int, value: Double, x: UnsafeBufferPointer<Double>) -> Int {
        let leaf = newNode()
        setBox(leaf, point: x)
        nodes[leaf].mass = 1
        let inner = newNode()
        let above = nodes[node].parent
        nodes[inner].parent = above
        nodes[inner].cutDimension = Int32(dimension)
        nodes[inner].cutValue = value
        if x[dimension] <= value {
            nodes[inner].left = Int32(leaf); nodes[inner].right = Int32(node)
        } else {
            nodes[inner].left = Int32(node); nodes[inner].right = Int32(leaf)
        }
        nodes[node].parent = Int32(inner)
        nodes[leaf].parent = Int32(inner)
        nodes[inner].mass = nodes[node].mass + 1
        recomputeBox(inner)
        if above < 0 {
            root = Int32(inner)
        } else if nodes[Int(above)].left == Int32(node) {
            nodes[Int(above)].left = Int32(inner)
        } else {
            nodes[Int(above)].right = Int32(inner)
        }
        changeMasses(from: Int(above), by: 1)
        return leaf
    }

    /// The leaf holding `x`, or nil.
    func find(_ x: UnsafeBufferPointer<Double>) -> Int? {
        guard root >= 0 else { return nil }
        var n = Int(root)
        while !isLeaf(n) {
            n = x[Int(nodes[n].cutDimension)] <= nodes[n].cutValue ? Int(nodes[n].left) : Int(nodes[n].right)
        }
        return leafEquals(n, x) ? n : nil
    }

    /// Removes one copy of `x`; false when it is not in the tree.
    @discardableResult
    mutating func delete(_ x: UnsafeBufferPointer<Double>) -> Bool {
        guard let leaf = find(x) else { return false }
        if nodes[leaf].mass > 1 {
            changeMassesOnly(from: leaf, by: -1)
            return true
        }
        let above = Int(nodes[leaf].parent)
        freeNodes.append(Int32(leaf))
        guard above >= 0 else {
            root = -1
            return true
        }
        let other = sibling(of: leaf, under: above)
        let grand = nodes[above].parent
        nodes[other].parent = grand
        freeNodes.append(Int32(above))
        if grand < 0 {
            root = Int32(other)
        } else {
            if nodes[Int(grand)].left == Int32(above) { nodes[Int(grand)].left = Int32(other) } else { nodes[Int(grand)].right = Int32(other) }
            changeMasses(from: Int(grand), by: -1)
        }
        return true
    }

    /// Where a displacement ratio of x peaked, as `coDisplacement(of:)` found it: at x's own new leaf, or at a
    /// node of the tree as it is (for a new leaf, the step from the node that would be put above `node` stands for
    /// `node`'s: same parent, one more point).
    enum Peak: Equatable {
        case newLeaf
        case node(Int)
    }

    /// The collusive displacement x would have if it were inserted at `placement` (the tree is not changed): the
    /// largest, over x's leaf and its ancestors below the root, of sibling mass / own subtree mass, the subtree
    /// counting x (how many points would be displaced, per point removed, if the subtree holding x were taken
    /// out); and where it peaked.
    func coDisplacement(of placement: Placement) -> (score: Double, peak: Peak) {
        var best = 0.0
        var peak = Peak.newLeaf
        var n: Int
        switch placement {
        case .root:
            return (0, .newLeaf)
        case .repeatOf(let leaf):
            n = leaf
            peak = .node(leaf)
        case .above(let node, _, _):
            // x's leaf, of mass 1, beside `node`.
            best = Double(nodes[node].mass)
            n = node
        }
        // Up from `n`, whose subtree holds x: each step's own mass counts x once more.
        while nodes[n].parent >= 0 {
            let p = Int(nodes[n].parent)
            let ratio = Double(nodes[sibling(of: n, under: p)].mass) / Double(nodes[n].mass + 1)
            if ratio > best {
                best = ratio
                peak = .node(n)
            }
            n = p
        }
        return (best, peak)
    }

    /// Per-dimension shares of an attribution for x inserted at `placement` (the tree is not changed): along the
    /// path from x's leaf up to (and including) the step from `peak`, how far x lies outside the sibling subtree's
    /// box in each dimension, normalised by that box's span plus the gap. Returns the raw weights in `into` (high
    /// and low directions), summed over the path.
    func separationWeights(
        of placement: Placement, x: UnsafeBufferPointer<Double>, until peak: Peak, high: UnsafeMutableBufferPointer<Double>,
        low: UnsafeMutableBufferPointer<Double>
    ) {
        for i in 0..<dimensions { high[i] = 0; low[i] = 0 }
        func credit(sibling: Int) {
            var total = 0.0
            for i in 0..<dimensions {
                let l = self.low(sibling, i), h = self.high(sibling, i)
                total += Swift.max(h, x[i]) - Swift.min(l, x[i])
            }
            guard total > 0 else { return }
            for i in 0..<dimensions {
                let l = self.low(sibling, i), h = self.high(sibling, i)
                if x[i] > h { high[i] += (x[i] - h) / total }
                if x[i] < l { low[i] += (l - x[i]) / total }
            }
        }
        var n: Int
        switch placement {
        case .root:
            return
        case .repeatOf(let leaf):
            n = leaf
        case .above(let node, _, _):
            // x's leaf's step: its sibling is `node`.
            credit(sibling: node)
            if peak == .newLeaf { return }
            n = node
        }
        while nodes[n].parent >= 0 {
            let p = Int(nodes[n].parent)
            credit(sibling: sibling(of: n, under: p))
            if peak == .node(n) { break }
            n = p
        }
    }

    /// Checks the invariants (masses add up, boxes are their children's union, parents point back); for tests.
    func isConsistent() -> Bool {
        guard root >= 0 else { return true }
        func check(_ n: Int) -> Bool {
            if isLeaf(n) { return nodes[n].mass >= 1 }
            let l = Int(nodes[n].left), r = Int(nodes[n].right)
            guard nodes[l].parent == Int32(n), nodes[r].parent == Int32(n), nodes[n].mass == nodes[l].mass + nodes[r].mass else { return false }
            for i in 0..<dimensions {
                // Exactly the union, not merely holding it: updates stop at the first box that stays.
                if low(n, i) != Swift.min(low(l, i), low(r, i)) { return false }
                if high(n, i) != Swift.max(high(l, i), high(r, i)) { return false }
            }
            let d = Int(nodes[n].cutDimension)
            guard high(l, d) <= nodes[n].cutValue, low(r, d) > nodes[n].cutValue else { return false }
            return check(l) && check(r)
        }
        return nodes[Int(root)].parent < 0 && check(Int(root))
    }
}

extension RandomCutTree {
    func write(to w: inout BinaryWriter) {
        w.write(dimensions); w.write(root)
        // The format of separate arrays, whatever the layout in memory.
        w.write(nodes.map(\.parent)); w.write(nodes.map(\.left)); w.write(nodes.map(\.right)); w.write(nodes.map(\.cutDimension))
        w.write(nodes.map(\.cutValue)); w.write(nodes.map(\.mass))
        w.write(stride(from: 0, to: boxes.count, by: 2).map { boxes[$0] }); w.write(stride(from: 1, to: boxes.count, by: 2).map { boxes[$0] })
        w.write(freeNodes)
    }

    init(from r: inout BinaryReader) throws(StateError) {
        dimensions = try r.readInt(); root = try r.readInt32()
        let parent = try r.readInt32s(), left = try r.readInt32s(), right = try r.readInt32s(), cutDimension = try r.readInt32s()
        let cutValue = try r.readDoubles(), mass = try r.readInt32s(), boxLow = try r.readDoubles(), boxHigh = try r.readDoubles()
        freeNodes = try r.readInt32s()
        let n = parent.count
        guard dimensions > 0, left.count == n, right.count == n, cutDimension.count == n, cutValue.count == n, mass.count == n,
            boxLow.count == n * dimensions, boxHigh.count == n * dimensions, root < Int32(n),
            (parent + left + right + freeNodes).allSatisfy({ $0 >= -1 && $0 < Int32(n) })
        else { throw StateError("random cut tree: inconsistent arrays") }
        nodes = (0..<n).map { Node(parent: parent[$0], left: left[$0], right: right[$0], cutDimension: cutDimension[$0], mass: mass[$0], cutValue: cutValue[$0]) }
        boxes = Array(zip(boxLow, boxHigh).map { [$0, $1] }.joined())
    }
}
