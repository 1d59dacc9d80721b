extension HalfSpaceTrees {
    /// A node of a reference tree: an inner node an event is routed through, or the end node its tree's score is
    /// taken at. 16 bytes, so that a walk's nodes share few cache lines.
    struct ReferenceNode: Sendable, Equatable {
        /// Inner: the split value (events with `x[input] < value` go left). End: the tree's score there,
        /// reference mass x 2^depth.
        var value: Double
        /// Inner: the split input. End: -1.
        var input: Int32
        /// Inner: the index of the left child (the right one follows it). End: the node's number in heap order.
        var next: Int32

        var isEnd: Bool { input < 0 }
    }

    /// The part of every tree that scores can read, with the reference masses there.
    ///
    /// A score reads a node's reference mass only if every node above it holds at least the size limit: below a
    /// node under it, the walk has stopped. So each tree keeps its inner nodes down to where the mass falls below
    /// the limit (or the leaves), and the end nodes there: at most `window / limit` inner nodes per level (they
    /// hold disjoint parts of one window), against the full tree's 2^depth. Built afresh from a window's events
    /// when it becomes the reference (`build(tree:…)`), so events are not counted one node at a time as they
    /// arrive: a walk only reads these few nodes, which stay in the caches.
    struct ReferenceTrees: Sendable, Equatable {
        /// Every tree's nodes, tree after tree; each inner node's two children side by side.
        private(set) var nodes: [ReferenceNode]
        /// Per node, its reference mass.
        private(set) var masses: [UInt16]
        /// Per tree, the index of its root.
        private(set) var roots: [Int32]

        /// Trees whose roots are end nodes with no mass: what scores before the first window ends.
        init(trees: Int, nodesPerTree capacity: Int) {
            nodes = []
            masses = []
            nodes.reserveCapacity(trees * capacity)
            masses.reserveCapacity(trees * capacity)
            roots = []
            for _ in 0..<trees {
                roots.append(Int32(nodes.count))
                nodes.append(ReferenceNode(value: 0, input: -1, next: 0))
                masses.append(0)
            }
        }

        /// Most nodes a tree can have: two per inner node, one root, and at most `window / limit` inner nodes on
        /// a level (their masses are disjoint parts of one window, each at least the limit).
        static func nodesPerTree(height: Int, window: Int, sizeLimit: Double) -> Int {
            let smallestInner = Swift.max(1, Int(sizeLimit.rounded(.up)))
            var inner = 0
            for depth in 0..<height { inner += Swift.min(1 << depth, window / smallestInner) }
            return 1 + 2 * inner
        }

        /// Starts a rebuild of every tree (`begin(tree:)`, then one `build` per tree, in order).
        mutating func removeAll() {
            nodes.removeAll(keepingCapacity: true)
            masses.removeAll(keepingCapacity: true)
        }

        /// Appends tree `tree`'s root, still unset; returns its index.
        mutating func begin(tree: Int) -> Int {
            roots[tree] = Int32(nodes.count)
            return appendNodes(1)
        }

        private mutating func appendNodes(_ count: Int) -> Int {
            let first = nodes.count
            for _ in 0..<count {
                nodes.append(ReferenceNode(value: 0, input: -1, next: 0))
                masses.append(0)
            }
            return first
        }

        /// Sets node `index` (number `heap`, at `depth`) for a reference mass `mass`: an end node when the mass
        /// is below the limit or the node is a leaf; otherwise an inner node with `split`, whose two children are
        /// appended (the left one's index is returned).
        @inline(__always) private mutating func set(
            _ index: Int, heap: Int, depth: Int, mass: Int, shape: Shape, split: () -> (value: Double, input: Int)
        ) -> Int? {
            masses[index] = UInt16(truncatingIfNeeded: mass)
            guard depth < shape.height, Double(mass) >= shape.sizeLimit else {
                nodes[index] = ReferenceNode(value: Double(mass) * Double(1 &<< depth), input: -1, next: Int32(truncatingIfNeeded: heap))
                return nil
            }
            let (value, input) = split()
            let left = appendNodes(2)
            nodes[index] = ReferenceNode(value: value, input: Int32(truncatingIfNeeded: input), next: Int32(truncatingIfNeeded: left))
            return left
        }

        /// What a build needs of the model.
        struct Shape {
            var height: Int
            var sizeLimit: Double
            var dimensions: Int
        }

        /// Builds the subtree at node `index` (number `heap`, at `depth`, its split at `place` of `splits`: the
        /// tree's split blocks) from the events `order[lo..<hi]` (numbers of points, `dimensions` values each,
        /// that reached it) and `carried` (the tree's counts in heap order of events not among the points: a
        /// window restored half-counted). Each inner node partitions its events between its children in place.
        mutating func build(
            _ index: Int, heap: Int, depth: Int, place: SplitTable.Cursor, lo: Int, hi: Int, shape: Shape, splits: UnsafeRawPointer,
            points: UnsafePointer<Double>, order: UnsafeMutablePointer<Int32>, carried: UnsafePointer<UInt16>?
        ) {
            let mass = hi &- lo &+ (carried.map { Int($0[heap]) } ?? 0)
            var split = (value: 0.0, input: 0)
            guard let left = set(index, heap: heap, depth: depth, mass: mass, shape: shape, split: {
                split = SplitTable.split(splits, at: place)
                return split
            }) else { return }
            // Branch-free: each event is swapped to the left part's end and the end moves on when it goes left
            // (an event's side is a coin toss for the branch predictor).
            var middle = lo
            let dimensions = shape.dimensions
            for j in lo..<hi {
                let point = order[j]
                let goesLeft = points[Int(point) &* dimensions &+ split.input] < split.value
                order[j] = order[middle]
                order[middle] = point
                middle &+= goesLeft ? 1 : 0
            }
            var leftPlace = place, rightPlace = place
            leftPlace.descend(0)
            rightPlace.descend(1)
            build(left, heap: 2 &* heap &+ 1, depth: depth &+ 1, place: leftPlace, lo: lo, hi: middle, shape: shape, splits: splits, points: points, order: order, carried: carried)
            build(left &+ 1, heap: 2 &* heap &+ 2, depth: depth &+ 1, place: rightPlace, lo: middle, hi: hi, shape: shape, splits: splits, points: points, order: order, carried: carried)
        }

        /// Builds the subtree at node `index` (number `heap`, at `depth`) from a tree's reference masses in heap
        /// order (`reference`): a model restored from its arrays.
        mutating func build(_ index: Int, heap: Int, depth: Int, shape: Shape, splits: (Int) -> (value: Double, input: Int), reference: ArraySlice<UInt16>) {
            let mass = Int(reference[reference.startIndex + heap])
            guard let left = set(index, heap: heap, depth: depth, mass: mass, shape: shape, split: { splits(heap) }) else { return }
            build(left, heap: 2 * heap + 1, depth: depth + 1, shape: shape, splits: splits, reference: reference)
            build(left + 1, heap: 2 * heap + 2, depth: depth + 1, shape: shape, splits: splits, reference: reference)
        }

        /// Calls `body` with the number (heap order) and reference mass of every node of tree `tree`.
        func forEachMass(tree: Int, _ body: (_ heap: Int, _ mass: Int) -> Void) {
            func visit(_ index: Int, heap: Int) {
                body(heap, Int(masses[index]))
                guard !nodes[index].isEnd else { return }
                visit(Int(nodes[index].next), heap: 2 * heap + 1)
                visit(Int(nodes[index].next) + 1, heap: 2 * heap + 2)
            }
            visit(Int(roots[tree]), heap: 0)
        }

        /// The reference mass of tree `tree`'s node `heap` (heap order) when a score can read it; nil below the
        /// end nodes, where the model keeps no counts.
        func mass(tree: Int, heap: Int) -> Int? {
            let path = heap + 1
            let depth = Int.bitWidth - 1 - path.leadingZeroBitCount
            var index = Int(roots[tree])
            for level in stride(from: depth - 1, through: 0, by: -1) {
                guard !nodes[index].isEnd else { return nil }
                index = Int(nodes[index].next) + (path >> level) & 1
            }
            return Int(masses[index])
        }
    }
}
