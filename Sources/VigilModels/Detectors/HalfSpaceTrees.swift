public import VigilCore

/// Streaming Half-Space Trees (Tan, Ting & Liu, IJCAI 2011).
///
/// Each tree is a complete binary tree of fixed height over the unit cube: every inner node splits one
/// randomly chosen input at the middle of that input's randomly perturbed work range. Each node counts the
/// events that reached it in the current window (latest) and in the previous one (reference); every `window`
/// events the latest counts become the reference and restart from zero. An event's score in a tree is
/// `reference(node) * 2^depth` at the deepest node it reaches (stopping early where the reference mass falls
/// below `sizeLimit`); sparse regions score low, so the anomaly score is `1 - sum / maximum`.
///
/// Only what a score can read is kept: the current window's events (their scaled inputs) and, per tree, the
/// nodes of the reference window down to where its mass falls below the size limit (`ReferenceTrees`: some 30
/// inner nodes a tree on a stream of a few dense regions, against 32,767 at height 15). An event's end node in
/// such a tree is found by evaluating every inner node's test without a branch (`ReferenceTrees.exit`) and
/// recorded; when the window ends, the counts at the previous reference's end nodes give the new masses down to
/// there, and only the events of an end node that now holds the limit are partitioned further. Counting every
/// event at every node of its 15-node path as it arrives (the paper's way) gives the same scores and shares, but
/// walks megabytes of counts with a branch per level that the predictor often gets wrong.
/// Splits live in blocks of three levels (`SplitTable`). No allocation per event.
/// Inputs must be scaled to [0, 1] first (`InputScaler`).
public struct HalfSpaceTrees: Sendable {
    /// An inner node's split: events with `x[input] < value` go to the left child.
    struct Split: Sendable, Equatable {
        var value: Double
        var input: Int32
    }

    /// The largest `window`: masses are 16-bit counts.
    public static let maximumWindow = Int(UInt16.max)
    /// The most inputs: a split's input is stored in one byte.
    public static let maximumDimensions = Int(UInt8.max) + 1

    public let trees: Int
    public let height: Int
    public let window: Int
    public let dimensions: Int
    /// Nodes with a reference mass below this end a path (0.1 x window in the paper).
    public let sizeLimit: Double
    private let nodesPerTree: Int
    /// Inner nodes of every tree. Never written after construction, so copies of a model (one per key in
    /// `EntityForestDetector`) share them.
    private let splits: SplitTable
    /// The reference window's nodes that scores read.
    private var reference: ReferenceTrees
    /// Where the next reference is built, kept for its storage.
    private var spare: ReferenceTrees
    /// The current window's events, `dimensions` scaled inputs each, in the order they came.
    private var points: [Double]
    /// Events in `points`.
    private var buffered = 0
    /// Per tree, `window` slots: for each event of the window, the number (left to right) of the end node it
    /// reached in the reference tree, when the tree has tests (`ReferenceTrees.exitStarts`).
    private var exits: [UInt8]
    /// Scratch for building a reference: numbers of points, partitioned down a tree.
    private var order: [UInt16]
    /// Scratch for building a reference: room for one tree's nodes and masses before it is appended
    /// (`ReferenceTrees.build(tree:room:masses:_:)`), made at the first window's end and kept, so that window ends
    /// allocate nothing (4 KB a tree was too much for a temporary allocation on the stack). Not part of the state.
    private var treeRoom: [ReferenceNode] = []
    private var treeRoomMasses: [UInt16] = []
    /// Counts, per node in heap order tree after tree, of current-window events restored from a checkpoint
    /// (which holds counts, not the events); nil when every event of the window is in `points`.
    private var carried: [UInt16]?
    /// The window in `points` has ended and becomes the reference before the next event is scored. Until then
    /// the ended window's walks can still have their shares worked out (`contributions(of:event:into:)`).
    private var referenceDue = false
    /// Events in the current window.
    public private(set) var seenInWindow = 0
    /// Completed windows; the model scores once one reference window exists.
    public private(set) var windows = 0

