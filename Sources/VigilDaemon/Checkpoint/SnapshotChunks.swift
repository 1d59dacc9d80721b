public import VigilCore

/// Splits a snapshot into messages small enough for a Kafka topic and puts it back together.
///
/// Each chunk is a message keyed `<base>#<index>` on the compacted changelog, so compaction keeps the newest
/// chunk of every index. A chunk's value is a header — magic `VGLC`, format version, checkpoint id, index,
/// count, total length, checksum of the whole snapshot (XXH64 in format 2; FNV-1a in format 1, still read) —
/// followed by its slice of the snapshot. Reassembly takes chunk 0's checkpoint id and count, requires every other
/// chunk of that checkpoint, and checks length and checksum, so leftovers of an older, longer snapshot or a torn
/// write are detected rather than misread.
public enum SnapshotChunks {
    public static let formatVersion: UInt8 = 2
    static let magic = Array("VGLC".utf8)
    static let headerSize = 4 + 1 + 8 + 4 + 4 + 8 + 8

    /// The chunk messages (key, value) of `payload` for checkpoint `checkpoint`.
    public static func split(_ payload: [UInt8], base: String, checkpoint: UInt64, maxChunkBytes: Int = 512 * 1024) -> [(key: String, value: [UInt8])] {
        var chunks: [(key: String, value: [UInt8])] = []
        forEachChunk(of: payload, base: base, checkpoint: checkpoint, maxChunkBytes: maxChunkBytes) { key, value in
            chunks.append((key, Array(value)))
        }
        return chunks
    }

    /// Hands each chunk message of `payload` to `body` in order, its value assembled in one buffer reused for
    /// every chunk (valid only during the call: a producer copies it), and returns how many there were. A
    /// checkpoint of hundreds of megabytes is cut without a fresh allocation per chunk.
    @discardableResult
    public static func forEachChunk<E: Error>(
        of payload: [UInt8], base: String, checkpoint: UInt64, maxChunkBytes: Int = 512 * 1024,
        _ body: (_ key: String, _ value: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) -> Int {
        let chunkSize = max(1, maxChunkBytes - headerSize)
        let count = max(1, (payload.count + chunkSize - 1) / chunkSize)
        let checksum = payload.withUnsafeBytes { XXHash64.hash($0) }
        var value: [UInt8] = []
        value.reserveCapacity(headerSize + min(chunkSize, payload.count))
        for index in 0..<count {
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: magic)
            value.append(formatVersion)
            append(checkpoint, to: &value)
            append(UInt32(index), to: &value)
            append(UInt32(count), to: &value)
            append(UInt64(payload.count), to: &value)
            append(checksum, to: &value)
            value.append(contentsOf: payload[min(payload.count, index * chunkSize)..<min(payload.count, (index + 1) * chunkSize)])
            // `withUnsafeBytes` rethrows untyped errors: the typed one is carried out of it.
            var failure: E?
            value.withUnsafeBytes { buffer in
                do throws(E) { try body("\(base)#\(index)", buffer) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        return count
    }

    /// The base key and chunk index of a chunk key, or nil for a key that is not a chunk's.
    public static func parse(key: String) -> (base: String, index: Int)? {
        guard let hash = key.lastIndex(of: "#"), let index = Int(key[key.index(after: hash)...]), index >= 0 else { return nil }
        return (String(key[..<hash]), index)
    }

    struct Header {
        var format: UInt8
        var checkpoint: UInt64
        var index: Int
        var count: Int
        var totalLength: Int
        var checksum: UInt64
    }

    static func header(_ value: [UInt8]) throws(StateError) -> Header {
        guard value.count >= headerSize, Array(value[0..<4]) == magic else { throw StateError("not a Vigil snapshot chunk") }
        guard (1...formatVersion).contains(value[4]) else {
            throw StateError("snapshot chunk format \(value[4]) is not supported (supported: 1...\(formatVersion))")
        }
        let header = Header(
            format: value[4],
            checkpoint: read(value, at: 5, as: UInt64.self),
            index: Int(read(value, at: 13, as: UInt32.self)),
            count: Int(read(value, at: 17, as: UInt32.self)),
            totalLength: Int(read(value, at: 21, as: UInt64.self)),
            checksum: read(value, at: 29, as: UInt64.self)
        )
        guard header.count > 0, header.index < header.count else { throw StateError("snapshot chunk \(header.index) of \(header.count) is malformed") }
        return header
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + i]) }
        return value
    }
}

/// Collects changelog messages (the newest per key wins, tombstones delete) and reassembles snapshots.
public struct SnapshotAssembler: Sendable {
    private var chunks: [String: [Int: [UInt8]]] = [:]

    public init() {}

    /// Takes one changelog message in topic order; a nil value (tombstone) deletes the key.
    public mutating func add(key: String, value: [UInt8]?) {
        guard let (base, index) = SnapshotChunks.parse(key: key) else { return }
        if let value {
            chunks[base, default: [:]][index] = value
        } else {
            chunks[base]?[index] = nil
        }
    }

    /// Base keys with at least one chunk.
    public var keys: [String] { chunks.filter { !$0.value.isEmpty }.keys.sorted() }

    /// The snapshot stored under `base`: nil when there is none, an error when its chunks are missing, from
    /// different checkpoints, or do not add up to what chunk 0 announced.
    public func snapshot(_ base: String) throws(StateError) -> (checkpoint: UInt64, payload: [UInt8])? {
        guard let stored = chunks[base], !stored.isEmpty else { return nil }
        guard let first = stored[0] else { throw StateError("snapshot \(base): chunk 0 is missing") }
        let header = try SnapshotChunks.header(first)
        var payload: [UInt8] = []
        payload.reserveCapacity(header.totalLength)
        for index in 0..<header.count {
            guard let value = stored[index] else { throw StateError("snapshot \(base): chunk \(index) of \(header.count) is missing") }
            let chunk = try SnapshotChunks.header(value)
            guard chunk.format == header.format, chunk.checkpoint == header.checkpoint, chunk.count == header.count, chunk.checksum == header.checksum else {
                throw StateError("snapshot \(base): chunk \(index) belongs to another checkpoint")
            }
            payload.append(contentsOf: value[SnapshotChunks.headerSize...])
        }
        guard payload.count == header.totalLength else {
            throw StateError("snapshot \(base): \(payload.count) bytes where \(header.totalLength) were announced")
        }
        let checksum = payload.withUnsafeBytes { header.format == 1 ? FNV1a.hash($0) : XXHash64.hash($0) }
        guard checksum == header.checksum else { throw StateError("snapshot \(base): checksum mismatch") }
        return (header.checkpoint, payload)
    }

    /// Chunk indexes at or beyond `count` still stored under `base` (left by an older, longer snapshot), so a
    /// writer can delete them.
    public func staleChunks(_ base: String, keeping count: Int) -> [Int] {
        (chunks[base] ?? [:]).keys.filter { $0 >= count }.sorted()
    }
}
