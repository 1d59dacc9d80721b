public import VigilCore
public import VigilFeatures
public import VigilModels

/// Builds the per-thread scoring state a config describes: the secondary-entity feature engine (run in
/// input order, before events are sharded) and the workers' scorers (primary-entity features, detectors,
/// rules, alert policy).
///
/// Splitting it this way makes N workers compute exactly what one worker computes: a primary entity's events
/// all go to one worker in input order, and secondary entities (a merchant seen by many cards) are computed
/// on one thread in input order.
public struct ScoringModel: Sendable {
    public let config: VigilConfiguration

    public init(config: VigilConfiguration) {
        self.config = config
    }

    /// Secondary entities that have features.
    var secondaryEntities: Set<Int> {
        Set(config.features.map(\.entity).filter { $0 != 0 })
    }

    /// The engine for secondary entities' features, or nil when there are none.
    public func makeSecondaryEngine() -> FeatureEngine? {
        let entities = secondaryEntities
        guard !entities.isEmpty else { return nil }
        return FeatureEngine(specs: config.features, tables: config.tables, ownedEntities: entities)
    }

    /// A worker's scorer.
    public func makeScorer() -> EventScorer {
        let features = FeatureEngine(specs: config.features, tables: config.tables, ownedEntities: [0])
        // Per-key z-scores read the slot of the features' index when the primary entity has features (the same
        // bounds, `config.tables[0]`), instead of an index of their own.
        let sharesKeys = features.keyIndex(entity: 0) != nil
        return EventScorer(
            features: features,
            detectors: EntityDetectors(
                specs: config.detectors, maxKeys: config.tables.first?.maxKeys ?? 1, ttlMs: config.tables.first?.ttlMs ?? .max / 4,
                sharesPrimaryKeys: sharesKeys)
        )
    }

    /// The ordered scoring stage: global detectors, calibration, rules and the alert policy.
    public func makeStage() -> ScoringStage {
        ScoringStage(specs: config.detectors, rules: config.rules, policy: config.policy, primaryEntity: 0, maxKeys: config.tables.first?.maxKeys ?? 1)
    }
}

/// A worker's scoring state: primary-entity features and per-entity detectors.
public struct EventScorer: Sendable {
    var features: FeatureEngine
    var detectors: EntityDetectors

    /// Scores the event in `scored` where it lies (a ring slot holding the event and the features computed so far):
    /// completes its features and writes its per-entity result.
    mutating func score(inPlace scored: UnsafeMutablePointer<ScoredEvent>) {
        scored.pointee.result = DetectionResult()
        complete(scored)
    }

    /// Computes the primary-entity features into `scored`'s vector (which holds those computed so far) and runs
    /// the per-entity detectors into its result.
    private mutating func complete(_ scored: UnsafeMutablePointer<ScoredEvent>) {
        let count = features.specs.count
        // The event, features and result are reached through pointers into the slot: `scored.pointee.event` as an
        // argument would copy the whole event (~570 bytes) for each call.
        let raw = UnsafeMutableRawPointer(scored)
        let event = ScoredEvent.event(in: scored)
        let output = UnsafeMutableBufferPointer(start: (raw + ScoredEvent.featuresOffset).assumingMemoryBound(to: Double.self), count: count)
        let result = (raw + ScoredEvent.resultOffset).assumingMemoryBound(to: DetectionResult.self)
        let key = features.process(event, into: output, keyed: 0)
        detectors.process(event, features: UnsafeBufferPointer(output), primaryKey: key, into: &result.pointee)
    }

    /// Starts fetching the state of an event two events ahead: its keys' table entries.
    mutating func prefetchEntries(for event: UnsafePointer<Event>) {
        features.prefetchEntries(for: event)
        detectors.prefetchEntries(for: event)
    }

    /// Starts fetching the state of the next event: its keys' windows and baselines.
    mutating func prefetchState(for event: UnsafePointer<Event>) {
        let slot = features.prefetchState(for: event, keyed: 0)
        detectors.prefetchState(for: event, primarySlot: slot)
    }

