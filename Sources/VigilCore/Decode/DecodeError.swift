/// Why an input message was refused. `kind` goes into the dead-letter header `vigil.error.kind`.
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case tooLarge = "too_large"
        case malformedJSON = "malformed_json"
        case notObject = "not_object"
        case tooDeep = "too_deep"
        case invalidUTF8 = "invalid_utf8"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case nonFinite = "non_finite"
        case valueTooLong = "value_too_long"
        case timeOutOfRange = "time_out_of_range"
        case emptyMessage = "empty_message"
    }

    public var kind: Kind
    public var message: String
    /// Byte offset in the message where the problem was found.
    public var position: Int

    public init(_ kind: Kind, _ message: String, at position: Int = 0) {
        self.kind = kind
        self.message = message
        self.position = position
    }

    public var description: String { "\(kind.rawValue): \(message) (byte \(position))" }
}
