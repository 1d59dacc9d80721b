public import VigilCore

/// The per-entity detectors of one worker: each scores the events of the keys that worker owns, so their
/// state is sharded like the primary entity's features.
public struct EntityDetectors: Sendable {
    private var zScores: [(index: Int, input: DetectorInput, detector: RobustZScoreDetector)] = []

    /// - Parameter specs: every configured detector; only the per-entity ones are kept.
    public init(specs: [DetectorSpec], maxKeys: Int, ttlMs: Int64) {
        for (index, spec) in specs.enumerated() {
            guard spec.isPerEntity, case .robustZScore(let input, let entity, let window, let minSamples) = spec.kind else { continue }
            let field = if case .numericField(let f) = input { f } else { -1 }
            zScores.append((index, input, RobustZScoreDetector(field: field, entity: entity, window: window, minSamples: minSamples, maxKeys: maxKeys, ttlMs: ttlMs)))
        }
    }

    /// Writes the raw scores, details and warm bits of the per-entity detectors into `result`.
    public mutating func process(_ event: Event, features: UnsafeBufferPointer<Double>, into result: inout DetectionResult) {
        for i in zScores.indices {
            let r = zScores[i].detector.process(event, value: zScores[i].input.value(event: event, features: features))
            let index = zScores[i].index
            guard r.isWarm else { continue }
            result.rawScores[index] = r.score
            result.details[index] = r.z
            result.warmDetectors |= 1 << UInt8(index)
        }
    }
}
