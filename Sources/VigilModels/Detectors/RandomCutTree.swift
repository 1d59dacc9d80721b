import VigilCore

/// One robust random cut tree (Guha, Mishra, Roy & Schrijvers, ICML 2016) over the points its sampler keeps.
///
/// Nodes live in flat arrays with a free list; each node keeps its bounding box and mass, so inserting and
/// deleting a point touch only the path from the root to its leaf. Equal points share a leaf (mass > 1).
struct RandomCutTree: Sendable, Equatable {
    let dimensions: Int
    private(set) var root: Int32 = -1
    private var parent: [Int32] = []
    private var left: [Int32] = []
    private var right: [Int32] = []
    private var cutDimension: [Int32] = []
    private var cutValue: [Double] = []
    private var mass: [Int32] = []
    private var boxLow: [Double] = []
    private var boxHigh: [Double] = []
    private var freeNodes: [Int32] = []

    init(dimensions: Int, capacity: Int) {
        self.dimensions = dimensions
        let nodes = 2 * capacity + 2
        parent.reserveCapacity(nodes)
        boxLow.reserveCapacity(nodes * dimensions)
        boxHigh.reserveCapacity(nodes * dimensions)
    }

    var isEmpty: Bool { root < 0 }
    var totalMass: Int { root < 0 ? 0 : Int(mass[Int(root)]) }

    private func isLeaf(_ n: Int) -> Bool { left[n] < 0 }

    private mutating func newNode() -> Int {
        if let reused = freeNodes.popLast() {
            let n = Int(reused)
            parent[n] = -1; left[n] = -1; right[n] = -1; cutDimension[n] = -1; cutValue[n] = 0; mass[n] = 0
            return n
        }
        parent.append(-1); left.append(-1); right.append(-1); cutDimension.append(-1); cutValue.append(0); mass.append(0)
        boxLow.append(contentsOf: repeatElement(0, count: dimensions))
        boxHigh.append(contentsOf: repeatElement(0, count: dimensions))
        return parent.count - 1
    }

    private mutating func setBox(_ n: Int, point x: UnsafeBufferPointer<Double>) {
        for i in 0..<dimensions {
            boxLow[n * dimensions + i] = x[i]
            boxHigh[n * dimensions + i] = x[i]
        }
    }

    private mutating func recomputeBox(_ n: Int) {
        let l = Int(left[n]), r = Int(right[n])
        for i in 0..<dimensions {
            boxLow[n * dimensions + i] = Swift.min(boxLow[l * dimensions + i], boxLow[r * dimensions + i])
            boxHigh[n * dimensions + i] = Swift.max(boxHigh[l * dimensions + i], boxHigh[r * dimensions + i])
        }
    }

    private func leafEquals(_ n: Int, _ x: UnsafeBufferPointer<Double>) -> Bool {
        for i in 0..<dimensions where boxLow[n * dimensions + i] != x[i] { return false }
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
        var node = Int(root)
        while true {
            // The bounding box grown by x, and a random cut over its total span.
            var span = 0.0
            for i in 0..<dimensions {
                span += Swift.max(boxHigh[node * dimensions + i], x[i]) - Swift.min(boxLow[node * dimensions + i], x[i])
            }
            if isLeaf(node), leafEquals(node, x) { return .repeatOf(leaf: node) }
            var cut = uniform() * span
            var dimension = 0
            var value = 0.0
            for i in 0..<dimensions {
                let low = Swift.min(boxLow[node * dimensions + i], x[i])
                let width = Swift.max(boxHigh[node * dimensions + i], x[i]) - low
                if cut < width || i == dimensions - 1 {
                    dimension = i
                    value = low + Swift.min(cut, width)
                    break
                }
                cut -= width
            }
            let boxL = boxLow[node * dimensions + dimension]
            let boxH = boxHigh[node * dimensions + dimension]
            let separates = (x[dimension] <= value && value < boxL) || (x[dimension] > value && value >= boxH)
            if separates { return .above(node: node, dimension: dimension, value: value) }
            if isLeaf(node) {
                // Only a rounding edge fails to separate two different points: draw the cut again.
                continue
            }
            node = x[Int(cutDimension[node])] <= cutValue[node] ? Int(left[node]) : Int(right[node])
        }
    }

    /// Inserts `x`; returns its leaf. `uniform` draws from [0, 1).
    @discardableResult
    mutating func insert(_ x: UnsafeBufferPointer<Double>, uniform: () -> Double) -> Int {
        switch place(x, uniform: uniform) {
        case .root:
            let leaf = newNode()
            setBox(leaf, point: x)
            mass[leaf] = 1
            root = Int32(leaf)
            return leaf
        case .repeatOf(let leaf):
            incrementPath(from: leaf)
            return leaf
        case .above(let node, let dimension, let value):
            return split(node, at: dimension, value: value, x: x)
        }
    }

    /// Puts a new internal node above `node`, cutting x off at (dimension, value); returns x's new leaf.
    private mutating func split(_ node: Int, at dimension: Int, value: Double, x: UnsafeBufferPointer<Double>) -> Int {
        let leaf = newNode()
        setBox(leaf, point: x)
        mass[leaf] = 1
        let inner = newNode()
        let above = parent[node]
        parent[inner] = above
        cutDimension[inner] = Int32(dimension)
        cutValue[inner] = value
        if x[dimension] <= value {
            left[inner] = Int32(leaf); right[inner] = Int32(node)
        } else {
            left[inner] = Int32(node); right[inner] = Int32(leaf)
        }
        parent[node] = Int32(inner)
        parent[leaf] = Int32(inner)
        mass[inner] = mass[node]
        recomputeBox(inner)
        if above < 0 {
            root = Int32(inner)
        } else if left[Int(above)] == Int32(node) {
            left[Int(above)] = Int32(inner)
        } else {
            right[Int(above)] = Int32(inner)
        }
        incrementPath(from: leaf, startingAbove: true)
        mass[leaf] = 1
        return leaf
    }

