public import VigilCore

/// Half-space trees or a random cut forest per entity key: each key's model (and its input scaling) learns from
/// that key's events only, so it judges an event against the key's own history ("unusual for this card")
/// rather than the whole stream's.
///
/// Memory is bounded: at most `maxKeys` keys hold a model (the least recently seen is evicted, and keys idle
/// longer than the TTL start over), and a key's model is sized by the detector's parameters (`bytesPerKey`).
/// Every key's model starts as a copy of one template built from the seed; half-space trees' split arrays are
/// never written after construction, so all keys share them and a key owns only its reference trees and window. A new key
/// allocates its own arrays on its first event — once per key, not per event.
public struct EntityForestDetector: Sendable {
    /// One key's model and the ranges it learned.
    struct KeyModel: Sendable {
        var scaler: InputScaler
        var trees: HalfSpaceTrees?
        var forest: RandomCutForest?

        static let empty = KeyModel(scaler: InputScaler(ranges: []), trees: nil, forest: nil)
    }

    public let entity: Int
    public let inputs: [DetectorInput]
    /// Approximate bytes one key's model holds (`bytesPerKey(_:)` of this detector's kind).
    public let bytesPerKey: Int
    private var index: EntityKeyIndex
    private var models: [KeyModel] = []
    private let template: KeyModel
    /// The last event's per-input attribution (half-space trees' shares; a forest's high side).
    public private(set) var contributions: [Double]
    /// The last event's low-side attribution (forests).
    public private(set) var lowContributions: [Double]
    private var raw: [Double]
    private var scaled: [Double]

    /// - Parameters:
    ///   - kind: `.halfSpaceTrees` or `.randomCutForest`, with the parameters every key's model gets.
    ///   - maxKeys: keys holding a model at most; `ttlMs`: idle time after which a key starts over.
    public init(kind: DetectorSpec.Kind, entity: Int, maxKeys: Int, ttlMs: Int64) {
        self.entity = entity
        bytesPerKey = Self.bytesPerKey(kind)
        switch kind {
        case .halfSpaceTrees(let inputs, let trees, let height, let window, let ranges, let warmup, let margin, let seed):
            self.inputs = inputs
            template = KeyModel(
                scaler: ranges.map { InputScaler(ranges: $0) } ?? InputScaler(dimensions: inputs.count, warmup: warmup, margin: margin),
                // Walked, without tests: half the memory per key, and a key's trees are small.
                trees: HalfSpaceTrees(dimensions: inputs.count, trees: trees, height: height, window: window, seed: seed, findsEndsByTests: false)
            )
        case .randomCutForest(let inputs, let trees, let sampleSize, let shingleSize, let sampling, let warmup, let seed):
            self.inputs = inputs
            template = KeyModel(
                scaler: InputScaler(dimensions: inputs.count, warmup: warmup, margin: 0),
                forest: RandomCutForest(dimensions: inputs.count, trees: trees, sampleSize: sampleSize, shingleSize: shingleSize, sampling: sampling, seed: seed)
            )
        case .robustZScore, .supervised:
            preconditionFailure("only forest detectors are kept per key here")
        }
        index = EntityKeyIndex(maxKeys: maxKeys, ttlMs: ttlMs)
        contributions = Array(repeating: 0, count: inputs.count)
        lowContributions = Array(repeating: 0, count: inputs.count)
        raw = Array(repeating: 0, count: inputs.count)
        scaled = Array(repeating: 0, count: inputs.count)
    }

    /// Approximate bytes one key's model holds (reference trees and a window of events, or sampled points and tree nodes, plus ranges).
    public static func bytesPerKey(_ kind: DetectorSpec.Kind) -> Int {
        switch kind {
        case .halfSpaceTrees(let inputs, let trees, let height, let window, _, _, _, _):
            return HalfSpaceTrees.bytesPerModel(dimensions: inputs.count, trees: trees, height: height, window: window, findsEndsByTests: false) + inputs.count * 16 + EntityKeyIndex.bytesPerKey
        case .randomCutForest(let inputs, let trees, let sampleSize, let shingleSize, _, _, _):
            let dimensions = inputs.count * shingleSize
            // Per sampled point: its coordinates, a leaf and an inner node with their boxes, priority and flags.
            let perPoint = dimensions * 8 + 2 * (2 * dimensions * 8 + 48) + 16
            return trees * sampleSize * perPoint + inputs.count * 16 + EntityKeyIndex.bytesPerKey
        case .robustZScore, .supervised:
            return 0
        }
    }

    /// Keys holding a model now.
    public var keyCount: Int { index.count }

    /// `process(_:features:)` for an event held by value.
    public mutating func process(_ event: Event, features: UnsafeBufferPointer<Double>) -> Double? {
        withUnsafePointer(to: event) { process($0, features: features) }
    }

