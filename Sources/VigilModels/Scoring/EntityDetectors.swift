public import VigilCore

/// The per-entity detectors of one worker: those kept per key of the primary entity. Each scores the events of
/// the keys that worker owns, so their state is sharded like the primary entity's features.
public struct EntityDetectors: Sendable {
    private var zScores: [(index: Int, input: DetectorInput, detector: RobustZScoreDetector)] = []
    private var forests: [(index: Int, detector: EntityForestDetector)] = []

    /// - Parameters:
    ///   - specs: every configured detector; only those kept per key of `primaryEntity` are run here.
    ///   - maxKeys, ttlMs: the primary entity's state bounds (z-scores; forests carry their own key limit).
    ///   - sharesPrimaryKeys: the z-scores take each event's slot from the caller's key index of the primary
    ///     entity (the features'), handed to `process` as `primaryKey`, instead of keeping an index each.
    public init(specs: [DetectorSpec], maxKeys: Int, ttlMs: Int64, primaryEntity: Int = 0, sharesPrimaryKeys: Bool = false) {
        for (index, spec) in specs.enumerated() where spec.runsOnWorkers(primaryEntity: primaryEntity) {
            switch spec.kind {
            case .robustZScore(let input, let entity, let window, let minSamples):
                let field = if case .numericField(let f) = input { f } else { -1 }
                let detector = RobustZScoreDetector(
                    field: field, entity: entity, window: window, minSamples: minSamples, maxKeys: maxKeys, ttlMs: ttlMs,
                    sharesKeys: sharesPrimaryKeys)
                zScores.append((index, input, detector))
            case .halfSpaceTrees, .randomCutForest:
                guard let perEntity = spec.perEntity else { continue }
                forests.append((index, EntityForestDetector(kind: spec.kind, entity: perEntity.entity, maxKeys: perEntity.maxKeys, ttlMs: perEntity.ttlMs)))
            case .supervised:
                continue
            }
        }
    }

    /// Starts fetching the per-key z-score baselines `process` will read for `event`, two events ahead.
    public mutating func prefetchEntries(for event: UnsafePointer<Event>) {
        for i in zScores.indices { zScores[i].detector.prefetchEntry(event) }
    }

    /// Starts fetching them one event ahead; `primarySlot` is where the caller's index expects the event's
    /// primary key (for z-scores sharing it), if anywhere.
    public mutating func prefetchState(for event: UnsafePointer<Event>, primarySlot: Int?) {
        for i in zScores.indices {
            if zScores[i].detector.sharesKeys {
                if let primarySlot { zScores[i].detector.prefetchState(slot: primarySlot) }
            } else {
                zScores[i].detector.prefetchState(event)
            }
        }
    }

    /// Writes the raw scores, details, warm bits and (for forests) the strongest inputs into `result`, reading the
    /// event where it lies.
    /// `primaryKey` is the lookup of the event's primary key in the caller's index (nil when it has none), which
    /// z-scores sharing keys read their slot from.
    public mutating func process(
        _ event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>, primaryKey: EntityKeyIndex.Lookup?, into result: inout DetectionResult
    ) {
        for i in zScores.indices {
            let value = zScores[i].input.value(event: event, features: features)
            let r = zScores[i].detector.sharesKeys
                ? zScores[i].detector.process(event, value: value, key: primaryKey)
                : zScores[i].detector.process(event, value: value)
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

    /// `process(_:features:primaryKey:into:)` for an event held by value.
    public mutating func process(
        _ event: Event, features: UnsafeBufferPointer<Double>, primaryKey: EntityKeyIndex.Lookup?, into result: inout DetectionResult
    ) {
        withUnsafePointer(to: event) { process($0, features: features, primaryKey: primaryKey, into: &result) }
    }

    /// Bytes these detectors hold per key of entity kind `entity` (z-score baselines, per-key forests).
    public func bytesPerKey(entity: Int) -> Int {
        bytesPerKeyByDetector(entity: entity).reduce(0) { $0 + $1.bytes }
    }

    /// Where those bytes go, one entry per detector.
    public func bytesPerKeyByDetector(entity: Int) -> [(detector: String, bytes: Int)] {
        zScores.filter { $0.detector.entity == entity }.map { ("robust z-score (\($0.detector.window) values)", $0.detector.bytesPerKey) }
            + forests.filter { $0.detector.entity == entity }.map { ("per-key forest", $0.detector.bytesPerKey) }
    }

    /// Keys holding a model, per forest detector (by detector index).
    public var forestKeyCounts: [(detector: Int, keys: Int)] { forests.map { ($0.index, $0.detector.keyCount) } }
}

extension EntityDetectors: EnvelopedState {
    public static let stateKind = "entity-detectors"
    /// The version of the per-entity detectors' serialised state: 2 marks each z-score as keeping its own key
    /// index or sharing the features' (version 1: every z-score kept its own).
    public static let stateVersion: UInt64 = 2

    /// Every key's baselines and models.
    public func writeState(to w: inout BinaryWriter) {
        w.write(zScores.count)
        for z in zScores {
            w.write(z.index)
            w.write(z.detector.sharesKeys)
            if z.detector.sharesKeys { z.detector.writeSharingKeys(to: &w) } else { z.detector.write(to: &w) }
        }
        w.write(forests.count)
        for f in forests {
            w.write(f.index)
            f.detector.write(to: &w)
        }
    }

    /// Reads what `writeState` wrote into detectors built from the same specs; on error nothing changes.
    /// Detectors sharing the primary keys need the caller's index (`restoreState(from:primaryKeys:)`).
    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        try restoreState(version: version, payload: &r, primaryKeys: nil)
    }

    /// Restores what `saveState(to:)` wrote into detectors whose z-scores may share `primaryKeys` (the features'
    /// index of the primary entity, restored from the same checkpoint): a z-score saved with its own index is
    /// moved to the slots `primaryKeys` holds its keys at. On error nothing changes.
    public mutating func restoreState(from r: inout BinaryReader, primaryKeys: EntityKeyIndex?) throws(StateError) {
        let opened = try r.readEnvelope(kind: Self.stateKind, versions: 1...Self.stateVersion)
        var payload = opened.payload
        try restoreState(version: opened.version, payload: &payload, primaryKeys: primaryKeys)
    }

    private mutating func restoreState(version: UInt64, payload r: inout BinaryReader, primaryKeys: EntityKeyIndex?) throws(StateError) {
        var copy = self
        guard try r.readInt() == zScores.count else { throw StateError("saved per-entity z-scores differ from the configured ones") }
        for i in copy.zScores.indices {
            guard try r.readInt() == zScores[i].index else { throw StateError("saved per-entity z-scores are in another order") }
            let savedSharing = version >= 2 ? try r.readBool() : false
            var detector = savedSharing ? try RobustZScoreDetector(sharingKeysFrom: &r) : try RobustZScoreDetector(from: &r)
            switch (savedSharing, zScores[i].detector.sharesKeys) {
            case (false, true):
                guard let primaryKeys else { throw StateError("a z-score saved with its own key index needs the features' keys to restore") }
                detector = detector.sharingKeys(of: primaryKeys)
            case (true, false):
                throw StateError("a z-score saved sharing the features' keys cannot keep its own index")
            default:
                break
            }
            copy.zScores[i].detector = detector
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
