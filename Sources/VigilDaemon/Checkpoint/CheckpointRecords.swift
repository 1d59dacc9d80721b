public import VigilCore

/// Where a checkpoint cut one input partition's stream: everything of its snapshot but the scorer's state, known
/// when the cut is made (before the worker writes the state).
public struct PartitionCut: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// Every event before this offset is in the state; reading resumes here.
    public var nextOffset: Int64
    public var watermarkMs: Int64
    public var checkpoint: UInt64
    public var createdAtMs: Int64

    public init(topic: String, partition: Int32, nextOffset: Int64, watermarkMs: Int64, checkpoint: UInt64, createdAtMs: Int64) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
        self.watermarkMs = watermarkMs
        self.checkpoint = checkpoint
        self.createdAtMs = createdAtMs
    }
}

/// The learned state of one input partition at a checkpoint: where the stream was cut (`PartitionCut`: the offset
/// it covers — the next offset to read after restoring it — and the watermark) and its scorer's state
/// (primary-entity windows and per-entity detectors).
public struct PartitionSnapshot: Sendable, Equatable {
    public static let version: UInt64 = 1

    public var cut: PartitionCut
    public var scorer: [UInt8]

    public init(_ cut: PartitionCut, scorer: [UInt8]) {
        self.cut = cut
        self.scorer = scorer
    }

    /// The changelog key (chunk keys add `#index`).
    public static func key(group: String, topic: String, partition: Int32) -> String { "\(group)/partition/\(topic)/\(partition)" }

    public func encoded() -> [UInt8] {
        Self.encoded(cut) { $0.write(scorer) }
    }

    /// The encoding of the snapshot of `cut` whose scorer state `writeScorer` writes straight into it, as a
    /// byte-array field (`EventScorer.saveState(to:)`): the bytes of `encoded()`, without the state built apart
    /// and copied in. `capacity` reserves room up front (a previous snapshot's size), so the buffer does not
    /// grow by copying itself.
    public static func encoded(_ cut: PartitionCut, capacity: Int = 0, scorer writeScorer: (inout BinaryWriter) -> Void) -> [UInt8] {
        BinaryWriter.envelope(kind: "partition-snapshot", version: Self.version, capacity: capacity) { w in
            w.write(cut.topic); w.write(Int(cut.partition)); w.write(cut.nextOffset); w.write(cut.watermarkMs)
            w.write(cut.checkpoint); w.write(cut.createdAtMs)
            writeScorer(&w)
        }
    }

    public init(decoding data: [UInt8]) throws(StateError) {
        let decoded = try Self.decode(data)
        var r = decoded.scorer
        let scorer = try r.readBytes()
        guard r.isAtEnd else { throw StateError("trailing bytes in a partition snapshot") }
        self.init(decoded.cut, scorer: scorer)
    }

    /// Opens an encoded snapshot without copying the scorer's state out of it: its cut, and a reader at the
    /// scorer's state (a byte-array field, as `EventScorer.restoreState(from:)` reads it).
    public static func decode(_ data: [UInt8]) throws(StateError) -> (cut: PartitionCut, scorer: BinaryReader) {
        var r = try BinaryReader.open(data, kind: "partition-snapshot", versions: 1...Self.version).payload
        let topic = try r.readString()
        let partition = Int32(try r.readInt())
        let nextOffset = try r.readInt64(), watermarkMs = try r.readInt64()
        let checkpoint = try r.readUInt64(), createdAtMs = try r.readInt64()
        let cut = PartitionCut(
            topic: topic, partition: partition, nextOffset: nextOffset, watermarkMs: watermarkMs, checkpoint: checkpoint, createdAtMs: createdAtMs)
        return (cut, r)
    }
}

/// State shared by all of a daemon's partitions at a checkpoint: the secondary entities' windows (computed in
/// input order over every partition) and the ordered stage (global detectors, calibration, cooldowns).
public struct SharedSnapshot: Sendable, Equatable {
    public static let version: UInt64 = 1

    public var checkpoint: UInt64
    public var createdAtMs: Int64
    public var router: [UInt8]
    public var stage: [UInt8]

    public init(checkpoint: UInt64, createdAtMs: Int64, router: [UInt8], stage: [UInt8]) {
        self.checkpoint = checkpoint
        self.createdAtMs = createdAtMs
        self.router = router
        self.stage = stage
    }

    public static func key(group: String) -> String { "\(group)/shared" }

    public func encoded() -> [UInt8] {
        BinaryWriter.envelope(kind: "shared-snapshot", version: Self.version) { w in
            w.write(checkpoint); w.write(createdAtMs); w.write(router); w.write(stage)
        }
    }

    public init(decoding data: [UInt8]) throws(StateError) {
        var r = try BinaryReader.open(data, kind: "shared-snapshot", versions: 1...Self.version).payload
        checkpoint = try r.readUInt64(); createdAtMs = try r.readInt64()
        router = try r.readBytes(); stage = try r.readBytes()
        guard r.isAtEnd else { throw StateError("trailing bytes in a shared snapshot") }
    }
}
