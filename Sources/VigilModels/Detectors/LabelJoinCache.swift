public import VigilCore

/// The input vectors of recent events by event id, so that delayed labels can be joined to what the model saw.
///
/// A bounded ring: once `capacity` vectors are held, each new one evicts the oldest. A label for an id not held
/// (never seen, or evicted) is counted, not an error.
public struct LabelJoinCache: Sendable, Equatable {
    public let capacity: Int
    public let dimensions: Int
    private var ids: [EventID]
    private var vectors: [Double]
    private var slotOf: [EventID: Int] = [:]
    private var next = 0
    private var filled = 0
    public private(set) var joined = 0
    public private(set) var unknown = 0

    public init(capacity: Int, dimensions: Int) {
        self.capacity = max(1, capacity)
        self.dimensions = dimensions
        ids = Array(repeating: EventID(), count: self.capacity)
        vectors = Array(repeating: 0, count: self.capacity * dimensions)
        slotOf.reserveCapacity(self.capacity)
    }

    /// Remembers the vector an event was scored with.
    public mutating func remember(_ id: EventID, _ x: UnsafeBufferPointer<Double>) {
        if filled == capacity {
            if slotOf[ids[next]] == next { slotOf[ids[next]] = nil }
        } else {
            filled += 1
        }
        ids[next] = id
        slotOf[id] = next
        for i in 0..<dimensions { vectors[next * dimensions + i] = x[i] }
        next = (next + 1) % capacity
    }

    /// Calls `body` with the vector of `id` and forgets it; counts the id as unknown when it is not held.
    public mutating func take(_ id: EventID, _ body: (UnsafeBufferPointer<Double>) -> Void) -> Bool {
        guard let slot = slotOf.removeValue(forKey: id) else {
            unknown += 1
            return false
        }
        joined += 1
        vectors.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[(slot * dimensions)..<((slot + 1) * dimensions)])) }
        return true
    }
}