    /// Adds one to the mass of `node` (unless `startingAbove`) and of every ancestor, growing their boxes.
    private mutating func incrementPath(from node: Int, startingAbove: Bool = false) {
        var n = startingAbove ? Int(parent[node]) : node
        if !startingAbove { mass[n] += 1; n = Int(parent[n]) }
        while n >= 0 {
            mass[n] += 1
            recomputeBox(n)
            n = Int(parent[n])
        }
    }

    /// The leaf holding `x`, or nil.
    func find(_ x: UnsafeBufferPointer<Double>) -> Int? {
        guard root >= 0 else { return nil }
        var n = Int(root)
        while !isLeaf(n) {
            n = x[Int(cutDimension[n])] <= cutValue[n] ? Int(left[n]) : Int(right[n])
        }
        return leafEquals(n, x) ? n : nil
    }

    /// Removes one copy of `x`; false when it is not in the tree.
    @discardableResult
    mutating func delete(_ x: UnsafeBufferPointer<Double>) -> Bool {
        guard let leaf = find(x) else { return false }
        if mass[leaf] > 1 {
            var n = leaf
            while n >= 0 {
                mass[n] -= 1
                n = Int(parent[n])
            }
            return true
        }
        let above = Int(parent[leaf])
        freeNodes.append(Int32(leaf))
        guard above >= 0 else {
            root = -1
            return true
        }
        let sibling = left[above] == Int32(leaf) ? Int(right[above]) : Int(left[above])
        let grand = parent[above]
        parent[sibling] = grand
        freeNodes.append(Int32(above))
        if grand < 0 {
            root = Int32(sibling)
        } else {
            if left[Int(grand)] == Int32(above) { left[Int(grand)] = Int32(sibling) } else { right[Int(grand)] = Int32(sibling) }
            var n = Int(grand)
            while n >= 0 {
                mass[n] -= 1
                recomputeBox(n)
                n = Int(parent[n])
            }
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
            best = Double(mass[node])
            n = node
        }
        // Up from `n`, whose subtree holds x: each step's own mass counts x once more.
        while parent[n] >= 0 {
            let p = Int(parent[n])
            let sibling = left[p] == Int32(n) ? Int(right[p]) : Int(left[p])
            let ratio = Double(mass[sibling]) / Double(mass[n] + 1)
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
                let l = boxLow[sibling * dimensions + i], h = boxHigh[sibling * dimensions + i]
                total += Swift.max(h, x[i]) - Swift.min(l, x[i])
            }
            guard total > 0 else { return }
            for i in 0..<dimensions {
                let l = boxLow[sibling * dimensions + i], h = boxHigh[sibling * dimensions + i]
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
        while parent[n] >= 0 {
            let p = Int(parent[n])
            credit(sibling: left[p] == Int32(n) ? Int(right[p]) : Int(left[p]))
            if peak == .node(n) { break }
            n = p
        }
    }

    /// Checks the invariants (masses add up, boxes contain children, parents point back); for tests.
    func isConsistent() -> Bool {
        guard root >= 0 else { return true }
        func check(_ n: Int) -> Bool {
            if isLeaf(n) { return mass[n] >= 1 }
            let l = Int(left[n]), r = Int(right[n])
            guard parent[l] == Int32(n), parent[r] == Int32(n), mass[n] == mass[l] + mass[r] else { return false }
            for i in 0..<dimensions {
                if boxLow[n * dimensions + i] > Swift.min(boxLow[l * dimensions + i], boxLow[r * dimensions + i]) { return false }
                if boxHigh[n * dimensions + i] < Swift.max(boxHigh[l * dimensions + i], boxHigh[r * dimensions + i]) { return false }
            }
            let d = Int(cutDimension[n])
            guard boxHigh[l * dimensions + d] <= cutValue[n], boxLow[r * dimensions + d] > cutValue[n] else { return false }
            return check(l) && check(r)
        }
        return parent[Int(root)] < 0 && check(Int(root))
    }
}

extension RandomCutTree {
    func write(to w: inout BinaryWriter) {
        w.write(dimensions); w.write(root)
        w.write(parent); w.write(left); w.write(right); w.write(cutDimension); w.write(cutValue); w.write(mass)
        w.write(boxLow); w.write(boxHigh); w.write(freeNodes)
    }

    init(from r: inout BinaryReader) throws(StateError) {
        dimensions = try r.readInt(); root = try r.readInt32()
        parent = try r.readInt32s(); left = try r.readInt32s(); right = try r.readInt32s(); cutDimension = try r.readInt32s()
        cutValue = try r.readDoubles(); mass = try r.readInt32s(); boxLow = try r.readDoubles(); boxHigh = try r.readDoubles()
        freeNodes = try r.readInt32s()
        let n = parent.count
        guard dimensions > 0, left.count == n, right.count == n, cutDimension.count == n, cutValue.count == n, mass.count == n,
            boxLow.count == n * dimensions, boxHigh.count == n * dimensions, root < Int32(n),
            (parent + left + right + freeNodes).allSatisfy({ $0 >= -1 && $0 < Int32(n) })
        else { throw StateError("random cut tree: inconsistent arrays") }
    }
}
