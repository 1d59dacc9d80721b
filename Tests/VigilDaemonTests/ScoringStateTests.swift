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
}
