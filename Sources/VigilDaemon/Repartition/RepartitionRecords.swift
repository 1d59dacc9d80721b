public import VigilCore

/// The two record kinds of `pipeline.repartition`, in a small versioned little-endian binary form (they travel
/// only between Vigil instances of one group; a version byte lets a rolling upgrade refuse what it cannot read).
///
/// A request carries a decoded event to the owner of its secondary entity's partition; the reply carries that
/// entity's feature values back to the instance that asked, matched by `(instance, ticket)`.
public enum SecondaryRequest {
    public static let version: UInt8 = 1

    /// Who asked and where to answer.
    public struct Header: Sendable, Equatable {
        /// The asking instance (random per process): replies to another instance's tickets are ignored.
        public var instance: UInt64
        /// The event's place in the asking instance's join queue.
        public var ticket: UInt64
        /// The partition of the replies topic the asking instance reads.
        public var replyPartition: Int32
        /// The secondary entity whose features are asked for (schema index).
        public var entity: Int
        /// The input partition the event was read from (its topic's FNV-1a hash and its number; the offset is the
        /// event's): the secondary stage counts each input event once, however often it is sent.
        public var source: EventSource

        public init(instance: UInt64, ticket: UInt64, replyPartition: Int32, entity: Int, source: EventSource = EventSource(topic: 0, partition: 0)) {
            self.instance = instance
            self.ticket = ticket
            self.replyPartition = replyPartition
            self.entity = entity
            self.source = source
        }
    }

    /// Appends the request to `buffer` (cleared first, capacity kept: no allocation once it has grown).
    public static func encode(_ event: Event, _ header: Header, into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(version)
        buffer.appendLittleEndian(header.instance)
        buffer.appendLittleEndian(header.ticket)
        buffer.appendLittleEndian(UInt32(bitPattern: header.replyPartition))
        buffer.append(UInt8(header.entity))
        buffer.appendLittleEndian(header.source.topic)
        buffer.appendLittleEndian(UInt32(bitPattern: header.source.partition))
        buffer.appendLittleEndian(UInt64(bitPattern: event.timeMs))
        buffer.appendLittleEndian(UInt64(bitPattern: event.watermarkMs))
        buffer.appendLittleEndian(UInt64(bitPattern: event.offset))
        event.id.withBytes { bytes in
            buffer.append(UInt8(bytes.count))
            buffer.append(contentsOf: bytes)
        }
        // Each fixed-size array is cut after its last present slot (absent keys are empty, absent fields NaN or
        // 0, as a fresh Event has them): a count byte, then the slots.
        var entities = event.entities.count
        while entities > 0, !event.entities[entities - 1].isPresent { entities -= 1 }
        buffer.append(UInt8(entities))
        for i in 0..<entities {
            event.entities[i].withBytes { bytes in
                buffer.append(UInt8(bytes.count))
                buffer.append(contentsOf: bytes)
            }
        }
        var numeric = event.numeric.count
        while numeric > 0, event.numeric[numeric - 1].isNaN { numeric -= 1 }
        buffer.append(UInt8(numeric))
        for i in 0..<numeric { buffer.appendLittleEndian(event.numeric[i].bitPattern) }
        var categorical = event.categorical.count
        while categorical > 0, event.categorical[categorical - 1] == 0 { categorical -= 1 }
        buffer.append(UInt8(categorical))
        for i in 0..<categorical { buffer.appendLittleEndian(event.categorical[i]) }
        buffer.append(UInt8(bitPattern: event.label))
    }