    /// Events scored after their partition's watermark.
    public var lateEvents: Int { features.lateEvents }

    public var featureEngine: FeatureEngine { features }

    /// What the primary-entity features hold (nil for kinds this scorer does not own).
    public func usage(entity: Int) -> EntityStateUsage? { features.usage(entity: entity) }
}

extension ScoringStage {
    /// Completes a worker's scored event where it lies (a ring slot): global detectors, calibration, rules,
    /// policy. The event and features are read, and the result written, through pointers into the element, so
    /// none of its ~1.7 kB is copied.
    public mutating func finish(_ scored: UnsafeMutablePointer<ScoredEvent>) {
        let result = (UnsafeMutableRawPointer(scored) + ScoredEvent.resultOffset).assumingMemoryBound(to: DetectionResult.self)
        process(ScoredEvent.event(in: scored), features: ScoredEvent.features(in: scored), result: &result.pointee)
    }

    /// Completes a scored event held in a variable.
    public mutating func finish(_ scored: inout ScoredEvent) {
        withUnsafeMutablePointer(to: &scored) { finish($0) }
    }
}

extension ScoredEvent {
    /// Where the event, the features and the result lie in the element (for `ScoringStage.finish`, the workers and
    /// `Router.prepare`, which read and write them in place). Computed, not stored: the compiler folds each into a
    /// constant, where a stored static was a lazy global checked on every use.
    public static var eventOffset: Int { MemoryLayout<ScoredEvent>.offset(of: \.event)! }
    public static var featuresOffset: Int { MemoryLayout<ScoredEvent>.offset(of: \.features)! }
    static var resultOffset: Int { MemoryLayout<ScoredEvent>.offset(of: \.result)! }

    /// The event of the element at `scored`, to be read where it lies.
    @inline(__always)
    static func event(in scored: UnsafePointer<ScoredEvent>) -> UnsafePointer<Event> {
        UnsafePointer((UnsafeRawPointer(scored) + eventOffset).assumingMemoryBound(to: Event.self))
    }

    /// The feature vector of the element at `scored`, to be read where it lies.
    @inline(__always)
    static func features(in scored: UnsafePointer<ScoredEvent>) -> UnsafeBufferPointer<Double> {
        UnsafeBufferPointer(start: (UnsafeRawPointer(scored) + featuresOffset).assumingMemoryBound(to: Double.self), count: FeatureVector.count)
    }
}

/// Scores events one at a time on the calling thread: the reference the parallel pipeline must equal, and
/// what `vigil replay` runs.
public struct SequentialScorer: Sendable {
    private var router: Router
    private var scorer: EventScorer
    private var stage: ScoringStage
    public init(model: ScoringModel) {
        router = Router(model: model)
        scorer = model.makeScorer()
        stage = model.makeStage()
    }

    /// Scores `event`, returning the scored event (about 1.7 kB).
    public mutating func score(_ event: Event) -> ScoredEvent {
        var scored = ScoredEvent(event: event, features: .undefined, result: DetectionResult(), sequence: 0)
        score(event, into: &scored)
        return scored
    }

    /// Scores `event` into `scored`, which it overwrites: the event is copied into `scored` and scored there, as
    /// the pipeline scores it in its ring slot, where returning the scored event copies it whole on each hand-over.
    public mutating func score(_ event: Event, into scored: inout ScoredEvent) {
        scored.event = event
        withUnsafeMutablePointer(to: &scored) { scored in
            router.prepare(scored)
            scorer.score(inPlace: scored)
            stage.finish(scored)
        }
    }

    /// Scores a run of events the way the pipeline does: each event's features and per-entity detectors (fetching
    /// the state of the events after it ahead, as a worker does), then the run's half-space trees tree by tree
    /// (`ScoringStage.prepareTrees`: one tree's nodes stay in cache for the whole run), then each event's global
    /// detectors, calibration, rules and policy. Takes the first `min(events.count, scored.count,
    /// ScoringStage.preparedCapacity)` events, fewer where a trees' window ends, and returns how many; the results
    /// (written over `scored`, one per event) equal those of scoring the events one by one.
    public mutating func score(run events: UnsafeBufferPointer<Event>, into scored: UnsafeMutableBufferPointer<ScoredEvent>) -> Int {
        let count = Swift.min(events.count, scored.count, stage.treesRunLimit)
        for e in 0..<count { scored[e].event = events[e] }
        return score(runInPlace: UnsafeMutableBufferPointer(rebasing: scored[0..<count]))
    }

