public import VigilCore

/// Streaming Half-Space Trees (Tan, Ting & Liu, IJCAI 2011).
///
/// Each tree is a complete binary tree of fixed height over the unit cube: every innerNodes node splits one
/// randomly chosen input at the middle of that input's randomly perturbed work range. Each node counts the
/// events that reached it in the current window (`latest`) and in the previous one (`reference`); every `window`
/// events the latest counts become the reference and restart from zero. An event's score in a tree is
/// `reference(node) * 2^depth` at the deepest node it reaches (stopping early where the reference mass falls
/// below `sizeLimit`); sparse regions score low, so the anomaly score is `1 - sum / maximum`.
///
/// Masses live in a flat array (heap order: children of `i` are `2i+1`, `2i+2`), splits in blocks of three levels
/// (`SplitTable`), so scoring is O(trees x height) with no allocation. Inputs must be scaled to [0, 1] first
/// (`InputScaler`).
public struct HalfSpaceTrees: Sendable {
    /// An inner node's split: events with `x[input] < value` go to the left child.
    struct Split: Sendable, Equatable {
        var value: Double
        var input: Int32
    }

    /// A node's counts, rolled over lazily: they belong to window `window`. When a node is next touched in a
    /// later window, its latest count becomes the reference (if that window was the one just before) or both
    /// restart from zero, which is what swapping and zeroing every node at each window's end would do, without
    /// touching the nodes no event reached. Packed in one 64-bit word (window, latest, reference from the low
    /// bits up), so that a walk's step loads and stores a node's counts once.
    struct Mass: Sendable {
        var bits: UInt64

        init(window: UInt32, latest: UInt16, reference: UInt16) {
            bits = UInt64(window) | UInt64(latest) << 32 | UInt64(reference) << 48
        }

        private init(bits: UInt64) { self.bits = bits }

        var window: UInt32 { UInt32(truncatingIfNeeded: bits) }
        var latest: UInt16 { UInt16(truncatingIfNeeded: bits >> 32) }
        var reference: UInt16 { UInt16(truncatingIfNeeded: bits >> 48) }

        @inline(__always) func rolled(to current: UInt32) -> Mass {
            let window = window
            if window == current { return self }
            return Mass(bits: UInt64(current) | (window &+ 1 == current ? (bits >> 32 & 0xFFFF) << 48 : 0))
        }

        /// Rolled to window `current`, with one more event in it.
        @inline(__always) func counted(in current: UInt32) -> Mass {
            Mass(bits: rolled(to: current).bits &+ (1 << 32))
        }
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
    private var masses: [Mass]
    /// Events in the current window.
    public private(set) var seenInWindow = 0
    /// Completed windows; the model scores once one reference window exists.
    public private(set) var windows = 0