    /// Reads a request into `event` (its time, watermark, keys and fields; the pipeline coordinates are left
    /// to the caller).
    public static func decode(_ bytes: UnsafeRawBufferPointer, into event: inout Event) throws(StateError) -> Header {
        var reader = LittleEndianReader(bytes)
        let found = try reader.byte()
        guard found == version else { throw StateError("repartition request version \(found); this build reads \(version)") }
        let header = Header(
            instance: try reader.uint64(), ticket: try reader.uint64(),
            replyPartition: Int32(bitPattern: try reader.uint32()), entity: Int(try reader.byte()),
            source: EventSource(topic: try reader.uint64(), partition: Int32(bitPattern: try reader.uint32())))
        event.timeMs = Int64(bitPattern: try reader.uint64())
        event.watermarkMs = Int64(bitPattern: try reader.uint64())
        event.offset = Int64(bitPattern: try reader.uint64())
        let id = try reader.bytes(count: Int(try reader.byte()))
        guard let eventID = EventID(id) else { throw StateError("repartition request: event id too long") }
        event.id = eventID
        let entities = Int(try reader.byte())
        guard entities <= event.entities.count else { throw StateError("repartition request: \(entities) entity keys") }
        for i in 0..<entities {
            let key = try reader.bytes(count: Int(try reader.byte()))
            guard let entityKey = EntityKey(key) else { throw StateError("repartition request: entity key too long") }
            event.entities[i] = key.isEmpty ? EntityKey() : entityKey
        }
        for i in entities..<event.entities.count { event.entities[i] = EntityKey() }
        let numeric = Int(try reader.byte())
        guard numeric <= event.numeric.count else { throw StateError("repartition request: \(numeric) numeric fields") }
        for i in 0..<event.numeric.count { event.numeric[i] = i < numeric ? Double(bitPattern: try reader.uint64()) : .nan }
        let categorical = Int(try reader.byte())
        guard categorical <= event.categorical.count else { throw StateError("repartition request: \(categorical) categorical fields") }
        for i in 0..<event.categorical.count { event.categorical[i] = i < categorical ? try reader.uint64() : 0 }
        event.label = Int8(bitPattern: try reader.byte())
        guard reader.isAtEnd else { throw StateError("repartition request: trailing bytes") }
        guard header.entity < event.entities.count else { throw StateError("repartition request: entity \(header.entity) out of range") }
        return header
    }
}

/// An input partition, named the same way by every instance.
public struct EventSource: Sendable, Hashable {
    /// FNV-1a of the topic name.
    public var topic: UInt64
    public var partition: Int32

    public init(topic: UInt64, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
}

/// The features one secondary entity computed for one event, on its way back to the instance that asked.
public enum SecondaryReply {
    public static let version: UInt8 = 1

    /// Appends the reply — the values of `vector` at `positions` — to `buffer` (cleared first, capacity kept).
    public static func encode(_ header: SecondaryRequest.Header, positions: [Int], vector: UnsafeBufferPointer<Double>, into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(version)
        buffer.appendLittleEndian(header.instance)
        buffer.appendLittleEndian(header.ticket)
        buffer.append(UInt8(header.entity))
        buffer.append(UInt8(positions.count))
        for position in positions {
            buffer.append(UInt8(position))
            buffer.appendLittleEndian(vector[position].bitPattern)
        }
    }

    /// Reads a reply's header and hands each (position, value) to `body`, or throws on a malformed record
    /// before calling `body` at all.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(StateError) -> (instance: UInt64, ticket: UInt64, entity: Int, values: Values) {
        var reader = LittleEndianReader(bytes)
        let found = try reader.byte()
        guard found == version else { throw StateError("secondary reply version \(found); this build reads \(version)") }
        let instance = try reader.uint64()
        let ticket = try reader.uint64()
        let entity = Int(try reader.byte())
        let count = Int(try reader.byte())
        guard reader.remaining == count * 9 else { throw StateError("secondary reply: \(reader.remaining) bytes for \(count) values") }
        return (instance, ticket, entity, Values(bytes: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - count * 9)...]), count: count))
    }

    /// The (position, value) pairs of a decoded reply, read in place.
    public struct Values {
        let bytes: UnsafeRawBufferPointer
        public let count: Int

        public subscript(i: Int) -> (position: Int, value: Double) {
            let base = i * 9
            var bits: UInt64 = 0
            for b in 0..<8 { bits |= UInt64(bytes[base + 1 + b]) << (8 * UInt64(b)) }
            return (Int(bytes[base]), Double(bitPattern: bits))
        }
    }
}

extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Reads little-endian fields from bytes, throwing at the end instead of trapping.
struct LittleEndianReader {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }
    var remaining: Int { bytes.count - position }

    mutating func byte() throws(StateError) -> UInt8 {
        guard position < bytes.count else { throw StateError("record ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint32() throws(StateError) -> UInt32 { try integer() }
    mutating func uint64() throws(StateError) -> UInt64 { try integer() }

    private mutating func integer<T: FixedWidthInteger & UnsignedInteger>() throws(StateError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw StateError("record ends early") }
        var value: T = 0
        for b in 0..<size { value |= T(bytes[position + b]) << (8 * b) }
        position += size
        return value
    }

    mutating func bytes(count: Int) throws(StateError) -> UnsafeRawBufferPointer {
        guard remaining >= count else { throw StateError("record ends early") }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }
}
