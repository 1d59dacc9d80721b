/// Tracks the offsets of one input partition from the moment they are read until their processing and
/// output delivery finish, and answers which offset may be committed.
///
/// Offsets are registered in increasing order (gaps allowed: transaction markers and compaction leave holes)
/// and may complete in any order. An offset completes once the stage that produced its outputs has said how
/// many there are (`expect`) and that many deliveries were reported (`delivered`) — in either order, since
/// delivery reports and expectations travel on different threads. The committable offset is one past the longest completed prefix, so a
/// commit never covers an offset whose outputs are still in flight (at-least-once).
///
/// Storage is a growable circular buffer of one record per offset, its capacity a power of two: no allocation once
/// it has grown to the in-flight high-water mark. Not thread-safe: one thread owns it.
public struct PartitionOffsetTracker: Sendable {
    private struct Entry {
        var offset: Int64
        /// When it was read (`DispatchTime` nanoseconds; 0 when not given).
        var readAt: UInt64
        /// Outputs still to be delivered (may go negative while a delivery outruns its expectation).
        var remaining: Int32
        var done: Bool
        var expected: Bool
        /// Whether its event produced outputs (known once it is expected).
        var withOutputs: Bool

        static let empty = Entry(offset: 0, readAt: 0, remaining: 0, done: false, expected: false, withOutputs: false)
    }

    private var entries: [Entry]
    /// `entries.count - 1`: the slot of the in-flight offset at `index` is `(start + index) & mask`.
    private var mask: Int
    /// Read times of the offsets finished since the last `drainFinishedReadTimes`, with whether the event had
    /// outputs (reused storage).
    private var finishedReadTimes: [(readAtNs: UInt64, hadOutputs: Bool)] = []
    private var start = 0
    private var count = 0
    /// The offset the next commit may cover up to (exclusive), or `nil` before anything completed.
    public private(set) var committable: Int64?
    /// The highest offset registered so far.
    public private(set) var lastRegistered: Int64?

    /// - Parameter initialCapacity: offsets in flight before the first growth (rounded up to a power of two).
    public init(initialCapacity: Int = 1024) {
        var capacity = 16
        while capacity < initialCapacity { capacity *= 2 }
        entries = Array(repeating: .empty, count: capacity)
        mask = capacity - 1
        finishedReadTimes.reserveCapacity(capacity)
    }

    /// Offsets registered and not yet committable.
    public var inFlight: Int { count }

    /// Registers an offset that was just read. Offsets must increase.
    ///
    /// - Parameter readAtNs: when it was read (monotonic nanoseconds), reported back once it finishes so the
    ///   owner can measure read-to-delivery latency; 0 reports nothing.
    /// - Returns: false (and ignores it) when the offset is not above the last one registered.
    @discardableResult
    public mutating func register(_ offset: Int64, readAtNs: UInt64 = 0) -> Bool {
        if let lastRegistered, offset <= lastRegistered { return false }
        if count == entries.count { grow() }
        entries[(start + count) & mask] = Entry(offset: offset, readAt: readAtNs, remaining: 0, done: false, expected: false, withOutputs: false)
        count += 1
        lastRegistered = offset
        return true
    }

    /// Marks an offset complete (processed, with no outputs pending) and advances the committable offset past
    /// every completed offset at the front.
    ///
    /// - Returns: false when the offset is not in flight (never registered, or already completed and passed).
    @discardableResult
    public mutating func complete(_ offset: Int64) -> Bool {
        expect(offset, outputs: 0)
    }

    /// Records that the offset's event was processed and produced `outputs` messages; it completes once that
    /// many deliveries are reported.
    ///
    /// - Returns: false when the offset is not in flight, or its outputs were already expected.
    @discardableResult
    public mutating func expect(_ offset: Int64, outputs: Int) -> Bool {
        guard let slot = slot(of: offset) else { return false }
        let finished = entries.withUnsafeMutableBufferPointer { entries in
            if entries[slot].done || entries[slot].expected { return Bool?.none }
            entries[slot].expected = true
            entries[slot].withOutputs = outputs > 0
            entries[slot].remaining += Int32(outputs)
            return entries[slot].remaining <= 0
        }
        guard let finished else { return false }
        if finished { finish(slot) }
        return true
    }

