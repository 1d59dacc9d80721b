public import VigilCore

/// Something a detector reads: a feature or a numeric event field.
public enum DetectorInput: Sendable, Equatable {
    case feature(Int)
    case numericField(Int)

    /// The input's value for an event with this feature vector.
    @inline(__always)
    public func value(event: Event, features: UnsafeBufferPointer<Double>) -> Double {
        switch self {
        case .feature(let f): f < features.count ? features[f] : .nan
        case .numericField(let f): event.numeric[f]
        }
    }

    /// Starts loading the cache line the input's value lies in for the event at `event` (a hint: the ordered
    /// stage gathers a run's inputs from ring slots another core has just written).
    @inline(__always)
    public func prefetch(event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>) {
        switch self {
        case .feature(let f): if f < features.count { prefetchCacheLine(features.baseAddress! + f) }
        case .numericField(let f): prefetchCacheLine(UnsafeRawPointer(event) + Self.numericOffset + f &* MemoryLayout<Double>.stride)
        }
    }

    /// Where an event's numeric fields start in it (computed, so the compiler folds it into a constant).
    @inline(__always) static var numericOffset: Int { MemoryLayout<Event>.offset(of: \Event.numeric)! }

    /// The input's value for the event at `event` (read where it lies, not copied).
    @inline(__always)
    public func value(event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>) -> Double {
        switch self {
        case .feature(let f): f < features.count ? features[f] : .nan
        case .numericField(let f): event.pointee.numeric[f]
        }
    }
}

/// A configured detector.
public struct DetectorSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A robust z-score of one input (a numeric field or a feature), per entity key (`entity`) or over the
        /// whole stream.
        case robustZScore(input: DetectorInput, entity: Int?, window: Int, minSamples: Int)
        /// Half-space trees over `inputs`, global or per key (`DetectorSpec.perEntity`). `ranges` (one per input) scale inputs to [0, 1]; without
        /// them, ranges are learned from the first `warmup` events, widened by `margin`.
        case halfSpaceTrees(inputs: [DetectorInput], trees: Int, height: Int, window: Int, ranges: [ClosedRange<Double>]?, warmup: Int, margin: Double, seed: UInt64)
        /// A random cut forest over `inputs` (scaled, unclamped, by ranges learned from the first `warmup`
        /// events), global or per key (`DetectorSpec.perEntity`); CoDisp score with per-input attribution.
        case randomCutForest(inputs: [DetectorInput], trees: Int, sampleSize: Int, shingleSize: Int, sampling: RandomCutForest.Sampling, warmup: Int, seed: UInt64)
        /// FTRL-Proximal logistic regression over `inputs` (scaled to [0, 1] by ranges learned from the first
        /// `warmup` events), trained by delayed labels joined through a cache of the last `cacheSize` vectors;
        /// it scores once it has seen `minLabels` labels of each class.
        case supervised(inputs: [DetectorInput], alpha: Double, beta: Double, l1: Double, l2: Double, cacheSize: Int, minLabels: Int, warmup: Int)
    }

    /// A forest detector kept per key of an entity kind, with at most `maxKeys` keys holding a model.
    public struct PerEntity: Sendable, Equatable {
        public var entity: Int
        public var maxKeys: Int
        public var ttlMs: Int64

        public init(entity: Int, maxKeys: Int, ttlMs: Int64) {
            self.entity = entity
            self.maxKeys = maxKeys
            self.ttlMs = ttlMs
        }
    }

    public var name: String
    public var weight: Double
    public var kind: Kind
    /// Set for half-space trees and random cut forests kept per key; z-scores carry their entity in `kind`.
    public var perEntity: PerEntity?
    /// A shadow detector is scored, calibrated and reported like any other but never raises or explains an
    /// alert: a new model runs beside the live ones until its figures justify switching it on.
    public var shadow: Bool

    public init(name: String, weight: Double = 1, kind: Kind, perEntity: PerEntity? = nil, shadow: Bool = false) {
        self.name = name
        self.weight = weight
        self.kind = kind
        self.perEntity = perEntity
        self.shadow = shadow
    }

    /// The entity kind whose keys get separate models, or nil for one model over the whole stream.
    public var entity: Int? {
        if case .robustZScore(_, let entity, _, _) = kind { return entity }
        return perEntity?.entity
    }

    /// Detectors per key of the primary entity run on the workers that own those keys (each key's events reach
    /// one worker, in order); every other detector — global, or per key of another entity — runs on the ordered
    /// scoring stage, which sees all events in input order. Either way the result does not depend on the
    /// number of workers.
    public func runsOnWorkers(primaryEntity: Int) -> Bool {
        entity == primaryEntity
    }
}
