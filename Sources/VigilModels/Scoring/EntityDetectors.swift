public import VigilCore

/// The per-entity detectors of one worker: those kept per key of the primary entity. Each scores the events of
/// the keys that worker owns, so their state is sharded like the primary entity's features.
public struct EntityDetectors: Sendable {
    private var zScores: [(index: Int, input: DetectorInput, detector: RobustZScoreDetector)] = []
    private var forests: [(index: Int, detector: EntityForestDetector)] = []

    /// - Parameters:
    ///   - specs: every configured detector; only those kept per key of `primaryEntity` are run here.
    ///   - maxKeys, ttlMs: the primary entity's state bounds (z-scores; forests carry their own key limit).
    public init(specs: [DetectorSpec], maxKeys: Int, ttlMs: Int64, primaryEntity: Int = 0) {
        for (index, spec) in specs.enumerated() where spec.runsOnWorkers(primaryEntity: primaryEntity) {
            switch spec.kind {
            case .robustZScore(let input, let entity, let window, let minSamples):
                let field = if case .numericField(let f) = input { f } else { -1 }
                zScores.append((index, input, RobustZScoreDetector(field: field, entity: entity, window: window, minSamples: minSamples, maxKeys: maxKeys, ttlMs: ttlMs)))
            case .halfSpaceTrees, .randomCutForest:
                guard let perEntity = spec.perEntity else { continue }
                forests.append((index, EntityForestDetector(kind: spec.kind, entity: perEntity.entity, maxKeys: perEntity.maxKeys, ttlMs: perEntity.ttlMs)))
            case .supervised:
                continue
            }
        }
    }

    /// Starts fetching the per-key z-score baselines `process` will read for `event`, two events ahead.
    public mutating func prefetchEntries(for event: Event) {
        for i in zScores.indices { zScores[i].detector.prefetchEntry(event) }
    }

    /// Starts fetching them one event ahead.
    public mutating func prefetchState(for event: Event) {
        for i in zScores.indices { zScores[i].detector.prefetchState(event) }
    }

    /// Writes the raw scores, details, warm bits and (for forests) the strongest inputs into `result`.
    public mutating func process(_ event: Event, features: UnsafeBufferPointer<Double>, into result: inout DetectionResult) {
        for i in zScores.indices {
            let r = zScores[i].detector.process(event, value: zScores[i].input.value(event: event, features: features))
            let index = zScores[i].index
            guard r.isWarm else { continue }
            result.rawScores[index] = r.score
            result.details[index] = r.z
            result.warmDetectors |= 1 << UInt8(index)
        }
        var reasons = 0
        for i in forests.indices {
            guard let score = forests[i].detector.process(event, features: features) else { continue }
            let index = forests[i].index
            result.rawScores[index] = score
            result.warmDetectors |= 1 << UInt8(index)
            reasons = forests[i].detector.strongestInputs(event, features: features, detector: index, into: &result.workerReasons, from: reasons, count: 2)
        }
    }

    /// Keys holding a model, per forest detector (by detector index).
    /// Bytes these detectors hold per key of entity kind `entity` (z-score baselines, per-key forests).
    public func bytesPerKey(entity: Int) -> Int {
        bytesPerKeyByDetector(entity: entity).reduce(0) { $0 + $1.bytes }
    }

    /// Where those bytes go, one entry per detector.
    public func bytesPerKeyByDetector(entity: Int) -> [(detector: String, bytes: Int)] {
        zScores.filter { $0.detector.entity == entity }.map { ("robust z-score (\($0.detector.window) values)", $0.detector.bytesPerKey) }
            + forests.filter { $0.detector.entity == entity }.map { ("per-key forest", $0.detector.bytesPerKey) }
    }

    public var forestKeyCounts: [(detector: Int, keys: Int)] { forests.map { ($0.index, $0.detector.keyCount) } }
}

extension EntityDetectors: EnvelopedState {
    public static let stateKind = "entity-detectors"
    /// The version of the per-entity detectors' serialised state.
    public static let stateVersion: UInt64 = 1

    /// Every key's baselines and models.
    public func writeState(to w: inout BinaryWriter) {
        w.write(zScores.count)
        for z in zScores {
            w.write(z.index)
            z.detector.write(to: &w)
        }
        w.write(forests.count)
        for f in forests {
            w.write(f.index)
            f.detector.write(to: &w)
        }
    }

    /// Reads what `writeState` wrote into detectors built from the same specs; on error nothing changes.
    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        var copy = self
        guard try r.readInt() == zScores.count else { throw StateError("saved per-entity z-scores differ from the configured ones") }
        for i in copy.zScores.indices {
            guard try r.readInt() == zScores[i].index else { throw StateError("saved per-entity z-scores are in another order") }
            copy.zScores[i].detector = try RobustZScoreDetector(from: &r)
        }
        guard try r.readInt() == forests.count else { throw StateError("saved per-entity forests differ from the configured ones") }
        for i in copy.forests.indices {
            guard try r.readInt() == forests[i].index else { throw StateError("saved per-entity forests are in another order") }
            try copy.forests[i].detector.restore(from: &r)
        }
        guard r.isAtEnd else { throw StateError("trailing bytes in entity-detectors state") }
        self = copy
    }
}
