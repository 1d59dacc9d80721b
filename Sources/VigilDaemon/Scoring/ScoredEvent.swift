public import VigilCore
public import VigilModels

/// What an item on the pipeline's rings asks of the thread that takes it: score an event, or one of the
/// checkpoint steps, which travel in line with the events so they act exactly between two of them.
public enum PipelineControl: UInt8, Sendable {
    /// An event to score.
    case event
    /// Snapshot the partitions of checkpoint `controlID`; the worker passes a marker on to the output thread.
    case checkpoint
    /// Install the restored state `controlID` for `event.partition` before its first event.
    case restore
    /// Forget `event.partition` (revoked, its state already checkpointed).
    case drop
}

/// What the routing thread fills in for an item before a worker takes it: `WorkItem` where the item waits outside
/// the rings, `ScoredEvent` in a ring slot (`Router.prepare`).
public protocol PipelineItem {
    var event: Event { get set }
    var features: FeatureVector { get set }
    var sequence: UInt64 { get set }
    var control: PipelineControl { get set }
    var controlID: UInt64 { get set }
    /// Where `event` lies in the item, for reading it in place through a pointer to the item.
    static var eventOffset: Int { get }
    /// Where `features` lies in the item, for writing it in place through a pointer to the item.
    static var featuresOffset: Int { get }
}

/// An event on its way to a worker: the decoded event and the features computed so far (those of secondary
/// entities, computed in input order before sharding); or a checkpoint step (`control`).
public struct WorkItem: PipelineItem, Sendable {
    public var event: Event
    public var features: FeatureVector
    /// The item's place in input order, assigned by the router; the scoring stage restores this order. Control
    /// items that produce no output (restore, drop) carry `WorkItem.unsequenced`.
    public var sequence: UInt64
    public var control: PipelineControl
    public var controlID: UInt64

    /// The sequence of items that never reach the output thread.
    public static let unsequenced = UInt64.max

    public static var eventOffset: Int { MemoryLayout<WorkItem>.offset(of: \.event)! }
    public static var featuresOffset: Int { MemoryLayout<WorkItem>.offset(of: \.features)! }

    public init(event: Event, features: FeatureVector = .undefined, sequence: UInt64 = 0, control: PipelineControl = .event, controlID: UInt64 = 0) {
        self.event = event
        self.features = features
        self.sequence = sequence
        self.control = control
        self.controlID = controlID
    }
}

/// An event in the pipeline's rings and on its way to the outputs: decoded and given its secondary features by the
/// routing thread, its primary features and per-entity result by a worker, finished by the scoring stage; or a
/// checkpoint step (`control`) travelling in line with the events.
public struct ScoredEvent: PipelineItem, Sendable {
    public var event: Event
    public var features: FeatureVector
    public var result: DetectionResult
    public var sequence: UInt64
    /// `.event` for an event; otherwise a control step for the worker (the output thread passes over restore and
    /// drop items, which are unsequenced, and takes a checkpoint marker in its place).
    public var control: PipelineControl
    public var controlID: UInt64

    public init(event: Event, features: FeatureVector, result: DetectionResult, sequence: UInt64, control: PipelineControl = .event, controlID: UInt64 = 0) {
        self.event = event
        self.features = features
        self.result = result
        self.sequence = sequence
        self.control = control
        self.controlID = controlID
    }

    /// A work item in a ring slot, its result not yet computed.
    public init(_ item: WorkItem) {
        self.init(event: item.event, features: item.features, result: DetectionResult(), sequence: item.sequence, control: item.control, controlID: item.controlID)
    }
}
