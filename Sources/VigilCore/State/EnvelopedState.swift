/// State saved as one checksummed, versioned envelope (`BinaryWriter.envelope`): alone, as the bytes of a
/// checkpoint, or as a byte-array field inside the envelope of the state holding it, written and read in place.
///
/// A conforming type writes and reads only its payload; the envelope, its kind and version checks come from here.
public protocol EnvelopedState {
    /// The envelope's kind tag: a restore of another kind is refused.
    static var stateKind: String { get }
    /// The payload's format version, bumped on any layout change; versions from 1 up to it are read.
    static var stateVersion: UInt64 { get }

    /// Writes the payload.
    func writeState(to writer: inout BinaryWriter)

    /// Reads a payload of format `version` (all of it); on error the value is left as it was.
    mutating func restoreState(version: UInt64, payload reader: inout BinaryReader) throws(StateError)
}

extension EnvelopedState {
    /// The whole state as one envelope.
    public func saveState() -> [UInt8] {
        BinaryWriter.envelope(kind: Self.stateKind, version: Self.stateVersion) { writeState(to: &$0) }
    }

    /// Writes what `saveState()` returns as a byte-array field of `writer`, built in place.
    public func saveState(to writer: inout BinaryWriter) {
        writer.writeEnvelope(kind: Self.stateKind, version: Self.stateVersion) { writeState(to: &$0) }
    }

    /// Restores what `saveState()` returned into a value built from the same config; on error nothing changes.
    public mutating func restoreState(_ data: [UInt8]) throws(StateError) {
        let opened = try BinaryReader.open(data, kind: Self.stateKind, versions: 1...Self.stateVersion)
        var payload = opened.payload
        try restoreState(version: opened.version, payload: &payload)
    }

    /// Restores what `saveState(to:)` wrote, read from `reader`; on error nothing changes.
    public mutating func restoreState(from reader: inout BinaryReader) throws(StateError) {
        let opened = try reader.readEnvelope(kind: Self.stateKind, versions: 1...Self.stateVersion)
        var payload = opened.payload
        try restoreState(version: opened.version, payload: &payload)
    }
}