    /// Scores the event against its key's model, then teaches the model the event (read where it lies).
    ///
    /// - Returns: the raw score once the key's model is warm (its ranges learned and, for trees, one reference
    ///   window; for forests, `outputAfter` points), otherwise nil. Events without the key score nil.
    public mutating func process(_ event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>) -> Double? {
        let key = event.pointee.entities[entity]
        guard key.isPresent else { return nil }
        let lookup = index.lookup(key, nowMs: event.pointee.timeMs)
        if models.count < index.slotCapacity {
            models.append(contentsOf: repeatElement(template, count: index.slotCapacity - models.count))
        }
        if lookup.isFresh { models[lookup.slot] = template }
        if let evicted = lookup.evictedSlot, evicted != lookup.slot { models[evicted] = template }

        let n = inputs.count
        for k in 0..<n { raw[k] = inputs[k].value(event: event, features: features) }
        // Move the key's model out while it works (no copy-on-write of its arrays), then put it back.
        var model = KeyModel.empty
        swap(&model, &models[lookup.slot])
        defer { swap(&model, &models[lookup.slot]) }
        return raw.withUnsafeBufferPointer { x -> Double? in
            model.scaler.observe(x)
            guard model.scaler.isReady else { return nil }
            return scaled.withUnsafeMutableBufferPointer { out -> Double? in
                if model.forest != nil {
                    model.scaler.scaleUnclamped(x, into: out)
                    let score = contributions.withUnsafeMutableBufferPointer { high in
                        lowContributions.withUnsafeMutableBufferPointer { low in
                            model.forest!.scoreAndLearn(UnsafeBufferPointer(out), high: high, low: low)
                        }
                    }
                    return score.isNaN ? nil : score
                }
                model.scaler.scale(x, into: out)
                let wasWarm = model.trees!.isWarm
                let score = contributions.withUnsafeMutableBufferPointer { shares in
                    model.trees!.scoreAndLearn(UnsafeBufferPointer(out), contributions: shares)
                }
                return wasWarm ? score : nil
            }
        }
    }
}

extension EntityForestDetector {
    /// Writes the last event's `count` strongest inputs (attribution, high and low sides summed) into `items`
    /// from position `start`, for the explanation.
    ///
    /// - Returns: the next free position.
    public func strongestInputs(
        _ event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>, detector: Int, into items: inout InlineArray<4, ExplanationItem>, from start: Int, count: Int
    ) -> Int {
        var position = start
        var taken: UInt64 = 0
        for _ in 0..<count where position < items.count {
            var best = -1
            var bestShare = 0.0
            for k in inputs.indices where taken & (1 << UInt64(k)) == 0 {
                let share = contributions[k] + lowContributions[k]
                if share > bestShare {
                    best = k
                    bestShare = share
                }
            }
            guard best >= 0 else { break }
            taken |= 1 << UInt64(best)
            let source: ExplanationItem.Source = switch inputs[best] {
            case .feature(let f): .feature(f)
            case .numericField(let f): .numericField(f)
            }
            items[position] = ExplanationItem(
                source: source, value: inputs[best].value(event: event, features: features), contribution: bestShare, detector: Int8(detector))
            position += 1
        }
        return position
    }

    /// Writes every key's model (restored with `restore(from:)`).
    public func write(to w: inout BinaryWriter) {
        w.write(entity)
        index.write(to: &w)
        w.write(models.count)
        for model in models {
            model.scaler.write(to: &w)
            w.write(model.trees != nil)
            model.trees?.write(to: &w)
            w.write(model.forest != nil)
            model.forest?.write(to: &w)
        }
    }

    /// Restores the keys' models into a detector built from the same spec (whose template and inputs stay).
    public mutating func restore(from r: inout BinaryReader) throws(StateError) {
        guard try r.readInt() == entity else { throw StateError("per-entity forest: saved for another entity") }
        let restoredIndex = try EntityKeyIndex(from: &r)
        let count = try r.readInt()
        guard count >= 0, count <= restoredIndex.slotCapacity + 1 else { throw StateError("per-entity forest: bad model count") }
        var restored: [KeyModel] = []
        restored.reserveCapacity(count)
        for _ in 0..<count {
            var model = KeyModel(scaler: try InputScaler(from: &r))
            model.trees = try r.readBool() ? HalfSpaceTrees(from: &r, findsEndsByTests: false) : nil
            model.forest = try r.readBool() ? RandomCutForest(from: &r) : nil
            guard (model.trees != nil) == (template.trees != nil), (model.forest != nil) == (template.forest != nil) else {
                throw StateError("per-entity forest: saved models are of another kind")
            }
            restored.append(model)
        }
        index = restoredIndex
        models = restored
    }

}