    /// - Parameter findsEndsByTests: find events' end nodes by tests (`ReferenceTrees.exit`), for speed; without
    ///   them every tree is walked and rebuilt from its window's events alone, and a model holds about half the
    ///   memory (what a model per entity key wants).
    public init(dimensions: Int, trees: Int = 25, height: Int = 15, window: Int = 250, seed: UInt64 = 42, findsEndsByTests: Bool = true) {
        precondition(dimensions > 0 && dimensions <= Self.maximumDimensions && trees > 0 && height > 0 && height <= 20 && window > 0 && window <= Self.maximumWindow)
        self.dimensions = dimensions
        self.trees = trees
        self.height = height
        self.window = window
        self.sizeLimit = 0.1 * Double(window)
        nodesPerTree = (1 << (height + 1)) - 1
        let innerNodes = (1 << height) - 1
        var splits = Array(repeating: Split(value: 0, input: 0), count: trees * innerNodes)
        var rng = SplitMix64(seed: seed)
        var low = [Double](repeating: 0, count: dimensions)
        var high = [Double](repeating: 0, count: dimensions)
        for tree in 0..<trees {
            // The paper's work range: around a random point s, [s - 2 max(s, 1-s), s + 2 max(s, 1-s)].
            for q in 0..<dimensions {
                let s = rng.uniform()
                let r = 2 * Swift.max(s, 1 - s)
                low[q] = s - r
                high[q] = s + r
            }
            Self.build(node: 0, depth: 0, height: height, into: &splits[tree * innerNodes..<(tree + 1) * innerNodes], low: &low, high: &high, rng: &rng)
        }
        self.splits = SplitTable(trees: trees, height: height, heapOrder: splits)
        reference = ReferenceTrees(
            trees: trees, nodesPerTree: ReferenceTrees.nodesPerTree(height: height, window: window, sizeLimit: sizeLimit), usesTests: findsEndsByTests)
        spare = reference
        points = Array(repeating: 0, count: window * dimensions)
        exits = Array(repeating: 0, count: findsEndsByTests ? trees * window : 0)
        order = Array(repeating: 0, count: window)
    }

    /// Approximate bytes a model of this shape holds besides the splits it shares with its copies: the reference
    /// trees at their largest (twice, with tests: the next one is built beside the last) and a window of events.
    public static func bytesPerModel(dimensions: Int, trees: Int, height: Int, window: Int, findsEndsByTests: Bool) -> Int {
        let nodes = ReferenceTrees.nodesPerTree(height: height, window: window, sizeLimit: 0.1 * Double(window))
        // Per tree its nodes with their masses and 16 bytes of indices, and once the room one tree is built in.
        let walked = nodes * (MemoryLayout<ReferenceNode>.stride + 2) + 16
        let room = nodes * (MemoryLayout<ReferenceNode>.stride + 2)
        guard findsEndsByTests else { return trees * walked + room + window * (dimensions * 8 + 2) }
        let tests = ReferenceTrees.testsPerTree(nodesPerTree: nodes)
        let testBytes = tests / 2 * MemoryLayout<ExitTests>.stride + tests * MemoryLayout<TreeWalk>.stride
        return 2 * trees * (walked + testBytes) + room + window * (dimensions * 8 + trees + 2)
    }

    /// Draws the splits of the subtree at `node` (heap order, `splits` indexed from the tree's root).
    private static func build(
        node: Int, depth: Int, height: Int, into splits: inout ArraySlice<Split>, low: inout [Double], high: inout [Double], rng: inout SplitMix64
    ) {
        guard depth < height else { return }
        let q = Int(rng.next() % UInt64(low.count))
        let split = (low[q] + high[q]) / 2
        splits[splits.startIndex + node] = Split(value: split, input: Int32(q))
        let savedHigh = high[q]
        high[q] = split
        build(node: 2 * node + 1, depth: depth + 1, height: height, into: &splits, low: &low, high: &high, rng: &rng)
        high[q] = savedHigh
        let savedLow = low[q]
        low[q] = split
        build(node: 2 * node + 2, depth: depth + 1, height: height, into: &splits, low: &low, high: &high, rng: &rng)
        low[q] = savedLow
    }

    private var currentWindow: UInt32 { UInt32(truncatingIfNeeded: windows) }

    /// The depth of the node numbered `node` in heap order (the root 0, node n's children 2n + 1 and 2n + 2): the
    /// bits of `node + 1` after its leading one are the path from the root.
    @inline(__always) static func depth(ofHeapNode node: Int) -> Int {
        Int.bitWidth &- 1 &- (node &+ 1).leadingZeroBitCount
    }

