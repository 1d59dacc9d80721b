extension HalfSpaceTrees {
    /// A node of a reference tree: an inner node an event is routed through, or the end node its tree's score is
    /// taken at. 16 bytes, so that a walk's nodes share few cache lines.
    struct ReferenceNode: Sendable, Equatable {
        /// Inner: the split value (events with `x[input] < value` go left). End: the tree's score there,
        /// reference mass x 2^depth.
        var value: Double
        /// Inner: the split input. End: the complement (negative) of the end node's number among its tree's end
        /// nodes, left to right.
        var input: Int32
        /// Inner: the index of the left child (the right one follows it). End: the node's number in heap order.
        var next: Int32

        var isEnd: Bool { input < 0 }
    }

    /// Two inner nodes' tests for finding an event's end node without walking (`ReferenceTrees.exit`), lane by
    /// lane: when `x[input] < value` fails, the event goes right, so none of the end nodes left of the split can
    /// be its own; `mask` has their bits clear. Laid out so that a pair's values and masks load as vectors.
    struct ExitTests: Sendable, Equatable {
        var values: SIMD2<Double>
        var masks: SIMD2<UInt64>
        var inputs: SIMD2<Int32>
        /// End nodes under each inner node.
        var ends: SIMD2<Int32>

        /// A pair of tests that rule nothing out whichever way they go, to be filled lane by lane.
        static let unset = ExitTests(values: .zero, masks: SIMD2(repeating: .max), inputs: .zero, ends: .zero)
    }

    /// The part of every tree that scores can read, with the reference masses there.
    ///
    /// A score reads a node's reference mass only if every node above it holds at least the size limit: below a
    /// node under it, the walk has stopped. So each tree keeps its inner nodes down to where the mass falls below
    /// the limit (or the leaves), and the end nodes there: at most `window / limit` inner nodes per level (they
    /// hold disjoint parts of one window), against the full tree's 2^depth; on a stream of a few dense regions,
    /// some 30 inner nodes a tree.
    ///
    /// An event's end node is found without walking when the model uses tests and a tree has at most 64 end
    /// nodes (QuickScorer, Lucchese et al., SIGIR 2015): number the end nodes left to right; every inner node whose
    /// test sends the event right rules out the end nodes of its left subtree; the leftmost end node not ruled out
    /// is the one the walk would reach. Every test is evaluated, with no branch on the event: a walk of 15 steps is
    /// a chain of loads and branches the predictor gets wrong, which is what it costs.
    struct ReferenceTrees: Sendable, Equatable {
        /// Every tree's nodes, tree after tree; each inner node's two children side by side.
        private(set) var nodes: [ReferenceNode]
        /// Per node, its reference mass.
        private(set) var masses: [UInt16]
        /// Per tree, the index of its root.
        private(set) var roots: [Int32]
        /// Every tree's inner nodes' tests (trees with at most 64 end nodes), tree after tree, in pairs: the
        /// test numbered `k` is lane `k % 2` of pair `k / 2`.
        private(set) var tests: [ExitTests]
        /// Per tree, the number of its first test (even: a tree's tests start a pair), and after the last tree
        /// the tests' count.
        private(set) var testStarts: [Int32]
        /// Every tree's end nodes left to right (trees with at most 64 end nodes), what a walk ending there
        /// returns, tree after tree.
        private(set) var exits: [TreeWalk]
        /// Per tree, its first end node in `exits`, or -1 when it is walked (more than 64 end nodes, or no tests).
        private(set) var exitStarts: [Int32]
        /// Whether trees get tests; without them every tree is walked, and the trees take no room for tests.
        let usesTests: Bool
        /// The most nodes a tree can have (`nodesPerTree(height:window:sizeLimit:)`).
        let nodesPerTree: Int

        /// Trees whose roots are end nodes with no mass: what scores before the first window ends.
        init(trees: Int, nodesPerTree capacity: Int, usesTests: Bool) {
            self.usesTests = usesTests
            nodesPerTree = capacity
            nodes = []
            masses = []
            tests = []
            exits = []
            nodes.reserveCapacity(trees * capacity)
            masses.reserveCapacity(trees * capacity)
            if usesTests {
                // Each tree's build appends room for the most a tree can have; the last tree's must fit too.
                tests.reserveCapacity(trees * Self.testsPerTree(nodesPerTree: capacity) / 2)
                exits.reserveCapacity(trees * Self.testsPerTree(nodesPerTree: capacity))
            }
            roots = Array(repeating: 0, count: trees)
            testStarts = Array(repeating: 0, count: trees + 1)
            exitStarts = Array(repeating: 0, count: trees)
            for tree in 0..<trees {
                roots[tree] = Int32(nodes.count)
                testStarts[tree] = 0
                nodes.append(ReferenceNode(value: 0, input: -1, next: 0))
                masses.append(0)
                exitStarts[tree] = usesTests ? Int32(exits.count) : -1
                if usesTests { exits.append(TreeWalk(end: 0, score: 0)) }
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

        /// Most tests (and end nodes) a tree with tests has: at most 64 end nodes, one more than its inner nodes;
        /// an even count, for whole pairs of tests.
        static func testsPerTree(nodesPerTree: Int) -> Int { Swift.min(64, ((nodesPerTree + 1) / 2 + 1) & ~1) }

        /// Starts a rebuild of every tree: then `build(tree:_:)` tree after tree.
        mutating func removeAll() {
            nodes.removeAll(keepingCapacity: true)
            masses.removeAll(keepingCapacity: true)
            tests.removeAll(keepingCapacity: true)
            exits.removeAll(keepingCapacity: true)
        }

        /// Builds tree `tree`, the next after those built since `removeAll()`, in `room` (at least `nodesPerTree`
        /// nodes and masses, kept by the caller so that the event path allocates nothing): `body` sets its root (the
        /// writer's node 0) and every node under it through `writer`, which writes the tree's tests and end nodes
        /// in place as it goes; then the nodes are appended. False when the tree needed more nodes than a tree can
        /// have (only from a corrupt checkpoint's masses).
        @discardableResult
        mutating func build(
            tree: Int, room: UnsafeMutablePointer<ReferenceNode>, masses roomMasses: UnsafeMutablePointer<UInt16>, _ body: (_ writer: inout TreeWriter) -> Void
        ) -> Bool {
            roots[tree] = Int32(nodes.count)
            testStarts[tree] = Int32(tests.count * 2)
            let (firstPair, firstExit) = (tests.count, exits.count)
            // Room for the most tests and end nodes a tree with tests has, within the reserved capacity: what the
            // tree does not use is removed again.
            let testRoom = usesTests ? Self.testsPerTree(nodesPerTree: nodesPerTree) : 0
            tests.append(contentsOf: repeatElement(.unset, count: testRoom / 2))
            exits.append(contentsOf: repeatElement(TreeWalk(end: 0, score: 0), count: testRoom))
            let writer = tests.withUnsafeMutableBufferPointer { tests in
                exits.withUnsafeMutableBufferPointer { exits in
                    var writer = TreeWriter(
                        nodes: room, masses: roomMasses, room: nodesPerTree, base: nodes.count, tests: tests.baseAddress.map { $0 + firstPair },
                        exits: exits.baseAddress.map { $0 + firstExit }, testRoom: testRoom)
                    body(&writer)
                    return writer
                }
            }
            nodes.append(contentsOf: UnsafeBufferPointer(start: writer.nodes, count: writer.count))
            masses.append(contentsOf: UnsafeBufferPointer(start: writer.masses, count: writer.count))
            let hasTests = usesTests && writer.endCount <= 64
            // A tree's tests start a pair: an odd count leaves its last pair's other lane unset, ruling nothing out.
            tests.removeLast(tests.count - firstPair - (hasTests ? (writer.innerCount + 1) / 2 : 0))
            exits.removeLast(exits.count - firstExit - (hasTests ? writer.endCount : 0))
            exitStarts[tree] = hasTests ? Int32(firstExit) : -1
            testStarts[tree + 1] = Int32(tests.count * 2)
            return !writer.overflowed
        }

        /// `build(tree:room:masses:_:)` in room made for it: for a model restored from a checkpoint, off the event
        /// path.
        @discardableResult
        mutating func build(tree: Int, _ body: (_ writer: inout TreeWriter) -> Void) -> Bool {
            let room = UnsafeMutablePointer<ReferenceNode>.allocate(capacity: nodesPerTree)
            let roomMasses = UnsafeMutablePointer<UInt16>.allocate(capacity: nodesPerTree)
            defer {
                room.deallocate()
                roomMasses.deallocate()
            }
            return build(tree: tree, room: room, masses: roomMasses, body)
        }

        /// The number (left to right) of the end node `x` reaches in the tree whose tests are `tests` (`pairs` of
        /// them).
        @inline(__always) static func exit(_ x: UnsafePointer<Double>, tests: UnsafePointer<ExitTests>, pairs: Int) -> Int {
            var candidates = SIMD2<UInt64>(repeating: .max)
            var k = 0
            while k < pairs {
                // Two tests at a time, as vector operations: the comparison's lanes are all ones where a test
                // holds. As scalar selects (or arithmetic on a Bool, or lanes taken out each time) the compiler
                // made each test a branch, which the predictor gets wrong as often as a walk's.
                let pair = tests[k]
                let holds = SIMD2(x[Int(truncatingIfNeeded: pair.inputs[0])], x[Int(truncatingIfNeeded: pair.inputs[1])]) .< pair.values
                candidates &= pair.masks | unsafeBitCast(holds, to: SIMD2<UInt64>.self)
                k &+= 1
            }
            return (candidates[0] & candidates[1]).trailingZeroBitCount
        }

        /// `exit(_:tests:pairs:)` for four events at once: each pair of tests is loaded once for all four, which
        /// leaves the loop a third fewer loads per event than four calls (the tests' values, masks and inputs,
        /// against only the events' inputs).
        @inline(__always) static func exits(
            _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafePointer<Double>, _ d: UnsafePointer<Double>,
            tests: UnsafePointer<ExitTests>, pairs: Int
        ) -> SIMD4<Int> {
            var (candidatesA, candidatesB) = (SIMD2<UInt64>(repeating: .max), SIMD2<UInt64>(repeating: .max))
            var (candidatesC, candidatesD) = (SIMD2<UInt64>(repeating: .max), SIMD2<UInt64>(repeating: .max))
            var k = 0
            while k < pairs {
                let pair = tests[k]
                let (first, second) = (Int(truncatingIfNeeded: pair.inputs[0]), Int(truncatingIfNeeded: pair.inputs[1]))
                candidatesA &= pair.masks | unsafeBitCast(SIMD2(a[first], a[second]) .< pair.values, to: SIMD2<UInt64>.self)
                candidatesB &= pair.masks | unsafeBitCast(SIMD2(b[first], b[second]) .< pair.values, to: SIMD2<UInt64>.self)
                candidatesC &= pair.masks | unsafeBitCast(SIMD2(c[first], c[second]) .< pair.values, to: SIMD2<UInt64>.self)
                candidatesD &= pair.masks | unsafeBitCast(SIMD2(d[first], d[second]) .< pair.values, to: SIMD2<UInt64>.self)
                k &+= 1
            }
            return SIMD4(
                (candidatesA[0] & candidatesA[1]).trailingZeroBitCount, (candidatesB[0] & candidatesB[1]).trailingZeroBitCount,
                (candidatesC[0] & candidatesC[1]).trailingZeroBitCount, (candidatesD[0] & candidatesD[1]).trailingZeroBitCount)
        }

        /// What a build needs of the model.
        struct Shape {
            var height: Int
            var sizeLimit: Double
            var dimensions: Int
        }

        /// What rebuilding a tree from its previous reference needs: the window's events and where each ended in
        /// the previous reference.
        struct Window {
            var points: UnsafePointer<Double>
            /// Events in `points`.
            var count: Int
            /// Per event, the number (left to right) of the end node it reached in the previous reference tree.
            var exits: UnsafePointer<UInt8>
            /// Per end node of the previous reference tree, the events that reached it.
            var exitCounts: UnsafePointer<Int>
            /// The tree's counts in heap order of events not among the points, or nil.
            var carried: UnsafePointer<UInt16>?
            /// Scratch for `count` event numbers.
            var order: UnsafeMutablePointer<UInt16>
        }

        /// A previous reference's nodes and tests, read while the next is built from it.
        struct Previous {
            var nodes: UnsafePointer<ReferenceNode>
            /// Nil when it has no tests.
            var tests: UnsafePointer<ExitTests>?
        }

        /// Calls `body` with `previous`'s nodes and tests where they lie.
        static func reading<R>(_ previous: ReferenceTrees, _ body: (Previous) -> R) -> R {
            previous.nodes.withUnsafeBufferPointer { nodes in
                previous.tests.withUnsafeBufferPointer { tests in body(Previous(nodes: nodes.baseAddress!, tests: tests.baseAddress)) }
            }
        }
        /// The number of tree `tree`'s nodes, once every tree is built.
        func nodeCount(tree: Int) -> Int {
            (tree + 1 < roots.count ? Int(roots[tree + 1]) : nodes.count) - Int(roots[tree])
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
            let depth = HalfSpaceTrees.depth(ofHeapNode: heap)
            var index = Int(roots[tree])
            for level in stride(from: depth - 1, through: 0, by: -1) {
                guard !nodes[index].isEnd else { return nil }
                index = Int(nodes[index].next) + (path >> level) & 1
            }
            return Int(masses[index])
        }
    }
}