    /// `score(run:into:)` for events already in `scored`'s slots (as the pipeline decodes each event into the
    /// slot where it is scored): scores the first events of `scored` in place and returns how many.
    public mutating func score(runInPlace scored: UnsafeMutableBufferPointer<ScoredEvent>) -> Int {
        let count = Swift.min(scored.count, stage.treesRunLimit)
        guard count > 0 else { return 0 }
        let results = scored.baseAddress!
        for e in 0..<count {
            if e + 2 < count { scorer.prefetchEntries(for: ScoredEvent.event(in: results + e + 2)) }
            if e + 1 < count { scorer.prefetchState(for: ScoredEvent.event(in: results + e + 1)) }
            router.prepare(results + e)
            scorer.score(inPlace: results + e)
        }
        stage.prepareTrees(count: count) { e in (ScoredEvent.event(in: results + e), ScoredEvent.features(in: results + e)) }
        for e in 0..<count { stage.finish(results + e) }
        return count
    }

    /// Keys of entity kind `entity` holding feature state now (whichever engine computes that kind).
    public func activeKeys(entity: Int) -> Int {
        let engines = [scorer.features] + (router.secondaryEngine.map { [$0] } ?? [])
        return engines.lazy.compactMap { $0.usage(entity: entity)?.keys }.first ?? 0
    }

    /// Bytes of state one key of entity kind `entity` is declared to hold, store by store: its features (with
    /// the key index) and its per-key detectors.
    public func declaredBytesPerKey(entity: Int) -> [(store: String, bytes: Int)] {
        let engines = [scorer.features] + (router.secondaryEngine.map { [$0] } ?? [])
        let features = engines.lazy.map { $0.bytesPerKeyByStore(entity: entity) }.first { !$0.isEmpty } ?? []
        return features + scorer.detectors.bytesPerKeyByDetector(entity: entity).map { (store: $0.detector, bytes: $0.bytes) }
    }

    /// Feeds a delayed label to the supervised detectors.
    public mutating func learnLabel(eventID: EventID, label: Bool) {
        stage.learnLabel(eventID: eventID, label: label)
    }

    public var labelCounts: (joined: Int, unknown: Int) { stage.labelCounts }
}

extension EventScorer: EnvelopedState {
    public static let stateKind = "event-scorer"
    public static let stateVersion: UInt64 = 1

    /// The scorer's learned state (primary-entity windows, per-entity detectors) for a checkpoint.
    public func writeState(to w: inout BinaryWriter) {
        features.saveState(to: &w)
        detectors.saveState(to: &w)
    }

    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        var restoredFeatures = features
        var restoredDetectors = detectors
        try restoredFeatures.restoreState(from: &r)
        try restoredDetectors.restoreState(from: &r, primaryKeys: restoredFeatures.keyIndex(entity: 0))
        guard r.isAtEnd else { throw StateError("trailing bytes in event-scorer state") }
        features = restoredFeatures
        detectors = restoredDetectors
    }
}

extension SequentialScorer: EnvelopedState {
    public static let stateKind = "sequential-scorer"
    public static let stateVersion: UInt64 = 1

    /// Everything learned so far — secondary and primary windows, per-entity and global detectors, calibration.
    public func writeState(to w: inout BinaryWriter) {
        router.saveState(to: &w)
        scorer.saveState(to: &w)
        stage.saveState(to: &w)
    }

    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        var copy = self
        try copy.router.restoreState(from: &r)
        try copy.scorer.restoreState(from: &r)
        try copy.stage.restoreState(from: &r)
        guard r.isAtEnd else { throw StateError("trailing bytes in sequential-scorer state") }
        self = copy
    }
}
