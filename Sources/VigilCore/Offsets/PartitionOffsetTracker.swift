/// Tracks the offsets of one input partition from the moment they are read until their processing and
/// output delivery finish, and answers which offset may be committed.
///
/// Offsets are registered in increasing order (gaps allowed: transaction markers and compaction leave holes)
/// and may complete in any order. An offset completes once the stage that produced its outputs has said how
/// many there are (`expect`) and that many deliveries were reported (`delivered`) — in either order, since
/// delivery reports and expectations travel on different threads. The committable offset is one past the longest completed prefix, so a
/// commit never covers an offset whose outputs are still in flight (at-least-once).
///
/// Storage is a growable circular buffer: no allocation once it has grown to the in-flight high-water mark.
/// Not thread-safe: one thread owns it.
public struct PartitionOffsetTracker: Sendable {
    private var offsets: [Int64]
    private var done: [Bool]
    /// Outputs still to be delivered (may go negative while a delivery outruns its expectation).
    private var remaining: [Int32]
    private var expected: [Bool]
    /// When each offset was read (`DispatchTime` nanoseconds; 0 when not given).
    private var readAt: [UInt64]
    /// Whether each offset's event produced outputs (known once it is expected).
    private var withOutputs: [Bool]
    /// Read times of the offsets finished since the last `drainFinishedReadTimes`, with whether the event had
    /// outputs (reused storage).
    private var finishedReadTimes: [(readAtNs: UInt64, hadOutputs: Bool)] = []
    private var start = 0
    private var count = 0
    /// The offset the next commit may cover up to (exclusive), or `nil` before anything completed.
    public private(set) var committable: Int64?
    /// The highest offset registered so far.
    public private(set) var lastRegistered: Int64?

    public init(initialCapacity: Int = 1024) {
        let capacity = max(16, initialCapacity)
        offsets = Array(repeating: 0, count: capacity)
        done = Array(repeating: false, count: capacity)
        remaining = Array(repeating: 0, count: capacity)
        expected = Array(repeating: false, count: capacity)
        readAt = Array(repeating: 0, count: capacity)
        withOutputs = Array(repeating: false, count: capacity)
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
        if count == offsets.count { grow() }
        let slot = (start + count) % offsets.count
        offsets[slot] = offset
        done[slot] = false
        remaining[slot] = 0
        expected[slot] = false
        readAt[slot] = readAtNs
        withOutputs[slot] = false
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
    /// - Returns: false when the offset is not in flight or was already expected.
    @discardableResult
    public mutating func expect(_ offset: Int64, outputs: Int) -> Bool {
        guard let index = position(of: offset) else { return false }
        let slot = (start + index) % offsets.count
        if done[slot] || expected[slot] { return false }
        expected[slot] = true
        withOutputs[slot] = outputs > 0
        remaining[slot] += Int32(outputs)
        if remaining[slot] <= 0 { finish(slot) }
        return true
    }

    /// Records one delivered output of the offset's event.
    ///
    /// - Returns: false when the offset is not in flight.
    @discardableResult
    public mutating func delivered(_ offset: Int64) -> Bool {
        guard let index = position(of: offset) else { return false }
        let slot = (start + index) % offsets.count
        if done[slot] { return false }
        remaining[slot] -= 1
        if expected[slot], remaining[slot] <= 0 { finish(slot) }
        return true
    }

    private mutating func finish(_ slot: Int) {
        done[slot] = true
        if readAt[slot] != 0 { finishedReadTimes.append((readAt[slot], withOutputs[slot])) }
        while count > 0, done[start] {
            committable = offsets[start] + 1
            start = (start + 1) % offsets.count
            count -= 1
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

    /// Binary search over the in-flight offsets, which increase from `start`.
    private func position(of offset: Int64) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            let value = offsets[(start + mid) % offsets.count]
            if value < offset {
                low = mid + 1
            } else {
                high = mid
            }
        }
        guard low < count, offsets[(start + low) % offsets.count] == offset else { return nil }
        return low
    }

    private mutating func grow() {
        let old = offsets.count
        var newOffsets = Array(repeating: Int64(0), count: old * 2)
        var newDone = Array(repeating: false, count: old * 2)
        var newRemaining = Array(repeating: Int32(0), count: old * 2)
        var newExpected = Array(repeating: false, count: old * 2)
        var newReadAt = Array(repeating: UInt64(0), count: old * 2)
        var newWithOutputs = Array(repeating: false, count: old * 2)
        for i in 0..<count {
            newOffsets[i] = offsets[(start + i) % old]
            newDone[i] = done[(start + i) % old]
            newRemaining[i] = remaining[(start + i) % old]
            newExpected[i] = expected[(start + i) % old]
            newReadAt[i] = readAt[(start + i) % old]
            newWithOutputs[i] = withOutputs[(start + i) % old]
        }
        offsets = newOffsets
        done = newDone
        remaining = newRemaining
        expected = newExpected
        readAt = newReadAt
        withOutputs = newWithOutputs
        start = 0
    }
}
