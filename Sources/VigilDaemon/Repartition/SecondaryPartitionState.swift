import VigilCore
import VigilFeatures

/// What the secondary stage keeps for one partition of a repartition topic: its entity's feature state and, per
/// input partition, the highest input offset it has counted. A request at or below that offset is an event sent
/// again (resent after a timeout, read again by a partition's next owner or after a restore): it is answered from
/// the state as it is, without being added twice.
struct SecondaryPartitionState {
    static let version: UInt64 = 1

    var engine: FeatureEngine
    private(set) var counted: [EventSource: Int64] = [:]

    init(engine: FeatureEngine) {
        self.engine = engine
    }

    /// Records that the event at `offset` of `source` is being counted; false when it already was.
    mutating func count(_ source: EventSource, offset: Int64) -> Bool {
        if let last = counted[source], offset <= last { return false }
        counted[source] = offset
        return true
    }

    func encoded() -> [UInt8] {
        BinaryWriter.envelope(kind: "secondary-partition", version: Self.version) { w in
            engine.saveState(to: &w)
            let sources = counted.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }
            w.write(sources.count)
            for (source, offset) in sources {
                w.write(source.topic)
                w.write(source.partition)
                w.write(offset)
            }
        }
    }

    /// Restores a state written by `encoded()` into `engine` (built from the same config); throws on damage.
    init(decoding data: [UInt8], engine: FeatureEngine) throws(StateError) {
        var r = try BinaryReader.open(data, kind: "secondary-partition", versions: 1...Self.version).payload
        var engine = engine
        try engine.restoreState(from: &r)
        self.engine = engine
        let count = try r.readInt()
        guard count >= 0, count <= 1 << 20 else { throw StateError("secondary partition state: \(count) sources") }
        for _ in 0..<count {
            let source = EventSource(topic: try r.readUInt64(), partition: Int32(try r.readInt()))
            counted[source] = try r.readInt64()
        }
        guard r.isAtEnd else { throw StateError("trailing bytes in a secondary partition state") }
    }
}