    /// The split of an inner node (heap order): events with `x[input] < value` go to the left child `2i + 1`.
    public func split(tree: Int, node: Int) -> (input: Int, value: Double) {
        let s = splits[tree: tree, node: node]
        return (Int(s.input), s.value)
    }

    /// The reference mass (events of the previous window) at a node, in heap order (children of `i` are
    /// `2i + 1` and `2i + 2`), where a score can read it; 0 below the nodes whose mass fell under the size limit,
    /// whose counts the model does not keep (no score reads them).
    public func referenceMass(tree: Int, node: Int) -> Double {
        Double(withReference().reference.mass(tree: tree, heap: node) ?? 0)
    }

    /// The latest mass (events of the current window) at a node.
    public func latestMass(tree: Int, node: Int) -> Double {
        Double(withReference().latestCounts()[tree * nodesPerTree + node])
    }

    /// Trees that events walk instead of being tested (`ReferenceTrees.exit`): those whose reference has over 64
    /// end nodes, or all of a model without tests.
    var walkedTrees: Int { reference.exitStarts.filter { $0 < 0 }.count }

    /// True once a reference window exists.
    public var isWarm: Bool { windows > 0 }

    /// Events still to count before the current window ends: the longest run a batch may take when its walks'
    /// shares are wanted afterwards (`contributions(of:event:into:)`).
    public var eventsLeftInWindow: Int { window - seenInWindow }

    /// The largest possible mass score: every event of a window at the deepest level of every tree.
    private var maximum: Double { Double(trees) * Double(window) * Double(1 << height) }

    /// What one tree's walk leaves for the explanation: the end node the event reached (heap order) and the
    /// tree's score. The path's steps and their shortfalls follow from that node's number and the reference trees,
    /// which do not change within a window (`shares`).
    public struct TreeWalk: Sendable, Equatable {
        var end: Int32
        var score: Double
    }

    /// Where `scoreAndLearn(_:walk:)` and `scoreAndLearn(batch:count:scores:walk:)` record events' walks, so
    /// that the inputs' shares of a score are worked out only when wanted (`contributions(of:event:into:)`: an
    /// alert's explanation), not for every event. Made once per model (`makeWalk(events:)`), reused.
    ///
    /// The shares must be asked for before the model counts events of a later window: they are read from the
    /// reference masses of the event's window.
    public struct Walk: Sendable {
        /// Events it holds the walks of at most.
        public let capacity: Int
        /// Per event, `trees` summaries; only the walked trees' are written. A tested tree's follows from the end
        /// node number the model keeps for every event of the window (`exits`), read when shares are asked for:
        /// writing all of them cost every event 25 stores of 16 bytes, 25 KB a run, for the 1 % that alert.
        var trees: [TreeWalk]
        /// Per event, the window it was counted in.
        var windows: [UInt32]
        /// Per event, its place among its window's events: where its tested trees' end nodes are in `exits`.
        var positions: [Int32]
        /// Per event, true when it was scored against a reference window (it has shares).
        public internal(set) var warm: [Bool]
    }

    /// Storage for the walks of up to `events` of this model's events at once.
    public func makeWalk(events: Int = 1) -> Walk {
        precondition(events > 0)
        return Walk(
            capacity: events,
            trees: Array(repeating: TreeWalk(end: 0, score: 0), count: events * trees),
            windows: Array(repeating: 0, count: events),
            positions: Array(repeating: 0, count: events),
            warm: Array(repeating: false, count: events))
    }

    /// True when `walk` was made by a model of this shape.
    private func fits(_ walk: Walk) -> Bool {
        walk.trees.count == walk.capacity * trees && walk.windows.count == walk.capacity && walk.positions.count == walk.capacity
    }

