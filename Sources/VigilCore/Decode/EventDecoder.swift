#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes JSON input messages into `Event`s on the hot path: one validating pass over the bytes, no
/// Foundation, and no allocation (strings are hashed or copied into the event's inline storage).
///
/// Refused messages get a `DecodeError` saying why; nothing is dropped silently.
public struct EventDecoder: Sendable {
    private enum Role: Sendable {
        case id, time, entity(Int), numeric(Int), categorical(Int), label
    }

    public let schema: EventSchema
    /// A field name the schema maps: where its bytes are in `roleNames`, how many, its first eight bytes as a word
    /// (`prefix(_:count:)`), its role, and whether it is written plainly in JSON (no quote, backslash or control
    /// byte: the message's raw key bytes then equal the name exactly when the key is that field).
    private struct KeyEntry: Sendable {
        var start: Int
        var count: Int
        var prefix: UInt64
        var role: Role
        var isPlain: Bool
    }

    /// Every field name's bytes, one after another, and their entries: scanned linearly (schemas have a handful of
    /// fields), a key matched by its length and first word, and `memcmp` only for the bytes past the eighth.
    private let roleNames: [UInt8]
    private let roles: [KeyEntry]
    /// One bit per field name, at `filterBit(count:prefix:)`: a key whose bit is clear is no field's, without a
    /// search of the names. Events carry many fields no feature reads, and each such key was a search of them all.
    private let nameFilter: UInt64
    /// Categorical fields that are also an entity's key field: (categorical index, entity index).
    private let categoricalFromEntity: [(Int, Int)]
    /// How many entities, numeric and categorical fields the schema has: the parts of an event a message sets.
    private let roleCounts: (entities: Int, numeric: Int, categorical: Int)
    /// Event times outside this range are refused: they would drag the watermark to nonsense.
    public var timeRangeMs: ClosedRange<Int64> = 946_684_800_000...4_102_444_800_000

    public init(schema: EventSchema) {
        self.schema = schema
        var fields: [(name: [UInt8], role: Role)] = [(Array(schema.idField.utf8), .id), (Array(schema.timeField.utf8), .time)]
        for (i, entity) in schema.entities.enumerated() { fields.append((Array(entity.field.utf8), .entity(i))) }
        for (i, name) in schema.numericFields.enumerated() { fields.append((Array(name.utf8), .numeric(i))) }
        var categoricalFromEntity: [(Int, Int)] = []
        for (i, name) in schema.categoricalFields.enumerated() {
            // A field can be both an entity key and a categorical value (merchant_id): read it once, as the key.
            if let entity = schema.entities.firstIndex(where: { $0.field == name }) {
                categoricalFromEntity.append((i, entity))
            } else {
                fields.append((Array(name.utf8), .categorical(i)))
            }
        }
        self.categoricalFromEntity = categoricalFromEntity
        roleCounts = (schema.entities.count, schema.numericFields.count, schema.categoricalFields.count)
        if let label = schema.labelField { fields.append((Array(label.utf8), .label)) }
        var roleNames: [UInt8] = []
        roles = fields.map { name, role in
            defer { roleNames += name }
            let prefix = name.withUnsafeBytes { Self.prefix($0.baseAddress!, count: name.count) }
            let isPlain = !name.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            return KeyEntry(start: roleNames.count, count: name.count, prefix: prefix, role: role, isPlain: isPlain)
        }
        self.roleNames = roleNames
        nameFilter = roles.reduce(0) { $0 | 1 &<< Self.filterBit(count: $1.count, prefix: $1.prefix) }
    }

    /// Decodes one message. `event` keeps what the reader set before decoding — its partition, offset, watermark,
    /// read time and whether it is replayed after a restore; every part the schema maps is overwritten (blank
    /// where the message leaves it out), and the parts past the schema's fields are not touched.
    public func decode(_ bytes: UnsafeRawBufferPointer, into event: inout Event) throws(DecodeError) {
        guard bytes.count <= schema.maxMessageBytes else {
            throw DecodeError(.tooLarge, "message of \(bytes.count) bytes is over the limit of \(schema.maxMessageBytes)")
        }
        var scanner = JSONScanner(bytes, maxDepth: schema.maxDepth)
        scanner.skipWhitespace()
        guard !scanner.atEnd else { throw DecodeError(.emptyMessage, "empty message") }
        guard scanner.peek() == 0x7B else {
            try scanner.skipValue(depth: 0)
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw scanner.error(.malformedJSON, "trailing bytes after the JSON value") }
            throw DecodeError(.notObject, "the message is JSON but not an object")
        }
        scanner.position += 1

