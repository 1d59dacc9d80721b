public import VigilCore

/// The learned state of one input partition at a checkpoint: its scorer (primary-entity windows and per-entity
/// detectors), its watermark, and the offset it covers — the next offset to read after restoring it.
public struct PartitionSnapshot: Sendable, Equatable {
    public static let version: UInt64 = 1

    public var topic: String
    public var partition: Int32
    /// Every event before this offset is in the state; reading resumes here.
    public var nextOffset: Int64
    public var watermarkMs: Int64
    public var checkpoint: UInt64
    public var createdAtMs: Int64
    public var scorer: [UInt8]

    public init(topic: String, partition: Int32, nextOffset: Int64, watermarkMs: Int64, checkpoint: UInt64, createdAtMs: Int64, scorer: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
        self.watermarkMs = watermarkMs
        self.checkpoint = checkpoint
        self.createdAtMs = createdAtMs
        self.scorer = scorer
    }

    /// The changelog key (chunk keys add `#index`).
    public static func key(group: String, topic: String, partition: Int32) -> String { "\(group)/partition/\(topic)/\(partition)" }

    public func encoded() -> [UInt8] {
        BinaryWriter.envelope(kind: "partition-snapshot", version: Self.version) { w in
            w.write(topic); w.write(Int(partition)); w.write(nextOffset); w.write(watermarkMs)
            w.write(checkpoint); w.write(createdAtMs); w.write(scorer)
        }
    }

    public init(decoding data: [UInt8]) throws(StateError) {
        var r = try BinaryReader.open(data, kind: "partition-snapshot", versions: 1...Self.version).payload
        topic = try r.readString()
        partition = Int32(try r.readInt())
        nextOffset = try r.readInt64(); watermarkMs = try r.readInt64()
        checkpoint = try r.readUInt64(); createdAtMs = try r.readInt64()
        scorer = try r.readBytes()
        guard r.isAtEnd else { throw StateError("trailing bytes in a partition snapshot") }
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