    /// Scores `x` (scaled to [0, 1]) against the reference window, then counts it in the latest window.
    ///
    /// - Parameter contributions: receives, per input, its share of the anomaly score (they sum to it):
    ///   along each tree's path, a split that sends the event to a child holding less than half of the
    ///   parent's reference mass "explains" that shortfall; the shortfalls are credited to the split inputs
    ///   and scaled to the tree's anomaly. An input that keeps routing the event into sparse halves gets the
    ///   credit, which is what a person reads as "this value is unusual".
    /// - Returns: the anomaly score in [0, 1] (0 before the first reference window).
    public mutating func scoreAndLearn(_ x: UnsafeBufferPointer<Double>, contributions: UnsafeMutableBufferPointer<Double>?) -> Double {
        withUnsafeTemporaryAllocation(of: TreeWalk.self, capacity: trees) { walks in
            var score = 0.0
            var warm = false
            var window: UInt32 = 0
            var position: Int32 = 0
            scoreAndLearn(x.baseAddress!, count: 1, scores: &score, trees: walks.baseAddress!, windows: &window, positions: &position, warm: &warm)
            if let contributions {
                testedWalks(at: Int(position), into: walks.baseAddress!)
                shares(trees: UnsafeBufferPointer(walks), warm: warm, into: contributions)
            }
            return score
        }
    }

    /// Scores and counts `x` like `scoreAndLearn(_:contributions:)`, recording its paths in `walk` for
    /// `contributions(of:into:)` instead of working out the shares now.
    /// The walk is recorded as the walk's event 0.
    public mutating func scoreAndLearn(_ x: UnsafeBufferPointer<Double>, walk: inout Walk) -> Double {
        var score = 0.0
        scoreAndLearn(batch: x.baseAddress!, count: 1, scores: &score, walk: &walk)
        return score
    }

    /// Scores and counts `count` events (`points`: `dimensions` scaled values each, in stream order) as that
    /// many calls of `scoreAndLearn(_:walk:)` would, event `e`'s score into `scores[e]` and its walk as the
    /// walk's event `e`, but tree by tree: each tree takes every event of the run before the next tree starts.
    /// The walks' shares can be asked for afterwards only when the run does not go past the window's end
    /// (`eventsLeftInWindow`).
    ///
    /// The result is the same because within one window an event's score reads only the reference counts
    /// (fixed until the window ends) and its counting only adds to the latest ones, so the order in which a
    /// window's events visit the trees does not matter; the run is cut at window ends. One tree's nodes then
    /// stay in the caches for the whole run instead of being fetched again for every event.
    public mutating func scoreAndLearn(batch points: UnsafePointer<Double>, count: Int, scores: UnsafeMutablePointer<Double>, walk: inout Walk) {
        precondition(fits(walk) && count <= walk.capacity, "a walk made by another model's makeWalk(), or too small")
        walk.trees.withUnsafeMutableBufferPointer { trees in
            walk.windows.withUnsafeMutableBufferPointer { windows in
                walk.positions.withUnsafeMutableBufferPointer { positions in
                    walk.warm.withUnsafeMutableBufferPointer { warm in
                        scoreAndLearn(
                            points, count: count, scores: scores, trees: trees.baseAddress!, windows: windows.baseAddress!, positions: positions.baseAddress!,
                            warm: warm.baseAddress!)
                    }
                }
            }
        }
    }

    /// The inputs' shares of the score of the walk's event `event` (see `scoreAndLearn(_:contributions:)`):
    /// the same values, in the same order of arithmetic, as computing them during the walk.
    public func contributions(of walk: Walk, event: Int = 0, into contributions: UnsafeMutableBufferPointer<Double>) {
        precondition(fits(walk) && event >= 0 && event < walk.capacity && contributions.count >= dimensions)
        // The reference masses the walk read are still there: no event of a later window was counted since.
        let window = walk.windows[event]
        precondition(window == currentWindow || (window &+ 1 == currentWindow && seenInWindow == 0), "shares asked after a later window's events")
        let trees = trees
        withUnsafeTemporaryAllocation(of: TreeWalk.self, capacity: trees) { eventWalks in
            walk.trees.withUnsafeBufferPointer { walks in
                _ = eventWalks.initialize(fromContentsOf: walks[event * trees..<(event + 1) * trees])
            }
            testedWalks(at: Int(walk.positions[event]), into: eventWalks.baseAddress!)
            shares(trees: UnsafeBufferPointer(eventWalks), warm: walk.warm[event], into: contributions)
        }
    }

    /// Fills in the walks of the tested trees of the event at `position` in the current window (or in the window
    /// just ended, before the next one starts): the end nodes its tests found, kept in `exits`.
    private func testedWalks(at position: Int, into walks: UnsafeMutablePointer<TreeWalk>) {
        for tree in 0..<trees where reference.exitStarts[tree] >= 0 {
            walks[tree] = reference.exits[Int(reference.exitStarts[tree]) + Int(exits[tree * window + position])]
        }
    }