    /// Records one delivered output of the offset's event.
    ///
    /// - Returns: false when the offset is not in flight.
    @discardableResult
    public mutating func delivered(_ offset: Int64) -> Bool {
        guard let slot = slot(of: offset) else { return false }
        let finished = entries.withUnsafeMutableBufferPointer { entries in
            if entries[slot].done { return Bool?.none }
            entries[slot].remaining -= 1
            return entries[slot].expected && entries[slot].remaining <= 0
        }
        guard let finished else { return false }
        if finished { finish(slot) }
        return true
    }

    private mutating func finish(_ slot: Int) {
        entries[slot].done = true
        if entries[slot].readAt != 0 { finishedReadTimes.append((entries[slot].readAt, entries[slot].withOutputs)) }
        entries.withUnsafeBufferPointer { entries in
            while count > 0, entries[start].done {
                committable = entries[start].offset + 1
                start = (start + 1) & mask
                count -= 1
            }
        }
    }

    /// Starts a partition whose offsets before `offset` are already done: a restored snapshot covers them and
    /// their outputs were delivered before it was written. The committable offset becomes `offset`, so a commit
    /// records the restore point even when no new event arrives (otherwise a snapshot written just before a crash,
    /// and not yet committed, would leave the group's offset behind it for as long as the partition stays quiet).
    ///
    /// - Returns: false (and changes nothing) once an offset was registered.
    @discardableResult
    public mutating func resume(at offset: Int64) -> Bool {
        guard lastRegistered == nil else { return false }
        committable = offset
        return true
    }

    /// Hands over the read times of the offsets finished since the last call, in finishing order, each with
    /// whether its event had outputs (its latency then includes the broker acknowledging them).
    public mutating func drainFinishedReadTimes(_ body: (_ readAtNs: UInt64, _ hadOutputs: Bool) -> Void) {
        for finished in finishedReadTimes { body(finished.readAtNs, finished.hadOutputs) }
        finishedReadTimes.removeAll(keepingCapacity: true)
    }

    /// Forgets everything (the partition was revoked or is being rewound).
    public mutating func reset() {
        finishedReadTimes.removeAll(keepingCapacity: true)
        start = 0
        count = 0
        committable = nil
        lastRegistered = nil
    }

    /// The slot of an in-flight offset. Offsets in flight increase from `start` and are mostly consecutive (only
    /// transaction markers and compaction leave holes), so the offset's distance from the first one is tried
    /// first; a binary search finds it past holes.
    private func slot(of offset: Int64) -> Int? {
        entries.withUnsafeBufferPointer { entries in
            guard count > 0 else { return nil }
            let distance = offset &- entries[start].offset
            guard distance >= 0 else { return nil }
            if distance < count, entries[(start + Int(distance)) & mask].offset == offset { return (start + Int(distance)) & mask }
            var low = 0
            // Offsets increase by at least one, so the offset lies no further than `distance` from the first.
            var high = distance < count ? Int(distance) + 1 : count
            while low < high {
                let mid = (low + high) / 2
                if entries[(start + mid) & mask].offset < offset {
                    low = mid + 1
                } else {
                    high = mid
                }
            }
            guard low < count, entries[(start + low) & mask].offset == offset else { return nil }
            return (start + low) & mask
        }
    }

    private mutating func grow() {
        var grown = Array(repeating: Entry.empty, count: entries.count * 2)
        for i in 0..<count { grown[i] = entries[(start + i) & mask] }
        entries = grown
        mask = entries.count - 1
        start = 0
    }
}
