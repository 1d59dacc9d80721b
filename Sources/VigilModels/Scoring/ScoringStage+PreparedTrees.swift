public import VigilCore

/// The global half-space trees' results for a run of events scored ahead (`ScoringStage.prepareTrees`).
struct PreparedTrees: Sendable {
    /// Events of the run, and the next one `process` takes.
    var count = 0
    var next = 0
    /// Per global (by its place in `globals`) and event of the run: the event's row in the trees' batch, or -1
    /// when the global's input ranges were still being learned (the event gets no score from it).
    var rows: [Int32] = []
    /// Per global and row: the trees' raw score.
    var scores: [Double] = []
    /// The scaled inputs of one global's rows.
    var inputs: [Double] = []

    init() {}

    init(globals: Int, dimensions: Int) {
        rows = Array(repeating: -1, count: globals * ScoringStage.preparedCapacity)
        scores = Array(repeating: 0, count: globals * ScoringStage.preparedCapacity)
        inputs = Array(repeating: 0, count: dimensions * ScoringStage.preparedCapacity)
    }
}

extension ScoringStage {
    /// Events `prepareTrees` takes at most.
    public static let preparedCapacity = 64

    /// The longest run `prepareTrees` may take now: up to the end of any half-space trees' window, since an
    /// alert's explanation reads the reference masses of the window its event was counted in.
    public var treesRunLimit: Int {
        var limit = Self.preparedCapacity
        for g in globals.indices where globals[g].kind == .trees { limit = Swift.min(limit, globals[g].trees!.eventsLeftInWindow) }
        return limit
    }

    /// Scores the global half-space trees for the next `count` events (at most `preparedCapacity`) ahead, tree
    /// by tree (`HalfSpaceTrees.scoreAndLearn(batch:count:scores:walk:)`); `input(e)` gives the run's event `e`
    /// and its features. `process` must then be called for exactly these events, in this order: it takes each
    /// one's trees' result instead of walking the trees for it. Results are those of scoring event by event.
    ///
    /// The trees are most of the stage's work, and walking one tree for a run of events keeps its nodes in the
    /// caches, where walking all trees per event fetched them again for every event.
    public mutating func prepareTrees(count: Int, _ input: (Int) -> (event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>)) {
        precondition(prepared.next == prepared.count, "events prepared before were not all processed")
        precondition(count >= 0 && count <= treesRunLimit, "a run past the end of a trees' window")
        prepared.count = 0
        prepared.next = 0
        guard count > 0 else { return }
        var inputs: [Double] = []
        swap(&inputs, &prepared.inputs)
        defer { swap(&inputs, &prepared.inputs) }
        for g in globals.indices where globals[g].kind == .trees {
            let n = globals[g].inputs.count
            var rows = 0
            inputs.withUnsafeMutableBufferPointer { batch in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { x in
                    // The inputs' lines are fetched a few events ahead: each slot was just written on another core,
                    // and one event's lines after another's were a cross-core miss each, one at a time.
                    let detectorInputs = globals[g].inputs
                    detectorInputs.withUnsafeBufferPointer { detectorInputs in
                        for e in 0..<Swift.min(count, Self.gatherDistance) { Self.prefetch(detectorInputs, input(e)) }
                    }
                    for e in 0..<count {
                        if e + Self.gatherDistance < count {
                            detectorInputs.withUnsafeBufferPointer { Self.prefetch($0, input(e + Self.gatherDistance)) }
                        }
                        let (event, features) = input(e)
                        for k in 0..<n { x[k] = globals[g].inputs[k].value(event: event, features: features) }
                        let row = UnsafeMutableBufferPointer(rebasing: batch[rows * n..<(rows + 1) * n])
                        guard globals[g].scaler!.observeAndScale(UnsafeBufferPointer(x), into: row) else {
                            prepared.rows[g * Self.preparedCapacity + e] = -1
                            continue
                        }
                        prepared.rows[g * Self.preparedCapacity + e] = Int32(rows)
                        rows += 1
                    }
                }
                prepared.scores.withUnsafeMutableBufferPointer { scores in
                    globals[g].trees!.scoreAndLearn(
                        batch: UnsafePointer(batch.baseAddress!), count: rows, scores: scores.baseAddress! + g * Self.preparedCapacity, walk: &treeWalks[g]!)
                }
            }
        }
        prepared.count = count
    }

    /// How many events ahead `prepareTrees` fetches the inputs it gathers.
    static let gatherDistance = 4

    /// Starts loading the lines of one event's `inputs` (the event and its features as `input` gives them).
    @inline(__always) private static func prefetch(
        _ inputs: UnsafeBufferPointer<DetectorInput>, _ input: (event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>)
    ) {
        for k in inputs.indices { inputs[k].prefetch(event: input.event, features: input.features) }
    }
}