    /// The walk itself, for a run of `count` events in stream order (`points`: `dimensions` values each), tree by
    /// tree: each event's score into `scores[e]`, the window it was counted in into `windows[e]` and its place
    /// among the window's events into `positions[e]`, whether it was scored against a reference window into
    /// `warm[e]`, and per walked tree the end node it reached and its score there (`trees`: at `e * trees + t`;
    /// the tested trees' follow from `exits`, `testedWalks(at:into:)`); then the events join the window. A single
    /// event is a run of one.
    private mutating func scoreAndLearn(
        _ input: UnsafePointer<Double>, count: Int, scores: UnsafeMutablePointer<Double>, trees walks: UnsafeMutablePointer<TreeWalk>,
        windows eventWindows: UnsafeMutablePointer<UInt32>, positions: UnsafeMutablePointer<Int32>, warm: UnsafeMutablePointer<Bool>
    ) {
        let (trees, dimensions, maximum) = (trees, dimensions, maximum)
        var start = 0
        while start < count {
            if referenceDue { makeReference() }
            let end = Swift.min(count, start + window - seenInWindow)
            let isWarm = windows > 0
            let current = currentWindow
            let (window, first) = (window, buffered)
            for e in start..<end {
                scores[e] = 0
                warm[e] = isWarm
                eventWindows[e] = current
                positions[e] = Int32(truncatingIfNeeded: first &+ e &- start)
            }
            reference.nodes.withUnsafeBufferPointer { nodes in
                reference.tests.withUnsafeBufferPointer { tests in
                    reference.exits.withUnsafeBufferPointer { ends in
                        exits.withUnsafeMutableBufferPointer { exits in
                            for tree in 0..<trees {
                                let exitStart = Int(reference.exitStarts[tree])
                                guard exitStart >= 0 else {
                                    // Walked: over 64 end nodes, or a model without tests.
                                    let root = Int(reference.roots[tree])
                                    for e in start..<end {
                                        let treeWalk = Self.walkTree(input + e * dimensions, nodes: nodes.baseAddress!, root: root)
                                        scores[e] += treeWalk.score
                                        walks[e * trees + tree] = treeWalk
                                    }
                                    continue
                                }
                                let testStart = Int(reference.testStarts[tree])
                                let (treeTests, pairs) = (tests.baseAddress! + testStart / 2, (Int(reference.testStarts[tree + 1]) - testStart + 1) / 2)
                                let (treeEnds, treeExits) = (ends.baseAddress! + exitStart, exits.baseAddress! + tree * window + first - start)
                                // Four events at a time (the tests loaded once for all four), then the rest one by one.
                                var e = start
                                while e &+ 3 < end {
                                    let point = input + e * dimensions
                                    let found = ReferenceTrees.exits(
                                        point, point + dimensions, point + 2 * dimensions, point + 3 * dimensions, tests: treeTests, pairs: pairs)
                                    for lane in 0..<4 {
                                        treeExits[e &+ lane] = UInt8(truncatingIfNeeded: found[lane])
                                        scores[e &+ lane] += treeEnds[found[lane]].score
                                    }
                                    e &+= 4
                                }
                                while e < end {
                                    let exit = ReferenceTrees.exit(input + e * dimensions, tests: treeTests, pairs: pairs)
                                    treeExits[e] = UInt8(truncatingIfNeeded: exit)
                                    scores[e] += treeEnds[exit].score
                                    e &+= 1
                                }
                            }
                        }
                    }
                }
            }
            for e in start..<end { scores[e] = isWarm ? Swift.max(0, 1 - scores[e] / maximum) : 0 }
            points.withUnsafeMutableBufferPointer { points in
                (points.baseAddress! + buffered * dimensions).update(from: input + start * dimensions, count: (end - start) * dimensions)
            }
            buffered += end - start
            seenInWindow += end - start
            if seenInWindow >= window {
                // The window becomes the reference when the next event comes: until then its walks' shares can
                // still be read from the trees they were scored against.
                seenInWindow = 0
                windows += 1
                referenceDue = true
            }
            start = end
        }
    }

