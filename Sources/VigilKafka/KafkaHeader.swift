/// One Kafka record header: a name and an optional value.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    /// The value's bytes, or `nil` for a header without a value.
    public var value: ArraySlice<UInt8>?

    public init(name: String, value: ArraySlice<UInt8>?) {
        self.name = name
        self.value = value
    }

    public init(name: String, value: String) {
        self.init(name: name, value: ArraySlice(value.utf8))
    }

    /// The value decoded as UTF-8, or `nil` when absent.
    public var stringValue: String? {
        value.map { String(decoding: $0, as: UTF8.self) }
    }
}
