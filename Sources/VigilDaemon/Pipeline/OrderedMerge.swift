public import VigilCore
public import VigilModels

/// Merges the workers' output rings back into input order (by the router's sequence numbers) and runs the
/// scoring stage on each event in that order. Used by the output thread; single-threaded.
///
/// Each worker's outputs are already in order, so the next event is always at the head of one ring: no
/// buffering is needed, and a missing sequence number just means its worker has not finished it yet.
public struct OrderedMerge: Sendable {
    private let outputs: [SPSCRing<ScoredEvent>.Consumer]
    private var stage: ScoringStage
    public private(set) var nextSequence: UInt64 = 0

    public init(outputs: [SPSCRing<ScoredEvent>.Consumer], stage: ScoringStage) {
        self.outputs = outputs
        self.stage = stage
    }

    /// Hands up to `max` events, in input order and finished by the stage, to `body`; returns how many.
    /// Checkpoint markers pass through in their place, untouched by the stage, and end the batch. Each event is
    /// finished and handed over where it lies in its ring (no copy of the ~1.3 kB element).
    public mutating func drain(max: Int = 256, _ body: (borrowing ScoredEvent) -> Void) -> Int {
        var handled = 0
        var idleRings = 0
        var ring = 0
        while handled < max, idleRings < outputs.count {
            guard let scored = outputs[ring].first(), scored.pointee.sequence == nextSequence else {
                idleRings += 1
                ring = (ring + 1) % outputs.count
                continue
            }
            let isEvent = scored.pointee.control == .event
            if isEvent { stage.finish(scored) }
            nextSequence += 1
            handled += 1
            idleRings = 0
            body(scored.pointee)
            outputs[ring].removeFirst()
            // A checkpoint marker ends the batch, so the caller can snapshot the stage before any later event.
            if !isEvent { break }
        }
        return handled
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
