extension HalfSpaceTrees {
    /// Where a build writes one reference tree (`ReferenceTrees.build(tree:room:masses:_:)`): room for the most
    /// nodes a tree can have, appended to the trees' arrays in one piece when the tree is done, and the tree's
    /// tests and end nodes (`ReferenceTrees.exit`) written where they go as its nodes are set. Set through the
    /// arrays, every node set and every pair of children appended checked the arrays' uniqueness and bounds (six
    /// runtime calls an inner node, a third of a window end's instructions); here each is a store.
    struct TreeWriter {
        let nodes: UnsafeMutablePointer<ReferenceNode>
        let masses: UnsafeMutablePointer<UInt16>
        /// Nodes there is room for.
        let room: Int
        /// Where the tree's first node goes in the trees' arrays: an inner node names its left child by its
        /// index there.
        let base: Int
        /// Where the tree's tests go (pairs set to `ExitTests.unset`), or nil when the trees have none.
        let tests: UnsafeMutablePointer<ExitTests>?
        /// Where the tree's end nodes go, left to right, when it has tests.
        let exits: UnsafeMutablePointer<TreeWalk>?
        /// Tests, and end nodes, there is room for: a tree with more end nodes is walked, and what did not fit
        /// is dropped.
        let testRoom: Int
        /// Nodes made so far (the root first); every one is set before the tree is appended.
        private(set) var count = 1
        /// Inner nodes set so far: the next one's test number (tests are numbered in pre-order).
        private(set) var innerCount = 0
        /// End nodes set so far: the next one's number, left to right.
        private(set) var endCount = 0
        /// Set when the tree needed more than `room` nodes (only from a corrupt checkpoint's masses): the nodes
        /// that did not fit were made end nodes.
        private(set) var overflowed = false

        init(
            nodes: UnsafeMutablePointer<ReferenceNode>, masses: UnsafeMutablePointer<UInt16>, room: Int, base: Int,
            tests: UnsafeMutablePointer<ExitTests>? = nil, exits: UnsafeMutablePointer<TreeWalk>? = nil, testRoom: Int = 0
        ) {
            (self.nodes, self.masses, self.room, self.base) = (nodes, masses, room, base)
            (self.tests, self.exits, self.testRoom) = (tests, exits, tests == nil ? 0 : testRoom)
        }

        /// An inner node just set, until its subtrees are made and `close(_:leftEnds:)` completes its test.
        struct InnerNode {
            /// Its left child's index in the room (the right one follows).
            var left: Int
            /// Its test's number.
            var test: Int
            /// The number of its first end node.
            var firstEnd: Int
        }

        /// Sets node `index` (number `heap`, at `depth`) for a reference mass `mass`: an end node when the mass
        /// is below the limit or the node is a leaf; otherwise an inner node with `split`, whose two children are
        /// to be made, left subtree first, and then `close(_:leftEnds:)` called.
        @inline(__always) mutating func set(
            _ index: Int, heap: Int, depth: Int, mass: Int, shape: ReferenceTrees.Shape, split: () -> (value: Double, input: Int)
        ) -> InnerNode? {
            masses[index] = UInt16(truncatingIfNeeded: mass)
            guard depth < shape.height, Double(mass) >= shape.sizeLimit, count &+ 2 <= room || overflow() else {
                let score = Double(mass) * Double(1 &<< depth)
                nodes[index] = ReferenceNode(value: score, input: ~Int32(truncatingIfNeeded: endCount), next: Int32(truncatingIfNeeded: heap))
                if endCount < testRoom { exits.unsafelyUnwrapped[endCount] = TreeWalk(end: Int32(truncatingIfNeeded: heap), score: score) }
                endCount &+= 1
                return nil
            }
            let (value, input) = split()
            let left = count
            count &+= 2
            nodes[index] = ReferenceNode(value: value, input: Int32(truncatingIfNeeded: input), next: Int32(truncatingIfNeeded: base &+ left))
            let test = innerCount
            innerCount &+= 1
            if test < testRoom {
                let (pair, lane) = (test &>> 1, test & 1)
                tests.unsafelyUnwrapped[pair].values[lane] = value
                tests.unsafelyUnwrapped[pair].inputs[lane] = Int32(truncatingIfNeeded: input)
            }
            return InnerNode(left: left, test: test, firstEnd: endCount)
        }