    public init(dimensions: Int, trees: Int = 25, height: Int = 15, window: Int = 250, seed: UInt64 = 42) {
        precondition(dimensions > 0 && dimensions <= Self.maximumDimensions && trees > 0 && height > 0 && height <= 20 && window > 0 && window <= Self.maximumWindow)
        self.dimensions = dimensions
        self.trees = trees
        self.height = height
        self.window = window
        self.sizeLimit = 0.1 * Double(window)
        nodesPerTree = (1 << (height + 1)) - 1
        let innerNodes = (1 << height) - 1
        var splits = Array(repeating: Split(value: 0, input: 0), count: trees * innerNodes)
        masses = Array(repeating: Mass(window: 0, latest: 0, reference: 0), count: trees * nodesPerTree)
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

    /// The split of an inner node (heap order): events with `x[input] < value` go to the left child `2i + 1`.
    public func split(tree: Int, node: Int) -> (input: Int, value: Double) {
        let s = splits[tree: tree, node: node]
        return (Int(s.input), s.value)
    }

    /// The reference mass (events of the previous window) at a node, in heap order (children of `i` are
    /// `2i + 1` and `2i + 2`).
    public func referenceMass(tree: Int, node: Int) -> Double {
        Double(masses[tree * nodesPerTree + node].rolled(to: currentWindow).reference)
    }

    /// The latest mass (events of the current window) at a node.
    public func latestMass(tree: Int, node: Int) -> Double {
        Double(masses[tree * nodesPerTree + node].rolled(to: currentWindow).latest)
    }

    /// True once a reference window exists.
    public var isWarm: Bool { windows > 0 }

    /// Events still to count before the current window ends: the longest run a batch may take when its walks'
    /// shares are wanted afterwards (`contributions(of:event:into:)`).
    public var eventsLeftInWindow: Int { window - seenInWindow }

    /// The largest possible mass score: every event of a window at the deepest level of every tree.
    private var maximum: Double { Double(trees) * Double(window) * Double(1 << height) }

    /// What one tree's walk leaves for the explanation: the leaf the event reached (heap order) and the tree's
    /// score. The path's steps and their shortfalls follow from the leaf and the reference masses, which do not
    /// change within a window (`shares`).
    public struct TreeWalk: Sendable {
        var leaf: Int32
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
        /// Per event, `trees` summaries.
        var trees: [TreeWalk]
        /// Per event, the window it was counted in.
        var windows: [UInt32]
        /// Per event, true when it was scored against a reference window (it has shares).
        public internal(set) var warm: [Bool]
    }

    /// Storage for the walks of up to `events` of this model's events at once.
    public func makeWalk(events: Int = 1) -> Walk {
        precondition(events > 0)
        return Walk(
            capacity: events,
            trees: Array(repeating: TreeWalk(leaf: 0, score: 0), count: events * trees),
            windows: Array(repeating: 0, count: events),
            warm: Array(repeating: false, count: events))
    }

    /// True when `walk` was made by a model of this shape.
    private func fits(_ walk: Walk) -> Bool {
        walk.trees.count == walk.capacity * trees && walk.windows.count == walk.capacity
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
            scoreAndLearn(x.baseAddress!, count: 1, scores: &score, trees: walks.baseAddress!, windows: &window, warm: &warm)
            if let contributions { shares(trees: UnsafeBufferPointer(walks), window: window, warm: warm, into: contributions) }
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
                walk.warm.withUnsafeMutableBufferPointer { warm in
                    scoreAndLearn(points, count: count, scores: scores, trees: trees.baseAddress!, windows: windows.baseAddress!, warm: warm.baseAddress!)
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
        walk.trees.withUnsafeBufferPointer { walks in
            shares(trees: UnsafeBufferPointer(rebasing: walks[event * trees..<(event + 1) * trees]), window: window, warm: walk.warm[event], into: contributions)
        }
    }

    /// The walk itself, for a run of `count` events in stream order (`points`: `dimensions` values each), tree by
    /// tree: each event counted at every node of its path, its score into `scores[e]`, the window it was counted
    /// in into `windows[e]`, whether it was scored against a reference window into `warm[e]`, and per tree its
    /// leaf and score (`trees`: at `e * trees + t`). A single event is a run of one.
    private mutating func scoreAndLearn(
        _ points: UnsafePointer<Double>, count: Int, scores: UnsafeMutablePointer<Double>, trees walks: UnsafeMutablePointer<TreeWalk>,
        windows eventWindows: UnsafeMutablePointer<UInt32>, warm: UnsafeMutablePointer<Bool>
    ) {
        let (trees, height, dimensions, nodesPerTree, sizeLimit, maximum) = (trees, height, dimensions, nodesPerTree, sizeLimit, maximum)
        var start = 0
        while start < count {
            let end = Swift.min(count, start + window - seenInWindow)
            let isWarm = windows > 0
            let current = currentWindow
            for e in start..<end {
                scores[e] = 0
                warm[e] = isWarm
                eventWindows[e] = current
            }
            masses.withUnsafeMutableBufferPointer { masses in
                for tree in 0..<trees {
                    let (treeSplits, treeMasses, root) = (splits.tree(tree), masses.baseAddress! + tree * nodesPerTree, splits.root)
                    for e in start..<end {
                        let treeWalk = Self.walkTree(
                            points + e * dimensions, splits: treeSplits, root: root, masses: treeMasses, current: current, height: height,
                            sizeLimit: sizeLimit)
                        scores[e] += treeWalk.score
                        walks[e * trees + tree] = treeWalk
                    }
                }
            }
            for e in start..<end { scores[e] = isWarm ? Swift.max(0, 1 - scores[e] / maximum) : 0 }
            seenInWindow += end - start
            if seenInWindow >= window {
                // The latest counts become the reference as each node is next touched (`Mass.rolled`); a walk's
                // shares read the masses as of its own window (`shares`).
                seenInWindow = 0
                windows += 1
            }
            start = end
        }
    }

    /// One tree's walk for `x` (`splits`: the tree's first split block, `root` a cursor at its root; `masses`: its
    /// root's mass): counts it at each node of its path and returns the leaf it reached and the tree's score,
    /// `reference(node) * 2^depth` at the first node whose reference mass is below `sizeLimit` (or the leaf).
    @inline(__always) private static func walkTree(
        _ x: UnsafePointer<Double>, splits: UnsafeRawPointer, root: SplitTable.Cursor, masses: UnsafeMutablePointer<Mass>, current: UInt32,
        height: Int, sizeLimit: Double
    ) -> TreeWalk {
        var node = 0
        var place = root
        var depth = 0
        var treeScore = 0.0
        // Down to the node the score is taken at, each node counted and its reference mass read; below it, each
        // node only counted (two loops, so that the deeper steps do not test whether the tree has scored).
        while true {
            let here = masses[node].counted(in: current)
            masses[node] = here
            let mass = Double(here.reference)
            if depth == height || mass < sizeLimit {
                treeScore = mass * Double(1 &<< depth)
                break
            }
            node = child(of: node, x, splits: splits, place: &place)
            depth &+= 1
        }
        while depth < height {
            node = child(of: node, x, splits: splits, place: &place)
            depth &+= 1
            masses[node] = masses[node].counted(in: current)
        }
        return TreeWalk(leaf: Int32(truncatingIfNeeded: node), score: treeScore)
    }

    /// The child of inner node `node` (at `place`) that `x` goes to, `place` moved to it.
    @inline(__always) private static func child(of node: Int, _ x: UnsafePointer<Double>, splits: UnsafeRawPointer, place: inout SplitTable.Cursor) -> Int {
        let split = SplitTable.split(splits, at: place)
        // A branch, not a select: the branch predictor then fetches the child's mass and split while the
        // comparison waits for `x`; a select would put those loads behind it (the walk measured 15 % slower).
        // Wrapping arithmetic here and in `descend`: node numbers stay below 2^(height + 1), and the overflow
        // checks were a fifth of the walk's instructions and nearly half its branches.
        if x[split.input] < split.value {
            place.descend(0)
            return 2 &* node &+ 1
        } else {
            place.descend(1)
            return 2 &* node &+ 2
        }
    }

    /// Each tree's share of the anomaly score, spread over the inputs of the splits on its path before the node
    /// its score was taken at. A split "explains" how far the child the event went to fell short of half its
    /// parent's reference mass; the tree's anomaly is shared in proportion (evenly when nothing fell short). The
    /// path is walked again from the recorded leaf, reading the reference masses of the event's window (`window`),
    /// which are what the walk read: they change only when a later window's events are counted.
    private func shares(trees walks: UnsafeBufferPointer<TreeWalk>, window eventWindow: UInt32, warm: Bool, into contributions: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<dimensions { contributions[i] = 0 }
        guard warm else { return }
        let (height, nodesPerTree, sizeLimit) = (height, nodesPerTree, sizeLimit)
        withUnsafeTemporaryAllocation(of: (input: Int, shortfall: Double).self, capacity: height) { path in
            masses.withUnsafeBufferPointer { masses in
                for tree in 0..<trees {
                    let walk = walks[tree]
                    let (treeSplits, treeMasses) = (splits.tree(tree), masses.baseAddress! + tree * nodesPerTree)
                    // The node at depth d is the number the first d + 1 bits of `leaf + 1` make, less one.
                    let route = Int(walk.leaf) + 1
                    var place = splits.root
                    var node = 0
                    var depth = 0
                    var steps = 0
                    var shortfallTotal = 0.0
                    var mass = Double(treeMasses[0].rolled(to: eventWindow).reference)
                    while depth < height, mass >= sizeLimit {
                        let side = (route >> (height - depth - 1)) & 1
                        let child = 2 * node + 1 + side
                        let next = Double(treeMasses[child].rolled(to: eventWindow).reference)
                        let shortfall = Swift.max(0, mass / 2 - next)
                        path[steps] = (SplitTable.split(treeSplits, at: place).input, shortfall)
                        steps += 1
                        shortfallTotal += shortfall
                        place.descend(side)
                        node = child
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
}

extension HalfSpaceTrees: Equatable {
    public static func == (a: HalfSpaceTrees, b: HalfSpaceTrees) -> Bool {
        guard a.dimensions == b.dimensions, a.trees == b.trees, a.height == b.height, a.window == b.window,
            a.seenInWindow == b.seenInWindow, a.windows == b.windows, a.splits.hasSameSplits(as: b.splits)
        else { return false }
        let (ca, cb) = (a.currentWindow, b.currentWindow)
        for i in a.masses.indices {
            let (x, y) = (a.masses[i].rolled(to: ca), b.masses[i].rolled(to: cb))
            if x.latest != y.latest || x.reference != y.reference { return false }
        }
        return true
    }
}

extension HalfSpaceTrees: BinaryStateRepresentable {
    /// Written as plain arrays (split inputs, split values, reference and latest masses), the format of
    /// version 1, whatever the layout in memory.
    public func write(to w: inout BinaryWriter) {
        w.write(dimensions); w.write(trees); w.write(height); w.write(window)
        let current = currentWindow
        let rolled = masses.map { $0.rolled(to: current) }
        let heapOrder = splits.heapOrder
        w.write(heapOrder.map(\.input)); w.write(heapOrder.map(\.value))
        w.write(rolled.map { Float($0.reference) }); w.write(rolled.map { Float($0.latest) })
        w.write(seenInWindow); w.write(windows)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        dimensions = try r.readInt(); trees = try r.readInt(); height = try r.readInt(); window = try r.readInt()
        guard dimensions > 0, dimensions <= Self.maximumDimensions, trees > 0, (1...20).contains(height), window > 0, window <= Self.maximumWindow else {
            throw StateError("half-space trees: bad shape")
        }
        sizeLimit = 0.1 * Double(window)
        nodesPerTree = (1 << (height + 1)) - 1
        let splitInput = try r.readInt32s(), splitValue = try r.readDoubles(), reference = try r.readFloats(), latest = try r.readFloats()
        seenInWindow = try r.readInt(); windows = try r.readInt()
        let (inner, dimensions) = (trees * ((1 << height) - 1), dimensions)
        let isCount = { (m: Float) in m >= 0 && m <= Float(UInt16.max) && m.rounded() == m }
        guard splitInput.count == inner, splitValue.count == inner, reference.count == trees * nodesPerTree, latest.count == reference.count,
            splitInput.allSatisfy({ $0 >= 0 && Int($0) < dimensions }), reference.allSatisfy(isCount), latest.allSatisfy(isCount), windows >= 0
        else { throw StateError("half-space trees: inconsistent arrays") }
        splits = SplitTable(trees: trees, height: height, heapOrder: zip(splitValue, splitInput).map { Split(value: $0, input: $1) })
        let current = UInt32(truncatingIfNeeded: windows)
        masses = zip(reference, latest).map { Mass(window: current, latest: UInt16($1), reference: UInt16($0)) }
    }
}

extension SplitMix64 {
    func write(to w: inout BinaryWriter) { w.write(state) }
    init(from r: inout BinaryReader) throws(StateError) { self.init(seed: try r.readUInt64()) }
}
