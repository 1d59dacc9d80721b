public import VigilCore
public import VigilModels

/// Merges the workers' output rings back into input order (by the router's sequence numbers) and runs the
/// scoring stage on each event in that order. Used by the output thread; single-threaded.
///
/// Each worker's outputs are already in order, so the next event is always at the head of one ring: no
/// buffering is needed, and a missing sequence number just means its worker has not finished it yet.
public struct OrderedMerge: Sendable {
    private let outputs: [SPSCRing<ScoredEvent>.Consumer]
    /// The same ring ends, unretained: `outputs` holds them for the merge's lifetime, and reaching a ring through
    /// `Unmanaged` skips the retain and release (two atomic operations) that taking a class out of an array
    /// costs, several times per event.
    private let rings: [Unmanaged<SPSCRing<ScoredEvent>.Consumer>]
    private var stage: ScoringStage
    public private(set) var nextSequence: UInt64 = 0

    /// The run `drain` works on: each item's ring and its place there (from the ring's first element).
    private var run: [(ring: Int, offset: Int)]
    /// Per ring, items of the run found in it.
    private var taken: [Int]

    public init(outputs: [SPSCRing<ScoredEvent>.Consumer], stage: ScoringStage) {
        self.outputs = outputs
        rings = outputs.map { Unmanaged.passUnretained($0) }
        self.stage = stage
        run = Array(repeating: (0, 0), count: ScoringStage.preparedCapacity)
        taken = Array(repeating: 0, count: outputs.count)
    }

    /// Hands up to `max` events, in input order and finished by the stage, to `body`; returns how many.
    /// Checkpoint markers pass through in their place, untouched by the stage, and end the batch; restore and drop
    /// steps the workers carried out (unsequenced) are removed unseen. Each event is
    /// finished and handed over where it lies in its ring (no copy of the ~1.7 kB element; the pointer is valid
    /// while `body` runs).
    ///
    /// Events are taken in runs of up to `ScoringStage.preparedCapacity`: the run is found first (the rings'
    /// heads, in sequence order, up to a marker or a sequence number not there yet), its half-space trees are
    /// scored together (`ScoringStage.prepareTrees`), then each event is finished and handed over.
    public mutating func drain(max: Int = 256, _ body: (UnsafePointer<ScoredEvent>) -> Void) -> Int {
        var handled = 0
        // A local copy (one retain per call), so that the closures below do not capture `self`.
        let rings = rings
        while handled < max {
            let (count, endsAtMarker) = findRun(max: Swift.min(max - handled, stage.treesRunLimit))
            guard count > 0 else { break }
            // Only the last item can be a marker.
            let events = endsAtMarker ? count - 1 : count
            let run = run
            stage.prepareTrees(count: events) { e in
                let scored = UnsafePointer(rings[run[e].ring]._withUnsafeGuaranteedRef { $0.element(at: run[e].offset)! })
                return (ScoredEvent.event(in: scored), ScoredEvent.features(in: scored))
            }
            for i in 0..<count {
                // The items of the run before this one in its ring have been removed: it is the ring's first.
                let index = run[i].ring
                let scored = rings[index]._withUnsafeGuaranteedRef { $0.first()! }
                if scored.pointee.control == .event { stage.finish(scored) }
                nextSequence += 1
                body(scored)
                rings[index]._withUnsafeGuaranteedRef { $0.removeFirst() }
            }
            handled += count
            // A checkpoint marker ends the batch, so the caller can snapshot the stage before any later event.
            if endsAtMarker { break }
        }
        return handled
    }

    /// Fills `run` with the next items in sequence order, up to `max`, a checkpoint marker (included) or a
    /// sequence number no ring holds yet; returns how many and whether a marker ended it.
    private mutating func findRun(max: Int) -> (count: Int, endsAtMarker: Bool) {
        for ring in taken.indices { taken[ring] = 0 }
        var count = 0
        var sequence = nextSequence
        var idleRings = 0
        var ring = 0
        let rings = rings
        while count < max, idleRings < rings.count {
            let offset = taken[ring]
            let element = rings[ring]._withUnsafeGuaranteedRef { $0.element(at: offset) }
            // A restore or drop step the worker has carried out: nothing for the stage. Removed when at the ring's
            // head; one behind items of this run waits for the next run.
            if let element, element.pointee.sequence == WorkItem.unsequenced, offset == 0 {
                rings[ring]._withUnsafeGuaranteedRef { $0.removeFirst() }
                continue
            }
            guard let scored = element, scored.pointee.sequence == sequence else {
                idleRings += 1
                ring = (ring + 1) % rings.count
                continue
            }
            run[count] = (ring, taken[ring])
            count += 1
            taken[ring] += 1
            sequence += 1
            idleRings = 0
            if scored.pointee.control != .event { return (count, true) }
        }
        return (count, false)
    }

    /// True when every ring is empty.
    public var isEmpty: Bool { outputs.allSatisfy(\.isEmpty) }

    /// Trains the supervised detectors on a delayed label.
    public mutating func learnLabel(eventID: EventID, label: Bool) {
        stage.learnLabel(eventID: eventID, label: label)
    }

    /// Labels joined, and labels whose event was unknown or expired.
    public var labelCounts: (joined: Int, unknown: Int) { stage.labelCounts }

    /// The ordered stage's learned state (global detectors, calibration, cooldowns) for a checkpoint.
    public func saveStageState() -> [UInt8] { stage.saveState() }

    /// Restores the ordered stage from a checkpoint; on error nothing changes.
    public mutating func restoreStageState(_ data: [UInt8]) throws(StateError) {
        try stage.restoreState(data)
    }

    /// Applies new rules, weights, shadow flags and policy (hot reload) from the next event on.
    public mutating func reconfigure(rules: [Rule], weights: [String: Double], shadow: [String: Bool], policy: AlertPolicy) {
        stage.reconfigure(rules: rules, weights: weights, shadow: shadow, policy: policy)
    }
}
