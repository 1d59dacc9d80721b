public import VigilCore
public import VigilModels

/// An event on its way to a worker: the decoded event and the features computed so far (those of secondary
/// entities, computed in input order before sharding).
public struct WorkItem: Sendable {
    public var event: Event
    public var features: FeatureVector
    /// The item's place in input order, assigned by the router; the scoring stage restores this order.
    public var sequence: UInt64

    public init(event: Event, features: FeatureVector = .undefined, sequence: UInt64 = 0) {
        self.event = event
        self.features = features
        self.sequence = sequence
    }
}

/// A scored event on its way to the outputs.
public struct ScoredEvent: Sendable {
    public var event: Event
    public var features: FeatureVector
    public var result: DetectionResult
    public var sequence: UInt64

    public init(event: Event, features: FeatureVector, result: DetectionResult, sequence: UInt64) {
        self.event = event
        self.features = features
        self.result = result
        self.sequence = sequence
    }
}
