public import VigilCore
public import VigilFeatures

/// Runs on the routing (consumer) thread: computes secondary-entity features in input order and hands
/// items to their workers.
public struct Router: Sendable {
    private var secondary: FeatureEngine?
    private let featureCount: Int
    private var nextSequence: UInt64 = 0

    /// - Parameter computesSecondary: false with `pipeline.repartition`, where the secondary stage computes them.
    public init(model: ScoringModel, computesSecondary: Bool = true) {
        secondary = computesSecondary ? model.makeSecondaryEngine() : nil
        featureCount = model.config.features.count
    }

    /// Takes the next place in input order for a control item that passes through the output thread.
    public mutating func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// The work item for an event, with its secondary features computed (for an event that cannot go into a
    /// ring slot at once).
    public mutating func prepare(_ event: Event) -> WorkItem {
        var item = WorkItem(event: event)
        withUnsafeMutablePointer(to: &item) { prepare($0) }
        return item
    }

    /// Completes `item` in place (a ring slot, or a work item, whose event is already decoded): its place in input
    /// order and its secondary features.
    public mutating func prepare<Item: PipelineItem>(_ item: UnsafeMutablePointer<Item>) {
        item.pointee.sequence = takeSequence()
        item.pointee.control = .event
        item.pointee.controlID = 0
        item.pointee.features = .undefined
        if secondary != nil {
            // Through pointers into the item: `item.pointee.event` as an argument would copy the whole event.
            let raw = UnsafeMutableRawPointer(item)
            let event = UnsafePointer((raw + Item.eventOffset).assumingMemoryBound(to: Event.self))
            let output = UnsafeMutableBufferPointer(start: (raw + Item.featuresOffset).assumingMemoryBound(to: Double.self), count: featureCount)
            _ = secondary!.process(event, into: output, keyed: -1)
        }
    }

    /// Gives an item whose secondary features came from the repartition hop its place in input order.
    public mutating func sequenced(_ item: WorkItem) -> WorkItem {
        var item = item
        item.sequence = takeSequence()
        return item
    }

    /// What the secondary engine holds for one entity kind (nil when it does not own it).
    public func usage(entity: Int) -> EntityStateUsage? {
        secondary?.usage(entity: entity)
    }

    /// The engine computing the secondary entities' features, if any.
    public var secondaryEngine: FeatureEngine? { secondary }

    /// The secondary entities' window state for a checkpoint (empty when there are none).
    public func saveState() -> [UInt8] {
        secondary?.saveState() ?? []
    }

    /// Restores a checkpoint into a router built from the same config; on error nothing changes.
    public mutating func restoreState(_ data: [UInt8]) throws(StateError) {
        guard var engine = secondary else {
            guard data.isEmpty else { throw StateError("saved secondary-entity state, but no secondary entity has features now") }
            return
        }
        try engine.restoreState(data)
        secondary = engine
    }

    /// Writes what `saveState()` returns as a byte-array field of `w`, built in place.
    public func saveState(to w: inout BinaryWriter) {
        if let secondary { secondary.saveState(to: &w) } else { w.write([UInt8]()) }
    }

    /// Restores what `saveState(to:)` wrote, read from `r`; on error nothing changes.
    public mutating func restoreState(from r: inout BinaryReader) throws(StateError) {
        guard var engine = secondary else {
            guard try r.readBytes().isEmpty else { throw StateError("saved secondary-entity state, but no secondary entity has features now") }
            return
        }
        try engine.restoreState(from: &r)
        secondary = engine
    }
}
