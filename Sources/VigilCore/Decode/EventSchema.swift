/// Where an event's parts are in an input JSON object.
public struct EventSchema: Sendable, Equatable {
    /// How the event-time field is written.
    public enum TimeFormat: String, Sendable, Equatable, CaseIterable {
        case epochMilliseconds = "epoch_ms"
        case epochSeconds = "epoch_s"
        case iso8601
    }

    public var idField: String
    public var timeField: String
    public var timeFormat: TimeFormat
    /// Entity kinds in order (the first is the primary entity, the one input topics are keyed by) with the
    /// field each is read from. May be empty: then every detector is global.
    public var entities: [(name: String, field: String)]
    public var numericFields: [String]
    public var categoricalFields: [String]
    public var labelField: String?
    /// Messages larger than this are refused.
    public var maxMessageBytes: Int
    /// Nesting deeper than this is refused (it protects the decoder's stack-free skipping of values).
    public var maxDepth: Int

    public init(
        idField: String,
        timeField: String,
        timeFormat: TimeFormat,
        entities: [(name: String, field: String)],
        numericFields: [String],
        categoricalFields: [String],
        labelField: String? = nil,
        maxMessageBytes: Int = 65_536,
        maxDepth: Int = 32
    ) {
        self.idField = idField
        self.timeField = timeField
        self.timeFormat = timeFormat
        self.entities = entities
        self.numericFields = numericFields
        self.categoricalFields = categoricalFields
        self.labelField = labelField
        self.maxMessageBytes = maxMessageBytes
        self.maxDepth = maxDepth
    }

    public static func == (lhs: EventSchema, rhs: EventSchema) -> Bool {
        lhs.idField == rhs.idField && lhs.timeField == rhs.timeField && lhs.timeFormat == rhs.timeFormat
            && lhs.entities.map(\.name) == rhs.entities.map(\.name) && lhs.entities.map(\.field) == rhs.entities.map(\.field)
            && lhs.numericFields == rhs.numericFields && lhs.categoricalFields == rhs.categoricalFields
            && lhs.labelField == rhs.labelField && lhs.maxMessageBytes == rhs.maxMessageBytes && lhs.maxDepth == rhs.maxDepth
    }
}
