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
        EventScorer(
            features: FeatureEngine(specs: config.features, tables: config.tables, ownedEntities: [0]),
            detection: makeDetectionEngine()
        )
    }

    func makeDetectionEngine() -> DetectionEngine {
        let zScores = config.detectors.map { d in
            DetectionEngine.ZScoreEntry(
                name: d.name,
                weight: d.weight,
                detector: RobustZScoreDetector(
                    field: d.field,
                    entity: d.entity,
                    window: d.window,
                    minSamples: d.minSamples,
                    maxKeys: d.entity.map { config.tables[$0].maxKeys } ?? 1,
                    ttlMs: d.entity.map { config.tables[$0].ttlMs } ?? .max / 4
                )
            )
        }
        return DetectionEngine(rules: config.rules, zScores: zScores, policy: config.policy, primaryEntity: 0, maxKeys: config.tables[0].maxKeys)
    }
}

/// A worker's scoring state: primary-entity features, then detectors, rules and the alert policy.
public struct EventScorer: Sendable {
    var features: FeatureEngine
    public private(set) var detection: DetectionEngine

    /// Completes the item's feature vector and scores it.
    public mutating func score(_ item: WorkItem) -> ScoredEvent {
        var vector = item.features
        let count = features.specs.count
        let result: DetectionResult = vector.withUnsafeMutableBufferPointer { buffer in
            let live = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            features.process(item.event, into: live)
            return detection.process(item.event, features: UnsafeBufferPointer(live))
        }
        return ScoredEvent(event: item.event, features: vector, result: result)
    }

    /// Events scored after their partition's watermark.
    public var lateEvents: Int { features.lateEvents }

    public var featureEngine: FeatureEngine { features }

    /// Replaces rules, detector weights and the alert policy (hot reload), keeping all state.
    public mutating func reconfigure(rules: [Rule], weights: [String: Double], policy: AlertPolicy) {
        detection.reconfigure(rules: rules, weights: weights, policy: policy)
    }
}

/// Scores events one at a time on the calling thread: the reference the parallel pipeline must equal, and
/// what `vigil replay` runs.
public struct SequentialScorer: Sendable {
    private var secondary: FeatureEngine?
    private var scorer: EventScorer
    private let featureCount: Int

    public init(model: ScoringModel) {
        secondary = model.makeSecondaryEngine()
        scorer = model.makeScorer()
        featureCount = model.config.features.count
    }

    public mutating func score(_ event: Event) -> ScoredEvent {
        var item = WorkItem(event: event)
        if secondary != nil {
            item.features.withUnsafeMutableBufferPointer { buffer in
                secondary!.process(event, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<featureCount]))
            }
        }
        return scorer.score(item)
    }
}