        resetDecodedFields(of: &event)
        var sawID = false
        var sawTime = false
        // Where the next key's search starts: just past the last key's entry. Producers write their fields in one
        // order, so the next key is usually the entry after the last one's (one comparison, not a scan).
        var nextRole = 0

        scanner.skipWhitespace()
        if scanner.peek() == 0x7D {
            scanner.position += 1
        } else {
            while true {
                scanner.skipWhitespace()
                let role: Role?
                if let expected = expectedKey(&scanner, next: &nextRole) {
                    role = expected
                } else {
                    let key = try scanner.readString()
                    role = self.role(of: key, scanner, from: &nextRole)
                }
                try scanner.expect(0x3A, "':' after a key")
                scanner.skipWhitespace()
                if let role {
                    switch role {
                    case .id:
                        try readText(&scanner, field: .id, limit: EventLimits.idBytes) { event.id.assign($0) }
                        sawID = event.id.count > 0
                    case .time:
                        event.timeMs = try readTime(&scanner)
                        sawTime = true
                    case .entity(let i):
                        try readText(&scanner, field: .entity(i), limit: EventLimits.keyBytes, allowNull: true) { event.entities[i].assign($0) }
                    case .numeric(let i):
                        event.numeric[i] = try readNumber(&scanner, field: .numeric(i))
                    case .categorical(let i):
                        event.categorical[i] = try readCategorical(&scanner, field: .categorical(i))
                    case .label:
                        event.label = try readLabel(&scanner)
                    }
                } else {
                    try scanner.skipValue(depth: 1)
                }
                scanner.skipWhitespace()
                guard let next = scanner.peek() else { throw scanner.error(.malformedJSON, "unexpected end inside the object") }
                scanner.position += 1
                if next == 0x7D { break }
                guard next == 0x2C else { throw scanner.error(.malformedJSON, "expected ',' or '}'") }
            }
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw scanner.error(.malformedJSON, "trailing bytes after the object") }
        for (categorical, entity) in categoricalFromEntity where event.entities[entity].isPresent {
            event.categorical[categorical] = nonZero(event.entities[entity].hash)
        }
        guard sawID else { throw DecodeError(.missingField, "missing event id field '\(schema.idField)'") }
        guard sawTime else { throw DecodeError(.missingField, "missing event time field '\(schema.timeField)'") }
        // Checked once the whole message is known to be well-formed, so malformed input is reported as such.
        guard timeRangeMs.contains(event.timeMs) else {
            throw DecodeError(.timeOutOfRange, "event time \(event.timeMs) ms is outside the years 2000 to 2100")
        }
        guard schema.entities.isEmpty || event.entities[0].isPresent else {
            throw DecodeError(.missingField, "missing primary entity field '\(schema.entities[0].field)'")
        }
    }

    /// Blanks what a message sets (id, time, the schema's entities and fields, label), as in `Event()`, leaving
    /// the reader's fields. Building a blank `Event` and copying it over wrote all its 569 bytes; the parts past the
    /// schema's fields are left as they are: the decoder never writes them, so in events it decodes into they
    /// stay as `Event()` made them.
    @inline(__always)
    private func resetDecodedFields(of event: inout Event) {
        event.id.count = 0
        event.timeMs = 0
        event.label = -1
        for i in 0..<roleCounts.entities { event.entities[i] = EntityKey() }
        for i in 0..<roleCounts.numeric { event.numeric[i] = .nan }
        for i in 0..<roleCounts.categorical { event.categorical[i] = 0 }
    }

    /// The role of the key at the scanner's position when it is the field the search would try first (entry
    /// `next`), written plainly: its bytes and closing quote are compared where they lie, and the scanner moves past
    /// the key. Nil, the scanner unmoved, for any other key: it is read as a string and searched for then. A message
    /// in its producer's usual order has every known key matched here, without scanning the key or searching.
    @inline(__always)
    private func expectedKey(_ scanner: inout JSONScanner, next: inout Int) -> Role? {
        roles.withUnsafeBufferPointer { roles -> Role? in
            // The schema always maps an id and a time, so there are entries.
            let index = next < roles.count ? next : 0
            let entry = roles[index]
            let open = scanner.position
            let close = open &+ 1 &+ entry.count
            // The name's first word is read in one load, so it must lie inside the message with its closing quote.
            guard entry.isPlain, open &+ 9 <= scanner.bytes.count, close < scanner.bytes.count,
                scanner.bytes[open] == 0x22, scanner.bytes[close] == 0x22, let base = scanner.bytes.baseAddress
            else { return nil }
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: open &+ 1, as: UInt64.self))
            guard word & Self.prefixMask(count: entry.count) == entry.prefix, bytesPastTheFirstWord(of: entry, match: base + (open &+ 1)) else {
                return nil
            }
            scanner.position = close &+ 1
            next = index &+ 1
            return entry.role
        }
    }

    /// The role of the field named by `key`, searching the roles from entry `start` round to the one before it;
    /// on a match `start` moves past the matched entry. Inlined for the usual key (no escapes, its first eight bytes
    /// inside the message), so that a key of no field is turned away by `nameFilter` without a call.
    @inline(__always)
    private func role(of key: JSONScanner.StringToken, _ scanner: JSONScanner, from start: inout Int) -> Role? {
        // A key is followed by at least its closing quote and a colon, so its first eight bytes are mostly inside
        // the message and read as one word.
        guard !key.hasEscapes, !key.range.isEmpty, key.range.lowerBound &+ 8 <= scanner.bytes.count, let base = scanner.bytes.baseAddress else {
            return roleOfUnusualKey(key, scanner, from: &start)
        }
        let count = key.range.count
        let prefix = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: key.range.lowerBound, as: UInt64.self)) & Self.prefixMask(count: count)
        guard mayBeField(count: count, prefix: prefix) else { return nil }
        return match(UnsafeRawBufferPointer(rebasing: scanner.bytes[key.range]), prefix: prefix, from: &start)
    }

    /// `role(of:_:from:)` for a key with escapes (unescaped first), an empty one, or one too near the message's end
    /// to read its first eight bytes as a word.
    @inline(never)
    private func roleOfUnusualKey(_ key: JSONScanner.StringToken, _ scanner: JSONScanner, from start: inout Int) -> Role? {
        if key.hasEscapes {
            return withUnsafeTemporaryAllocation(byteCount: 256, alignment: 1) { buffer in
                guard let n = scanner.unescape(key, into: buffer) else { return nil }
                let name = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                let prefix = n == 0 ? 0 : Self.prefix(name.baseAddress!, count: n)
                return mayBeField(count: n, prefix: prefix) ? match(name, prefix: prefix, from: &start) : nil
            }
        }
        let name = UnsafeRawBufferPointer(rebasing: scanner.bytes[key.range])
        let prefix = name.isEmpty ? 0 : Self.prefix(name.baseAddress!, count: name.count)
        return mayBeField(count: name.count, prefix: prefix) ? match(name, prefix: prefix, from: &start) : nil
    }

    /// The first `min(count, 8)` bytes of a name, the first one lowest, zeros above.
    private static func prefix(_ bytes: UnsafeRawPointer, count: Int) -> UInt64 {
        var word: UInt64 = 0
        for i in 0..<min(count, 8) { word |= UInt64(bytes.load(fromByteOffset: i, as: UInt8.self)) << (8 * i) }
        return word
    }

    /// Keeps the bytes of a word that belong to a name of `count` bytes.
    @inline(__always) private static func prefixMask(count: Int) -> UInt64 {
        count >= 8 ? ~0 : (1 &<< (8 &* UInt64(truncatingIfNeeded: count))) &- 1
    }

    /// Where a name of `count` bytes starting with `prefix` falls in `nameFilter`: its length and first word mixed
    /// by a multiplication, the top six bits.
    @inline(__always) private static func filterBit(count: Int, prefix: UInt64) -> UInt64 {
        ((prefix ^ UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15) &* 0xD6E8_FEB8_6659_FD93) >> 58
    }

    /// False when no field name has `count` bytes and the first word `prefix` (`nameFilter`); true may be wrong.
    @inline(__always) private func mayBeField(count: Int, prefix: UInt64) -> Bool {
        nameFilter & (1 &<< Self.filterBit(count: count, prefix: prefix)) != 0
    }

    /// Whether the bytes of `entry`'s name past its first eight (none for a short name) are those at `name + 8`:
    /// what is left to compare once the lengths and first words agree.
    @inline(__always) private func bytesPastTheFirstWord(of entry: KeyEntry, match name: UnsafeRawPointer) -> Bool {
        entry.count <= 8 || roleNames.withUnsafeBytes { names in memcmp(names.baseAddress! + entry.start + 8, name + 8, entry.count - 8) == 0 }
    }

    /// The role whose name is `name` (its first word `prefix`), searched from entry `start` round.
    @inline(never)
    private func match(_ name: UnsafeRawBufferPointer, prefix: UInt64, from start: inout Int) -> Role? {
        roles.withUnsafeBufferPointer { roles in
            let count = roles.count
            var index = start < count ? start : 0
            for _ in 0..<count {
                let entry = roles[index]
                if entry.count == name.count && entry.prefix == prefix && bytesPastTheFirstWord(of: entry, match: name.baseAddress!) {
                    start = index &+ 1
                    return entry.role
                }
                index = index &+ 1 == count ? 0 : index &+ 1
            }
            return nil
        }
    }

    /// The name of the field a role reads, for error messages: the readers take the role, so that the event path
    /// passes no strings (each one passed was a retain and a release).
    private func name(of role: Role) -> String {
        switch role {
        case .id: schema.idField
        case .time: schema.timeField
        case .entity(let i): schema.entities[i].field
        case .numeric(let i): schema.numericFields[i]
        case .categorical(let i): schema.categoricalFields[i]
        case .label: schema.labelField ?? "label"
        }
    }

    /// A text value (or an integer, taken as its digits) for ids and keys; calls `store` with its bytes.
    /// Null or empty means absent when `allowNull`.
    private func readText(
        _ scanner: inout JSONScanner,
        field: Role,
        limit: Int,
        allowNull: Bool = false,
        store: (UnsafeRawBufferPointer) -> Void
    ) throws(DecodeError) {
        switch scanner.peek() ?? 0 {
        case 0x22:
            let token = try scanner.readString()
            if token.hasEscapes {
                let stored: Bool = withUnsafeTemporaryAllocation(byteCount: limit, alignment: 1) { buffer in
                    guard let n = scanner.unescape(token, into: buffer) else { return false }
                    if n > 0 { store(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
                    return true
                }
                guard stored else { throw DecodeError(.valueTooLong, "'\(name(of: field))' is longer than \(limit) bytes", at: token.range.lowerBound) }
            } else {
                guard token.range.count <= limit else {
                    throw DecodeError(.valueTooLong, "'\(name(of: field))' is longer than \(limit) bytes", at: token.range.lowerBound)
                }
                if !token.range.isEmpty { store(UnsafeRawBufferPointer(rebasing: scanner.bytes[token.range])) }
            }
        case 0x2D, 48...57:
            let start = scanner.position
            let token = try scanner.readNumber()
            guard token.isInteger else { throw DecodeError(.wrongType, "'\(name(of: field))' must be text or an integer", at: start) }
            guard token.range.count <= limit else { throw DecodeError(.valueTooLong, "'\(name(of: field))' is too long", at: start) }
            store(UnsafeRawBufferPointer(rebasing: scanner.bytes[token.range]))
        case 0x6E where allowNull:
            _ = try scanner.readLiteral()
        default:
            let start = scanner.position
            try scanner.skipValue(depth: 1)
            throw DecodeError(.wrongType, "'\(name(of: field))' must be text or an integer", at: start)
        }
    }

    private func readTime(_ scanner: inout JSONScanner) throws(DecodeError) -> Int64 {
        let start = scanner.position
        let ms: Int64
        switch (schema.timeFormat, scanner.peek() ?? 0) {
        case (.epochMilliseconds, 0x2D), (.epochMilliseconds, 48...57), (.epochSeconds, 0x2D), (.epochSeconds, 48...57):
            let token = try scanner.readNumber()
            let scale: Double = schema.timeFormat == .epochSeconds ? 1000 : 1
            if schema.timeFormat == .epochMilliseconds, let exact = scanner.int64(token) {
                ms = exact
            } else {
                let value = scanner.double(token) * scale
                guard value.isFinite, abs(value) < 9e15 else { throw DecodeError(.timeOutOfRange, "event time out of range", at: start) }
                ms = Int64(value.rounded())
            }
        case (.iso8601, 0x22):
            let token = try scanner.readString()
            guard !token.hasEscapes, let parsed = ISO8601.milliseconds(UnsafeRawBufferPointer(rebasing: scanner.bytes[token.range])) else {
                throw DecodeError(.wrongType, "'\(schema.timeField)' is not an ISO-8601 time", at: start)
            }
            ms = parsed
        default:
            try scanner.skipValue(depth: 1)
            let expected = schema.timeFormat == .iso8601 ? "an ISO-8601 text" : "a number (\(schema.timeFormat.rawValue))"
            throw DecodeError(.wrongType, "'\(schema.timeField)' must be \(expected)", at: start)
        }
        return ms
    }

    private func readNumber(_ scanner: inout JSONScanner, field: Role) throws(DecodeError) -> Double {
        let start = scanner.position
        switch scanner.peek() ?? 0 {
        case 0x2D, 48...57:
            let value = scanner.double(try scanner.readNumber())
            guard value.isFinite else { throw DecodeError(.nonFinite, "'\(name(of: field))' is not a finite number", at: start) }
            return value
        case 0x6E:
            _ = try scanner.readLiteral()
            return .nan
        default:
            try scanner.skipValue(depth: 1)
            throw DecodeError(.wrongType, "'\(name(of: field))' must be a number", at: start)
        }
    }

    private func readCategorical(_ scanner: inout JSONScanner, field: Role) throws(DecodeError) -> UInt64 {
        let start = scanner.position
        switch scanner.peek() ?? 0 {
        case 0x22:
            let token = try scanner.readString()
            if token.range.isEmpty { return 0 }
            if token.hasEscapes {
                return withUnsafeTemporaryAllocation(byteCount: token.range.count, alignment: 1) { buffer in
                    let n = scanner.unescape(token, into: buffer) ?? 0
                    return nonZero(FNV1a.hash(UnsafeRawBufferPointer(rebasing: buffer[0..<n])))
                }
            }
            return nonZero(FNV1a.hash(UnsafeRawBufferPointer(rebasing: scanner.bytes[token.range])))
        case 0x2D, 48...57:
            let token = try scanner.readNumber()
            return nonZero(FNV1a.hash(UnsafeRawBufferPointer(rebasing: scanner.bytes[token.range])))
        case 0x74, 0x66:
            let from = scanner.position
            _ = try scanner.readLiteral()
            return nonZero(FNV1a.hash(UnsafeRawBufferPointer(rebasing: scanner.bytes[from..<scanner.position])))
        case 0x6E:
            _ = try scanner.readLiteral()
            return 0
        default:
            try scanner.skipValue(depth: 1)
            throw DecodeError(.wrongType, "'\(name(of: field))' must be text, a number or a boolean", at: start)
        }
    }

    /// 0 means "absent", so a value hashing to 0 is nudged to 1.
    private func nonZero(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }

    private func readLabel(_ scanner: inout JSONScanner) throws(DecodeError) -> Int8 {
        let start = scanner.position
        switch scanner.peek() ?? 0 {
        case 0x74, 0x66, 0x6E:
            let b = try scanner.readLiteral()
            return b == 0x74 ? 1 : b == 0x66 ? 0 : -1
        case 0x2D, 48...57:
            let value = scanner.double(try scanner.readNumber())
            guard value == 0 || value == 1 else { throw DecodeError(.wrongType, "the label must be 0 or 1", at: start) }
            return Int8(value)
        default:
            try scanner.skipValue(depth: 1)
            throw DecodeError(.wrongType, "the label must be 0, 1, true or false", at: start)
        }
    }
}