    /// One tree's walk for `x` from the reference node `root`: the end node it reaches (its number in heap order)
    /// and the tree's score there, `reference(node) * 2^depth` at the first node whose reference mass is below
    /// `sizeLimit` (or the leaf).
    @inline(__always) private static func walkTree(_ x: UnsafePointer<Double>, nodes: UnsafePointer<ReferenceNode>, root: Int) -> TreeWalk {
        var node = nodes[root]
        while !node.isEnd {
            // A branch, not a select: the branch predictor then fetches the child while the comparison waits for
            // `x`. Wrapping arithmetic: node indices are far below 2^31.
            let left = Int(truncatingIfNeeded: node.next)
            if x[Int(truncatingIfNeeded: node.input)] < node.value {
                node = nodes[left]
            } else {
                node = nodes[left &+ 1]
            }
        }
        return TreeWalk(end: node.next, score: node.value)
    }

    /// Makes the window of events in `points` (and any counts carried over from a checkpoint) the reference:
    /// each tree's reference nodes rebuilt by partitioning the events down it as far as scores can read.
    private mutating func makeReference() {
        let shape = ReferenceTrees.Shape(height: height, sizeLimit: sizeLimit, dimensions: dimensions)
        let (trees, nodesPerTree, buffered, root, splits, window) = (trees, nodesPerTree, buffered, splits.root, splits, window)
        // With tests, the next trees are built beside the last ones, from where the events ended in them;
        // without, in place, from the events alone.
        let usesTests = reference.usesTests
        let previous = usesTests ? reference : nil
        if usesTests { spare.removeAll() } else { reference.removeAll() }
        let (hasCarried, carriedCounts) = (carried != nil, carried ?? [])
        if treeRoom.count < reference.nodesPerTree {
            treeRoom = Array(repeating: ReferenceNode(value: 0, input: -1, next: 0), count: reference.nodesPerTree)
            treeRoomMasses = Array(repeating: 0, count: reference.nodesPerTree)
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 64) { exitCounts in
            points.withUnsafeBufferPointer { points in
                exits.withUnsafeBufferPointer { exits in
                    order.withUnsafeMutableBufferPointer { order in
                        carriedCounts.withUnsafeBufferPointer { carriedCounts in
                            treeRoom.withUnsafeMutableBufferPointer { room in
                                treeRoomMasses.withUnsafeMutableBufferPointer { roomMasses in
                                    let carriedBase = hasCarried ? carriedCounts.baseAddress : nil
                                    for tree in 0..<trees {
                                        let carried = carriedBase.map { $0 + tree * nodesPerTree }
                                        if let previous, previous.exitStarts[tree] >= 0 {
                                            // Where the window's events ended in the previous tree gives the masses down to there.
                                            let treeExits = exits.baseAddress! + tree * window
                                            for end in 0..<64 { exitCounts[end] = 0 }
                                            for e in 0..<buffered { exitCounts[Int(treeExits[e])] &+= 1 }
                                            var test = Int(previous.testStarts[tree])
                                            let (old, nodeCount) = (Int(previous.roots[tree]), previous.nodeCount(tree: tree))
                                            let pairs = (Int(previous.testStarts[tree + 1]) - test) / 2
                                            let fits = ReferenceTrees.reading(previous) { previous in
                                                spare.build(tree: tree, room: room.baseAddress!, masses: roomMasses.baseAddress!) { writer in
                                                    if carried == nil,
                                                        writer.reweigh(
                                                            from: previous, old: old, nodeCount: nodeCount, tests: previous.tests.unsafelyUnwrapped + test / 2,
                                                            pairs: pairs, shape: shape, exitCounts: UnsafePointer(exitCounts.baseAddress!))
                                                    {
                                                        return
                                                    }
                                                    writer.rebuild(
                                                        0, heap: 0, depth: 0, place: root, from: previous, old: old, first: 0, test: &test, shape: shape,
                                                        splits: splits.tree(tree),
                                                        window: ReferenceTrees.Window(
                                                            points: points.baseAddress!, count: buffered, exits: treeExits,
                                                            exitCounts: UnsafePointer(exitCounts.baseAddress!), carried: carried, order: order.baseAddress!))
                                                }
                                            }
                                            precondition(fits, "a window's tree has at most nodesPerTree nodes")
                                            continue
                                        }
                                        for i in 0..<buffered { order[i] = UInt16(truncatingIfNeeded: i) }
                                        func build(_ trees: inout ReferenceTrees) {
                                            let fits = trees.build(tree: tree, room: room.baseAddress!, masses: roomMasses.baseAddress!) { writer in
                                                writer.build(
                                                    0, heap: 0, depth: 0, place: root, lo: 0, hi: buffered, shape: shape, splits: splits.tree(tree),
                                                    points: points.baseAddress!, order: order.baseAddress!, carried: carried)
                                            }
                                            precondition(fits, "a window's tree has at most nodesPerTree nodes")
                                        }
                                        if usesTests { build(&spare) } else { build(&reference) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if usesTests { swap(&reference, &spare) }
        self.buffered = 0
        carried = nil
        referenceDue = false
    }

    /// This model with a due reference made (a copy when it is due): what its state is, seen from outside.
    private func withReference() -> HalfSpaceTrees {
        guard referenceDue else { return self }
        var copy = self
        copy.makeReference()
        return copy
    }

    /// The current window's counts at every node, tree after tree in heap order: the events in `points` walked
    /// to the leaves, over any counts carried from a checkpoint. Only on a model whose reference is made.
    private func latestCounts() -> [UInt16] {
        precondition(!referenceDue)
        var counts = carried ?? Array(repeating: 0, count: trees * nodesPerTree)
        for tree in 0..<trees {
            let treeSplits = splits.tree(tree)
            for p in 0..<buffered {
                var (node, place) = (0, splits.root)
                counts[tree * nodesPerTree] += 1
                for _ in 0..<height {
                    let split = SplitTable.split(treeSplits, at: place)
                    let side = points[p * dimensions + split.input] < split.value ? 0 : 1
                    place.descend(side)
                    node = 2 * node + 1 + side
                    counts[tree * nodesPerTree + node] += 1
                }
            }
        }
        return counts
    }

    /// Each tree's share of the anomaly score, spread over the inputs of the splits on its path before the node
    /// its score was taken at. A split "explains" how far the child the event went to fell short of half its
    /// parent's reference mass; the tree's anomaly is shared in proportion (evenly when nothing fell short). The
    /// path is walked again to the recorded end node through the reference trees the walk read (they change only
    /// when a later window's events are counted).
    private func shares(trees walks: UnsafeBufferPointer<TreeWalk>, warm: Bool, into contributions: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<dimensions { contributions[i] = 0 }
        guard warm else { return }
        let height = height
        withUnsafeTemporaryAllocation(of: (input: Int, shortfall: Double).self, capacity: height) { path in
            for tree in 0..<trees {
                let walk = walks[tree]
                // The node at depth d is the number the first d + 1 bits of `end + 1` make, less one.
                let route = Int(walk.end) + 1
                let endDepth = Self.depth(ofHeapNode: Int(walk.end))
                var index = Int(reference.roots[tree])
                var depth = 0
                var steps = 0
                var shortfallTotal = 0.0
                var mass = Double(reference.masses[index])
                while !reference.nodes[index].isEnd {
                    let side = (route >> (endDepth - depth - 1)) & 1
                    let child = Int(reference.nodes[index].next) + side
                    let next = Double(reference.masses[child])
                    let shortfall = Swift.max(0, mass / 2 - next)
                    path[steps] = (Int(reference.nodes[index].input), shortfall)
                    steps += 1
                    shortfallTotal += shortfall
                    index = child
                    mass = next
                    depth += 1
                }
                guard steps > 0 else { continue }
                let treeAnomaly = (1 - walk.score / (Double(window) * Double(1 << height))) / Double(trees)
                for k in 0..<steps {
                    let share = shortfallTotal > 0 ? path[k].shortfall / shortfallTotal : 1 / Double(steps)
                    contributions[path[k].input] += treeAnomaly * share
                }
            }
        }
    }
}

extension HalfSpaceTrees: Equatable {
    public static func == (a: HalfSpaceTrees, b: HalfSpaceTrees) -> Bool {
        guard a.dimensions == b.dimensions, a.trees == b.trees, a.height == b.height, a.window == b.window,
            a.seenInWindow == b.seenInWindow, a.windows == b.windows, a.splits.hasSameSplits(as: b.splits)
        else { return false }
        let (x, y) = (a.withReference(), b.withReference())
        return x.reference == y.reference && x.latestCounts() == y.latestCounts()
    }
}

extension HalfSpaceTrees: BinaryStateRepresentable {
    /// Written as plain arrays (split inputs, split values, reference and latest masses), the format of
    /// version 1, whatever the layout in memory. Reference masses no score can read are written as 0.
    public func write(to w: inout BinaryWriter) {
        let model = withReference()
        w.write(dimensions); w.write(trees); w.write(height); w.write(window)
        let heapOrder = splits.heapOrder
        w.write(heapOrder.map(\.input)); w.write(heapOrder.map(\.value))
        var reference = [Float](repeating: 0, count: trees * nodesPerTree)
        for tree in 0..<trees {
            model.reference.forEachMass(tree: tree) { heap, mass in reference[tree * nodesPerTree + heap] = Float(mass) }
        }
        w.write(reference); w.write(model.latestCounts().map { Float($0) })
        w.write(seenInWindow); w.write(windows)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        try self.init(from: &r, findsEndsByTests: true)
    }

    /// Restores a model written by `write(to:)`, finding end nodes by tests or not (see `init(dimensions:…)`).
    public init(from r: inout BinaryReader, findsEndsByTests: Bool) throws(StateError) {
        dimensions = try r.readInt(); trees = try r.readInt(); height = try r.readInt(); window = try r.readInt()
        guard dimensions > 0, dimensions <= Self.maximumDimensions, trees > 0, (1...20).contains(height), window > 0, window <= Self.maximumWindow else {
            throw StateError("half-space trees: bad shape")
        }
        sizeLimit = 0.1 * Double(window)
        nodesPerTree = (1 << (height + 1)) - 1
        let splitInput = try r.readInt32s(), splitValue = try r.readDoubles(), referenceMasses = try r.readFloats(), latest = try r.readFloats()
        seenInWindow = try r.readInt(); windows = try r.readInt()
        let (inner, dimensions) = (trees * ((1 << height) - 1), dimensions)
        let isCount = { (m: Float) in m >= 0 && m <= Float(UInt16.max) && m.rounded() == m }
        guard splitInput.count == inner, splitValue.count == inner, referenceMasses.count == trees * nodesPerTree, latest.count == referenceMasses.count,
            splitInput.allSatisfy({ $0 >= 0 && Int($0) < dimensions }), referenceMasses.allSatisfy(isCount), latest.allSatisfy(isCount), windows >= 0,
            seenInWindow >= 0, seenInWindow < window
        else { throw StateError("half-space trees: inconsistent arrays") }
        let splits = SplitTable(trees: trees, height: height, heapOrder: zip(splitValue, splitInput).map { Split(value: $0, input: $1) })
        self.splits = splits
        let shape = ReferenceTrees.Shape(height: height, sizeLimit: sizeLimit, dimensions: dimensions)
        var reference = ReferenceTrees(
            trees: trees, nodesPerTree: ReferenceTrees.nodesPerTree(height: height, window: window, sizeLimit: sizeLimit), usesTests: findsEndsByTests)
        reference.removeAll()
        let counts = referenceMasses.map { UInt16($0) }
        for tree in 0..<trees {
            let split = { (heap: Int) -> (value: Double, input: Int) in
                let s = splits[tree: tree, node: heap]
                return (s.value, Int(s.input))
            }
            let masses = counts[tree * nodesPerTree..<(tree + 1) * nodesPerTree]
            guard reference.build(tree: tree, { $0.build(0, heap: 0, depth: 0, shape: shape, splits: split, reference: masses) }) else {
                throw StateError("half-space trees: reference masses no window can have")
            }
        }
        self.reference = reference
        spare = reference
        // The window's counts so far, not its events: carried into the reference it becomes.
        carried = latest.contains(where: { $0 != 0 }) ? latest.map { UInt16($0) } : nil
        points = Array(repeating: 0, count: window * dimensions)
        exits = Array(repeating: 0, count: findsEndsByTests ? trees * window : 0)
        order = Array(repeating: 0, count: window)
    }
}

extension SplitMix64 {
    func write(to w: inout BinaryWriter) { w.write(state) }
    init(from r: inout BinaryReader) throws(StateError) { self.init(seed: try r.readUInt64()) }
}
