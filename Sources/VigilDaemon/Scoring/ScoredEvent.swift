public import VigilCore
public import VigilModels

/// An event on its way to a worker: the decoded event and the features computed so far (those of secondary
/// entities, computed in input order before sharding).
public struct WorkItem: Sendable {
    public var event: Event
    public var features: FeatureVector

    public init(event: Event, features: FeatureVector = .undefined) {
        self.event = event
        self.features = features
    }
}

/// A scored event on its way to the outputs.
public struct ScoredEvent: Sendable {
    public var event: Event
    public var features: FeatureVector
    public var result: DetectionResult

    public init(event: Event, features: FeatureVector, result: DetectionResult) {
        self.event = event
        self.features = features
        self.result = result
    }
}
