/// Offset tracking for every assigned input partition; see `PartitionOffsetTracker`.
///
/// Partitions are addressed by a dense index the owner assigns (`PartitionIndex`), so the hot path does no
/// hashing of topic names. Not thread-safe: one thread owns it.
public struct OffsetTracker: Sendable {
    private var partitions: [PartitionOffsetTracker?] = []
    /// Partitions whose committable offset moved since the last `takeCommittable()`.
    private var dirty: [Bool] = []

    public init() {}

    /// Starts tracking a partition (again, from nothing).
    public mutating func assign(_ partition: Int) {
        while partitions.count <= partition {
            partitions.append(nil)
            dirty.append(false)
        }
        partitions[partition] = PartitionOffsetTracker()
        dirty[partition] = false
    }

    /// Marks everything before `offset` of a just-assigned partition as done and due for the next commit; see
    /// `PartitionOffsetTracker.resume(at:)`.
    @discardableResult
    public mutating func resume(partition: Int, at offset: Int64) -> Bool {
        guard partition < partitions.count, partitions[partition]?.resume(at: offset) == true else { return false }
        dirty[partition] = true
        return true
    }

    /// Stops tracking a partition.
    public mutating func revoke(_ partition: Int) {
        guard partition < partitions.count else { return }
        partitions[partition] = nil
        dirty[partition] = false
    }

    public func isAssigned(_ partition: Int) -> Bool {
        partition < partitions.count && partitions[partition] != nil
    }

    /// Registers a read offset; false when the partition is not assigned or the offset does not increase.
    @discardableResult
    public mutating func register(partition: Int, offset: Int64, readAtNs: UInt64 = 0) -> Bool {
        guard partition < partitions.count, partitions[partition] != nil else { return false }
        return partitions[partition]!.register(offset, readAtNs: readAtNs)
    }

    /// Hands over the read times (see `register`) of every offset finished since the last call, each with whether
    /// its event had outputs.
    public mutating func drainFinishedReadTimes(_ body: (_ readAtNs: UInt64, _ hadOutputs: Bool) -> Void) {
        for i in partitions.indices where partitions[i] != nil {
            partitions[i]!.drainFinishedReadTimes(body)
        }
    }

    /// Completes an offset; false when it was not in flight (for instance, its partition was revoked meanwhile).
    @discardableResult
    public mutating func complete(partition: Int, offset: Int64) -> Bool {
        guard partition < partitions.count, partitions[partition] != nil else { return false }
        let before = partitions[partition]!.committable
        let ok = partitions[partition]!.complete(offset)
        if partitions[partition]!.committable != before { dirty[partition] = true }
        return ok
    }

    /// Records how many outputs an offset's event produced; see `PartitionOffsetTracker.expect`.
    @discardableResult
    public mutating func expect(partition: Int, offset: Int64, outputs: Int) -> Bool {
        guard partition < partitions.count, partitions[partition] != nil else { return false }
        let before = partitions[partition]!.committable
        let ok = partitions[partition]!.expect(offset, outputs: outputs)
        if partitions[partition]!.committable != before { dirty[partition] = true }
        return ok
    }

    /// Records one delivered output; see `PartitionOffsetTracker.delivered`.
    @discardableResult
    public mutating func delivered(partition: Int, offset: Int64) -> Bool {
        guard partition < partitions.count, partitions[partition] != nil else { return false }
        let before = partitions[partition]!.committable
        let ok = partitions[partition]!.delivered(offset)
        if partitions[partition]!.committable != before { dirty[partition] = true }
        return ok
    }

    /// The highest offset registered for a partition since it was assigned.
    public func lastRegistered(partition: Int) -> Int64? {
        guard partition < partitions.count else { return nil }
        return partitions[partition]?.lastRegistered
    }

    /// The committable offset of one partition.
    public func committable(partition: Int) -> Int64? {
        guard partition < partitions.count else { return nil }
        return partitions[partition]?.committable
    }

    /// Offsets in flight across all partitions.
    public var inFlight: Int { partitions.reduce(0) { $0 + ($1?.inFlight ?? 0) } }

    /// In-flight offsets of one partition.
    public func inFlight(partition: Int) -> Int {
        guard partition < partitions.count else { return 0 }
        return partitions[partition]?.inFlight ?? 0
    }

    /// The partitions whose committable offset moved since the last call, with that offset.
    public mutating func takeCommittable() -> [(partition: Int, offset: Int64)] {
        var result: [(partition: Int, offset: Int64)] = []
        for index in dirty.indices where dirty[index] {
            dirty[index] = false
            if let offset = partitions[index]?.committable { result.append((index, offset)) }
        }
        return result
    }
}
