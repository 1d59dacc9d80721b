import Foundation
import Testing
import VigilCore
import VigilDaemon

@Suite("Scoring state checkpoints")
struct ScoringStateTests {
    /// Everything a scorer learned — windows of both entities, per-entity and global detectors, calibration,
    /// cooldowns — survives a save and restore bit-exactly: the restored scorer scores the rest of the stream
    /// exactly as the uninterrupted one does.
    @Test(arguments: [false, true])
    func aRestoredScorerContinuesExactlyLikeTheUninterruptedOne(perEntity: Bool) throws {
        let config = try perEntity ? ParallelScoringTests.perEntityConfig() : ParallelScoringTests.config()
        let events = try generatedEvents(12_000, config: config, seed: 19)
        let model = ScoringModel(config: config)
        var uninterrupted = SequentialScorer(model: model)
        for event in events.prefix(8_000) { _ = uninterrupted.score(event) }

        let checkpoint = uninterrupted.saveState()
        var restored = SequentialScorer(model: model)
        try restored.restoreState(checkpoint)
        #expect(restored.saveState() == checkpoint, "save(restore(x)) == x")

        var differing = 0
        var alerts = 0
        for event in events.dropFirst(8_000) {
            let a = uninterrupted.score(event)
            let b = restored.score(event)
            let same = (0..<config.features.count).allSatisfy { a.features[$0].bitPattern == b.features[$0].bitPattern }
                && (0..<config.detectors.count).allSatisfy { a.result.rawScores[$0].bitPattern == b.result.rawScores[$0].bitPattern }
                && a.result.score.bitPattern == b.result.score.bitPattern && a.result.alert == b.result.alert
            if !same { differing += 1 }
            if a.result.alert { alerts += 1 }
        }
        #expect(differing == 0, "\(differing) of 4,000 events scored differently after the restore")
        #expect(alerts > 0)
    }

    /// A checkpoint from another feature config, or a damaged one, is refused with a reason and the scorer is
    /// left as it was.
    @Test func foreignOrDamagedCheckpointsAreRefused() throws {
        let config = try ParallelScoringTests.config()
        let events = try generatedEvents(2_000, config: config, seed: 20)
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        for event in events { _ = scorer.score(event) }
        let checkpoint = scorer.saveState()

        var other = config
        other.features.removeLast()
        other.rules.removeAll { $0.source.contains("merchant.") }
        var foreign = SequentialScorer(model: ScoringModel(config: other))
        let before = foreign.saveState()
        #expect(throws: StateError.self) { try foreign.restoreState(checkpoint) }
        #expect(foreign.saveState() == before, "a refused restore changes nothing")

        var damaged = checkpoint
        damaged[damaged.count / 2] ^= 0x40
        var fresh = SequentialScorer(model: ScoringModel(config: config))
        #expect(throws: StateError.self) { try fresh.restoreState(damaged) }
        #expect(throws: StateError.self) { try fresh.restoreState(Array(checkpoint.prefix(100))) }
    }

    /// A checkpoint written before envelopes were checksummed with XXH64 (magic VGLS, FNV-1a) restores into
    /// the same state: it is rebuilt here from a current one, envelope by envelope.
    @Test func aCheckpointOfThePreviousFormatRestores() throws {
        let config = try ParallelScoringTests.perEntityConfig()
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        for event in try generatedEvents(3_000, config: config, seed: 21) { _ = scorer.score(event) }
        let checkpoint = scorer.saveState()
        // sequential-scorer: router (feature-engine or nothing), event-scorer (feature-engine, entity-detectors), stage.
        let legacy = Self.legacy(checkpoint[...], .nested([.leaf, .nested([.leaf, .leaf]), .leaf]))
        #expect(legacy != checkpoint && legacy.count == checkpoint.count)
        #expect(Array(legacy.prefix(4)) == Array("VGLS".utf8))

        var restored = SequentialScorer(model: ScoringModel(config: config))
        try restored.restoreState(legacy)
        #expect(restored.saveState() == checkpoint)
    }

    /// A partition snapshot whose scorer state is written straight into it (as a worker writes it) is the
    /// snapshot of the state built apart, byte for byte, whatever room is reserved.
    @Test func aSnapshotWrittenInPlaceIsTheSnapshotOfTheStateBuiltApart() throws {
        let config = try ParallelScoringTests.config()
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        for event in try generatedEvents(2_000, config: config, seed: 22) { _ = scorer.score(event) }
        let cut = PartitionCut(topic: "tx", partition: 2, nextOffset: 2_000, watermarkMs: 1_700_000_000_000, checkpoint: 4, createdAtMs: 9)
        let apart = PartitionSnapshot(cut, scorer: scorer.saveState())
        for capacity in [0, 100, 10_000_000] {
            let inPlace = PartitionSnapshot.encoded(cut, capacity: capacity) { scorer.saveState(to: &$0) }
            #expect(inPlace == apart.encoded(), "capacity \(capacity)")
        }
        let encoded = PartitionSnapshot.encoded(cut) { scorer.saveState(to: &$0) }
        let decoded = try PartitionSnapshot(decoding: encoded)
        #expect(decoded == apart && decoded.cut == cut)

        // A worker restores the state from inside the snapshot's bytes (the reader `decode` returns).
        var (decodedCut, state) = try PartitionSnapshot.decode(encoded)
        #expect(decodedCut == cut)
        var restored = SequentialScorer(model: ScoringModel(config: config))
        try restored.restoreState(from: &state)
        #expect(state.isAtEnd)
        #expect(restored.saveState() == scorer.saveState())
    }

    indirect enum EnvelopeShape {
        case leaf
        /// An envelope whose payload starts with these envelopes, each written as a byte-array field.
        case nested([EnvelopeShape])
    }

    /// `envelope` (magic VGLX, XXH64) in the previous format: magic VGLS and an FNV-1a checksum, nested
    /// envelopes converted too. An empty field stays empty.
    static func legacy(_ envelope: ArraySlice<UInt8>, _ shape: EnvelopeShape) -> [UInt8] {
        guard !envelope.isEmpty else { return [] }
        var at = envelope.startIndex + 4
        func number() -> Int {
            defer { at += 8 }
            return envelope[at..<(at + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        let headerStart = at
        _ = number()
        at += number()
        let header = Array(envelope[headerStart..<at])
        let payloadLength = number()
        var payload = Array(envelope[at..<(at + payloadLength)])
        if case .nested(let children) = shape {
            var converted: [UInt8] = []
            var i = 0
            for child in children {
                let length = payload[i..<(i + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
                let inner = legacy(payload[(i + 8)..<(i + 8 + length)], child)
                converted += Self.littleEndian(inner.count) + inner
                i += 8 + length
            }
            payload = converted + payload[i...]
        }
        let body = Array("VGLS".utf8) + header + Self.littleEndian(payload.count) + payload
        return body + Self.littleEndian(Int(bitPattern: UInt(body.withUnsafeBytes { FNV1a.hash($0) })))
    }

    static func littleEndian(_ value: Int) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

