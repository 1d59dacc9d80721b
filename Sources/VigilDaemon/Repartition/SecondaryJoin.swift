import VigilCore

/// Events read from the input, in input order, waiting for their secondary entities' features to come back from
/// the repartition hop (`pipeline.repartition`). Owned by the consumer thread.
///
/// Each event takes the next ticket; its slot is `ticket & mask`, so a reply finds its event in O(1), and a
/// reply whose ticket is no longer (or not yet) in the queue is recognisably stale. Events leave from the head
/// only, once every awaited entity has answered: the input order of each partition is kept.
struct SecondaryJoin {
    struct Slot {
        var item: WorkItem
        /// Bit `e` set while entity `e`'s features are awaited.
        var awaiting: UInt8
        /// Dropped with its revoked partition: leaves the queue without being routed.
        var cancelled: Bool
        /// When the requests were (last) sent, monotonic nanoseconds.
        var sentAtNs: UInt64
    }

    private var slots: [Slot]
    private let mask: UInt64
    /// The ticket of the head (oldest) event.
    private(set) var head: UInt64 = 0
    private(set) var count = 0

    /// - Parameter capacity: rounded up to a power of two.
    init(capacity: Int) {
        var size = 1
        while size < capacity { size <<= 1 }
        slots = Array(repeating: Slot(item: WorkItem(event: Event()), awaiting: 0, cancelled: false, sentAtNs: 0), count: size)
        mask = UInt64(size - 1)
    }

    var capacity: Int { slots.count }
    var free: Int { slots.count - count }
    var isEmpty: Bool { count == 0 }
    /// The ticket the next appended event gets.
    var nextTicket: UInt64 { head &+ UInt64(count) }

    /// Queues an event waiting for the entities in `awaiting` (bit per entity; 0 when it needs none).
    mutating func append(_ item: WorkItem, awaiting: UInt8, nowNs: UInt64) -> UInt64 {
        precondition(count < slots.count, "the join queue is full; the caller checks `free` before reading")
        let ticket = nextTicket
        slots[Int(ticket & mask)] = Slot(item: item, awaiting: awaiting, cancelled: false, sentAtNs: nowNs)
        count += 1
        return ticket
    }

    /// Fills in one entity's features for a ticket. Returns false for a stale or duplicate reply (ignored).
    mutating func fill(ticket: UInt64, entity: Int, _ values: SecondaryReply.Values) -> Bool {
        guard ticket &- head < UInt64(count) else { return false }
        let bit = UInt8(1) << UInt8(entity)
        let index = Int(ticket & mask)
        guard slots[index].awaiting & bit != 0 else { return false }
        slots[index].item.features.withUnsafeMutableBufferPointer { features in
            for i in 0..<values.count {
                let (position, value) = values[i]
                if position < features.count { features[position] = value }
            }
        }
        slots[index].awaiting &= ~bit
        return true
    }

    /// Hands the complete events at the head to `body`, in order, until one still waits (cancelled ones are
    /// dropped silently). `body` returns false to stop early (it could not take the item); that item stays.
    mutating func takeReady(_ body: (WorkItem) -> Bool) {
        while count > 0 {
            let index = Int(head & mask)
            if !slots[index].cancelled {
                guard slots[index].awaiting == 0, body(slots[index].item) else { return }
            }
            head &+= 1
            count -= 1
        }
    }

    /// Cancels the waiting events of a partition (revoked or lost): they leave without being routed.
    mutating func cancel(partition: Int) {
        forEach { slot in
            if Int(slot.item.event.partition) == partition { slot.cancelled = true }
        }
    }

    /// Number of waiting events of a partition.
    func waiting(partition: Int) -> Int {
        var n = 0
        for i in 0..<count where !slots[Int((head &+ UInt64(i)) & mask)].cancelled {
            if Int(slots[Int((head &+ UInt64(i)) & mask)].item.event.partition) == partition { n += 1 }
        }
        return n
    }

    /// Calls `body` with each event still awaiting replies whose requests went out before `beforeNs`, with its
    /// ticket, and marks it as sent again at `nowNs` (the caller resends).
    mutating func overdue(beforeNs: UInt64, nowNs: UInt64, _ body: (UInt64, WorkItem, UInt8) -> Void) {
        for i in 0..<count {
            let ticket = head &+ UInt64(i)
            let index = Int(ticket & mask)
            guard !slots[index].cancelled, slots[index].awaiting != 0, slots[index].sentAtNs < beforeNs else { continue }
            slots[index].sentAtNs = nowNs
            body(ticket, slots[index].item, slots[index].awaiting)
        }
    }

    private mutating func forEach(_ body: (inout Slot) -> Void) {
        for i in 0..<count { body(&slots[Int((head &+ UInt64(i)) & mask)]) }
    }
}
