/// Fixed bounds of an `Event`, so events are plain values of fixed size that cross rings without allocation
/// or reference counting. The config loader refuses schemas beyond them.
public enum EventLimits {
    /// Entity kinds per event (card, merchant, ...).
    public static let entities = 4
    /// Numeric fields per event.
    public static let numericFields = 16
    /// Categorical fields per event.
    public static let categoricalFields = 8
    /// Bytes of an event id.
    public static let idBytes = 64
    /// Bytes of an entity key.
    public static let keyBytes = 48
}
