/// One decoded input event: a fixed-size value with no references, so it crosses rings by plain copy.
public struct Event: Sendable {
    /// Where the event came from: the pipeline's dense partition index and the Kafka offset.
    public var partition: Int32
    public var offset: Int64
    public var id: EventID
    /// Event time, milliseconds since the epoch.
    public var timeMs: Int64
    /// The watermark of the event's input partition when it was read: the partition's maximum event time
    /// minus the allowed lateness. Events older than it are late.
    public var watermarkMs: Int64
    /// Entity keys by entity index, as the schema orders them; absent ones have `count == 0`.
    public var entities: InlineArray<4, EntityKey>
    /// Numeric fields by index; NaN where the event had no value.
    public var numeric: InlineArray<16, Double>
    /// Categorical fields by index as 64-bit hashes of their text; 0 where absent.
    public var categorical: InlineArray<8, UInt64>
    /// The ground-truth label when the schema names one: 0, 1, or -1 for none. Never read by online models.
    public var label: Int8
    /// When the pipeline read the event (monotonic nanoseconds), for latency measurement; 0 when unknown.
    public var consumedAtNs: UInt64
    /// True when the event is read again only to rebuild state after a restore: its outputs were already
    /// delivered (its offset is below the committed one), so it updates state but produces nothing.
    public var isReplay: Bool

    public init() {
        partition = 0
        offset = 0
        id = EventID()
        timeMs = 0
        watermarkMs = .min
        entities = InlineArray(repeating: EntityKey())
        numeric = InlineArray(repeating: .nan)
        categorical = InlineArray(repeating: 0)
        label = -1
        consumedAtNs = 0
        isReplay = false
    }

    /// True when the event arrived after its partition's watermark passed its time.
    public var isLate: Bool { timeMs < watermarkMs }
}