        /// Completes `inner`'s test once its subtrees are made, `leftEnds` end nodes under its left child: when
        /// the test fails, the event goes right, so those end nodes are ruled out.
        @inline(__always) mutating func close(_ inner: InnerNode, leftEnds: Int) {
            guard inner.test < testRoom else { return }
            let (pair, lane) = (inner.test &>> 1, inner.test & 1)
            tests.unsafelyUnwrapped[pair].masks[lane] = ~(((UInt64(1) << leftEnds) &- 1) << inner.firstEnd)
            tests.unsafelyUnwrapped[pair].ends[lane] = Int32(truncatingIfNeeded: endCount &- inner.firstEnd)
        }

        private mutating func overflow() -> Bool {
            overflowed = true
            return false
        }

        /// A tree's carried count (heap order) at node `heap`; 0 without carried counts.
        @inline(__always) static func count(_ carried: UnsafePointer<UInt16>?, at heap: Int) -> Int {
            carried.map { Int($0[heap]) } ?? 0
        }

        /// Builds the subtree at node `index` (number `heap`, at `depth`, its split at `place` of `splits`: the
        /// tree's split blocks) from the events that reached it, `order[lo..<hi]` (numbers of points, `dimensions`
        /// values each), and `carried` (the tree's counts in heap order of events not among the points: a window
        /// restored half-counted). Each inner node partitions its events between its children in place.
        mutating func build(
            _ index: Int, heap: Int, depth: Int, place: SplitTable.Cursor, lo: Int, hi: Int, shape: ReferenceTrees.Shape, splits: UnsafeRawPointer,
            points: UnsafePointer<Double>, order: UnsafeMutablePointer<UInt16>, carried: UnsafePointer<UInt16>?
        ) {
            let mass = hi &- lo &+ Self.count(carried, at: heap)
            var split = (value: 0.0, input: 0)
            guard let inner = set(index, heap: heap, depth: depth, mass: mass, shape: shape, split: {
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
            build(
                inner.left, heap: 2 &* heap &+ 1, depth: depth &+ 1, place: leftPlace, lo: lo, hi: middle, shape: shape, splits: splits, points: points,
                order: order, carried: carried)
            let leftEnds = endCount &- inner.firstEnd
            build(
                inner.left &+ 1, heap: 2 &* heap &+ 2, depth: depth &+ 1, place: rightPlace, lo: middle, hi: hi, shape: shape, splits: splits,
                points: points, order: order, carried: carried)
            close(inner, leftEnds: leftEnds)
        }

        /// Sets the whole tree as `previous`'s tree at `old` (`nodeCount` nodes; `pairs` pairs of tests from
        /// `oldTests`) with the window's masses (`exitCounts`, per end node of that tree), when they keep its shape:
        /// every inner node still holds the size limit, and every end node is below it or a leaf. About half of a
        /// window's trees do, and need only their masses and scores rewritten, their tests copied. A tree's nodes
        /// lie after their parents, so a pass from its last node back has weighed an inner node's children before
        /// it. Returns false at the first node that breaks the shape, with the writer's counts as they were (what
        /// the pass wrote is overwritten by the rebuild that follows). Not for a window with carried counts.
        mutating func reweigh(
            from previous: ReferenceTrees.Previous, old: Int, nodeCount: Int, tests oldTests: UnsafePointer<ExitTests>, pairs: Int,
            shape: ReferenceTrees.Shape, exitCounts: UnsafePointer<Int>
        ) -> Bool {
            guard count == 1, nodeCount <= room else { return false }
            let shift = Int32(truncatingIfNeeded: base &- old)
            var i = nodeCount &- 1
            while i >= 0 {
                var node = previous.nodes[old &+ i]
                if node.isEnd {
                    let number = Int(truncatingIfNeeded: ~node.input)
                    let mass = exitCounts[number]
                    let depth = HalfSpaceTrees.depth(ofHeapNode: Int(truncatingIfNeeded: node.next))
                    guard Double(mass) < shape.sizeLimit || depth == shape.height else { return false }
                    node.value = Double(mass) * Double(1 &<< depth)
                    masses[i] = UInt16(truncatingIfNeeded: mass)
                    exits.unsafelyUnwrapped[number] = TreeWalk(end: node.next, score: node.value)
                } else {
                    let left = Int(truncatingIfNeeded: node.next) &- old
                    let mass = Int(masses[left]) &+ Int(masses[left &+ 1])
                    guard Double(mass) >= shape.sizeLimit else { return false }
                    masses[i] = UInt16(truncatingIfNeeded: mass)
                    node.next &+= shift
                }
                nodes[i] = node
                i &-= 1
            }
            tests.unsafelyUnwrapped.update(from: oldTests, count: pairs)
            count = nodeCount
            innerCount = nodeCount / 2
            endCount = nodeCount - innerCount
            return true
        }

        /// Builds the subtree at node `index` (number `heap`, at `depth`, split at `place`) for the window's events
        /// from `previous`'s node `old` at the same place, whose end nodes are numbered from `first` on and whose
        /// inner nodes' tests start at `test` (pre-order, as the writer numbers them; moved past them): the
        /// window's masses on the previous tree's nodes follow from the counts at its end nodes, so only where an
        /// end node now holds the size limit (and is not a leaf) are its events partitioned further down. Only for
        /// a previous tree with tests. Returns the number of end nodes under `old`.
        @discardableResult
        mutating func rebuild(
            _ index: Int, heap: Int, depth: Int, place: SplitTable.Cursor, from previous: ReferenceTrees.Previous, old: Int, first: Int, test: inout Int,
            shape: ReferenceTrees.Shape, splits: UnsafeRawPointer, window: ReferenceTrees.Window
        ) -> Int {
            let oldNode = previous.nodes[old]
            if oldNode.isEnd {
                let mass = window.exitCounts[first] &+ Self.count(window.carried, at: heap)
                if depth == shape.height || Double(mass) < shape.sizeLimit {
                    _ = set(index, heap: heap, depth: depth, mass: mass, shape: shape) { (0, 0) }
                } else {
                    var count = 0
                    for event in 0..<window.count {
                        window.order[count] = UInt16(truncatingIfNeeded: event)
                        count &+= Int(window.exits[event]) == first ? 1 : 0
                    }
                    build(
                        index, heap: heap, depth: depth, place: place, lo: 0, hi: count, shape: shape, splits: splits, points: window.points,
                        order: window.order, carried: window.carried)
                }
                return 1
            }
            let ends = Int(previous.tests.unsafelyUnwrapped[test &>> 1].ends[test & 1])
            test &+= 1
            var mass = Self.count(window.carried, at: heap)
            for end in first..<(first &+ ends) { mass &+= window.exitCounts[end] }
            guard let inner = set(index, heap: heap, depth: depth, mass: mass, shape: shape, split: { (oldNode.value, Int(oldNode.input)) }) else {
                // The previous subtree's other inner nodes (a binary tree has one fewer than end nodes) are skipped.
                test &+= ends &- 2
                return ends
            }
            var leftPlace = place, rightPlace = place
            leftPlace.descend(0)
            rightPlace.descend(1)
            let oldLeftEnds = rebuild(
                inner.left, heap: 2 &* heap &+ 1, depth: depth &+ 1, place: leftPlace, from: previous, old: Int(oldNode.next), first: first, test: &test,
                shape: shape, splits: splits, window: window)
            let leftEnds = endCount &- inner.firstEnd
            rebuild(
                inner.left &+ 1, heap: 2 &* heap &+ 2, depth: depth &+ 1, place: rightPlace, from: previous, old: Int(oldNode.next) &+ 1,
                first: first &+ oldLeftEnds, test: &test, shape: shape, splits: splits, window: window)
            close(inner, leftEnds: leftEnds)
            return ends
        }

        /// Builds the subtree at node `index` (number `heap`, at `depth`) from a tree's reference masses in heap
        /// order (`reference`): a model restored from its arrays.
        mutating func build(_ index: Int, heap: Int, depth: Int, shape: ReferenceTrees.Shape, splits: (Int) -> (value: Double, input: Int), reference: ArraySlice<UInt16>) {
            let mass = Int(reference[reference.startIndex + heap])
            guard let inner = set(index, heap: heap, depth: depth, mass: mass, shape: shape, split: { splits(heap) }) else { return }
            build(inner.left, heap: 2 * heap + 1, depth: depth + 1, shape: shape, splits: splits, reference: reference)
            let leftEnds = endCount - inner.firstEnd
            build(inner.left + 1, heap: 2 * heap + 2, depth: depth + 1, shape: shape, splits: splits, reference: reference)
            close(inner, leftEnds: leftEnds)
        }
    }
}
