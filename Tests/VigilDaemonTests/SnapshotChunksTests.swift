import Testing
import VigilCore
import VigilDaemon

@Suite("Snapshot chunks on the changelog")
struct SnapshotChunksTests {
    static func payload(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test(arguments: [0, 1, 999, 1000, 1001, 25_000])
    func aSnapshotSplitsAndReassemblesExactly(size: Int) throws {
        let payload = Self.payload(size, seed: UInt64(size))
        let chunks = SnapshotChunks.split(payload, base: "g/partition/tx/3", checkpoint: 7, maxChunkBytes: 1000)
        #expect(chunks.count == max(1, (size + 999 - 37) / (1000 - 37)))
        #expect(chunks.allSatisfy { $0.value.count <= 1000 })
        var assembler = SnapshotAssembler()
        for chunk in chunks.reversed() { assembler.add(key: chunk.key, value: chunk.value) }
        let snapshot = try #require(try assembler.snapshot("g/partition/tx/3"))
        #expect(snapshot.checkpoint == 7)
        #expect(snapshot.payload == payload)
    }

    /// Compaction keeps the newest chunk per key: a shorter, newer snapshot leaves an older one's tail behind,
    /// which must not be read into it; the writer can list those leftovers to delete them.
    @Test func aNewerShorterSnapshotWinsOverLeftovers() throws {
        var assembler = SnapshotAssembler()
        let old = Self.payload(5_000, seed: 1)
        let new = Self.payload(1_500, seed: 2)
        for chunk in SnapshotChunks.split(old, base: "b", checkpoint: 1, maxChunkBytes: 1000) { assembler.add(key: chunk.key, value: chunk.value) }
        let newChunks = SnapshotChunks.split(new, base: "b", checkpoint: 2, maxChunkBytes: 1000)
        for chunk in newChunks { assembler.add(key: chunk.key, value: chunk.value) }
        let snapshot = try #require(try assembler.snapshot("b"))
        #expect(snapshot.checkpoint == 2 && snapshot.payload == new)
        #expect(assembler.staleChunks("b", keeping: newChunks.count) == Array(newChunks.count..<6))
        for index in assembler.staleChunks("b", keeping: newChunks.count) { assembler.add(key: "b#\(index)", value: nil) }
        #expect(assembler.staleChunks("b", keeping: newChunks.count).isEmpty)
    }

    /// A torn write (a chunk of the new checkpoint missing), mixed checkpoints or flipped bytes are errors, so the
    /// partition starts cold instead of from garbage.
    @Test func tornMixedOrCorruptSnapshotsAreErrors() throws {
        let a = SnapshotChunks.split(Self.payload(3_000, seed: 3), base: "b", checkpoint: 1, maxChunkBytes: 1000)
        let b = SnapshotChunks.split(Self.payload(3_000, seed: 4), base: "b", checkpoint: 2, maxChunkBytes: 1000)

        var torn = SnapshotAssembler()
        for chunk in a { torn.add(key: chunk.key, value: chunk.value) }
        torn.add(key: b[0].key, value: b[0].value)
        torn.add(key: b[1].key, value: b[1].value)
        #expect(throws: StateError.self) { try torn.snapshot("b") }

        var missing = SnapshotAssembler()
        for chunk in a.dropLast() { missing.add(key: chunk.key, value: chunk.value) }
        #expect(throws: StateError.self) { try missing.snapshot("b") }

        var corrupt = SnapshotAssembler()
        for (i, chunk) in a.enumerated() {
            var value = chunk.value
            if i == 1 { value[value.count - 5] ^= 0x01 }
            corrupt.add(key: chunk.key, value: value)
        }
        #expect(throws: StateError.self) { try corrupt.snapshot("b") }

        var foreign = SnapshotAssembler()
        foreign.add(key: "b#0", value: Array("not a chunk at all, just bytes".utf8))
        #expect(throws: StateError.self) { try foreign.snapshot("b") }
        #expect(try SnapshotAssembler().snapshot("nothing") == nil)
    }

    /// Chunks of format 1 (an FNV-1a checksum of the snapshot) are still read; chunks are written in format 2
    /// (XXH64), and the checksum is checked whichever the format.
    @Test func chunksOfTheFirstFormatStillReassemble() throws {
        let payload = Self.payload(2_500, seed: 5)
        let chunks = SnapshotChunks.split(payload, base: "b", checkpoint: 3, maxChunkBytes: 1000)
        #expect(chunks.allSatisfy { $0.value[4] == 2 })
        let fnv = withUnsafeBytes(of: payload.withUnsafeBytes { FNV1a.hash($0) }.littleEndian) { Array($0) }
        var assembler = SnapshotAssembler()
        for chunk in chunks {
            var value = chunk.value
            value[4] = 1
            value.replaceSubrange(29..<37, with: fnv)
            assembler.add(key: chunk.key, value: value)
        }
        #expect(try assembler.snapshot("b")?.payload == payload)

        var mixed = SnapshotAssembler()
        for (i, chunk) in chunks.enumerated() {
            var value = chunk.value
            if i == 0 { value[4] = 1 }
            mixed.add(key: chunk.key, value: value)
        }
        #expect(throws: StateError.self) { try mixed.snapshot("b") }
    }

    @Test func recordsRoundTrip() throws {
        let partition = PartitionSnapshot(
            PartitionCut(topic: "tx", partition: 3, nextOffset: 1234, watermarkMs: 99, checkpoint: 5, createdAtMs: 77), scorer: [1, 2, 3])
        #expect(try PartitionSnapshot(decoding: partition.encoded()) == partition)
        let shared = SharedSnapshot(checkpoint: 5, createdAtMs: 77, router: [9], stage: [8, 7])
        #expect(try SharedSnapshot(decoding: shared.encoded()) == shared)
        #expect(throws: StateError.self) { try SharedSnapshot(decoding: partition.encoded()) }
    }
}
