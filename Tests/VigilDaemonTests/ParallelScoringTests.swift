import Foundation
import Testing
import VigilCore
import VigilDaemon

/// Decoded events of a generated stream, in input order, spread over `partitions` by primary key.
func generatedEvents(_ count: Int, config: VigilConfiguration, seed: UInt64 = 7, partitions: Int = 4) throws -> [Event] {
    var options = TransactionGenerator.Options()
    options.seed = seed
    options.cards = 2_000
    options.merchants = 300
    options.fraudRate = 0.03
    options.eventsPerSecond = 50
    var generator = TransactionGenerator(options: options)
    let decoder = EventDecoder(schema: config.schema)
    var events: [Event] = []
    var watermarks = [Int64](repeating: .min, count: partitions)
    var offsets = [Int64](repeating: 0, count: partitions)
    for _ in 0..<count {
        var bytes = Array(generator.next().json.utf8)
        var event = Event()
        try bytes.withUnsafeMutableBytes { try decoder.decode(UnsafeRawBufferPointer($0), into: &event) }
        // As a keyed producer would: the primary key picks the partition.
        let p = Int(event.entities[0].hash % UInt64(partitions))
        event.partition = Int32(p)
        event.offset = offsets[p]
        offsets[p] += 1
        event.watermarkMs = watermarks[p]
        watermarks[p] = max(watermarks[p], event.timeMs - config.maxLatenessMs)
        events.append(event)
    }
    return events
}

@Suite("Parallel scoring")
struct ParallelScoringTests {
    /// The shipped config, with a fixed threshold so alert decisions are deterministic too (a percentile
    /// threshold is estimated per worker, from the scores that worker saw).
    static func config() throws -> VigilConfiguration {
        var config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        config.policy.threshold = .score(0.9999)
        return config
    }

    /// The shipped config plus detectors kept per key: half-space trees and a forest per card (on the workers),
    /// a z-score and half-space trees per merchant (a secondary entity: on the ordered stage).
    static func perEntityConfig() throws -> VigilConfiguration {
        var text = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\ndetectors:", with: """

            detectors:
              - { name: card_hst, type: half_space_trees, entity: card, inputs: [amount, card.seconds_since_prev], max_keys: 1000 }
              - { name: card_rcf, type: random_cut_forest, entity: card, inputs: [amount], trees: 5, sample_size: 16 }
              - { name: merchant_z, type: robust_zscore, entity: merchant, field: amount }
              - { name: merchant_hst, type: half_space_trees, entity: merchant, inputs: [amount], trees: 5, height: 6 }
            """)
        var config = try VigilConfiguration.load(yaml: text)
        config.policy.threshold = .score(0.9999)
        return config
    }

    @Test(.timeLimit(.minutes(3)), arguments: [(2, false), (3, false), (2, true), (3, true)])
    func workersComputeExactlyWhatOneThreadComputes(workers: Int, perEntity: Bool) throws {
        let config = try perEntity ? Self.perEntityConfig() : Self.config()
        let events = try generatedEvents(30_000, config: config)
        let model = ScoringModel(config: config)

        var sequential = SequentialScorer(model: model)
        var expected: [Int64: ScoredEvent] = [:]
        for event in events { expected[event.position] = sequential.score(event) }

        let pool = WorkerPool(model: model, count: workers, ringCapacity: 64)
        var router = Router(model: model)
        var merge = OrderedMerge(outputs: pool.outputs, stage: model.makeStage())
        var received: [Int64: ScoredEvent] = [:]
        func drainOutputs() {
            _ = merge.drain { received[$0.pointee.event.position] = $0.pointee }
        }
        for event in events {
            let item = router.prepare(event)
            while !pool.route(item) { drainOutputs() }
        }
        while received.count < events.count { drainOutputs() }
        pool.stop()

        var mismatches: [Int64] = []
        var alerts = 0
        for event in events {
            let a = expected[event.position]!
            let b = received[event.position]!
            let sameFeatures = (0..<config.features.count).allSatisfy {
                a.features[$0].bitPattern == b.features[$0].bitPattern
            }
            let sameDetectors = (0..<config.detectors.count).allSatisfy {
                a.result.rawScores[$0].bitPattern == b.result.rawScores[$0].bitPattern
                    && a.result.detectorScores[$0].bitPattern == b.result.detectorScores[$0].bitPattern
            }
            if !sameFeatures || !sameDetectors || a.result.score.bitPattern != b.result.score.bitPattern || a.result.alert != b.result.alert
                || a.result.firedRules != b.result.firedRules
            {
                mismatches.append(event.position)
            }
            if a.result.alert { alerts += 1 }
        }
        #expect(mismatches.count == 0, "\(mismatches.count) mismatches, the first at offsets \(mismatches.prefix(5))")
        #expect(alerts > 0, "the stream raises alerts, so the comparison covers them")
    }

    /// The routing thread's view of the rings: `room` is the fullest ring's free slots (a poll of that many
    /// messages fits wherever they go) and `released` counts the items the output thread has taken.
    @Test(.timeLimit(.minutes(1)))
    func roomIsTheFullestRingsFreeSlots() throws {
        let config = try Self.config()
        let model = ScoringModel(config: config)
        let events = try generatedEvents(400, config: config, partitions: 2)
        let pool = WorkerPool(model: model, count: 2, ringCapacity: 16)
        defer { pool.stop() }
        var router = Router(model: model)
        var merge = OrderedMerge(outputs: pool.outputs, stage: model.makeStage())
        #expect(pool.ringCapacity == 16 && pool.room == 16 && pool.released == 0)

        let toWorker0 = events.filter { pool.worker(forPartition: $0.partition) == 0 }.prefix(5)
        let toWorker1 = events.filter { pool.worker(forPartition: $0.partition) == 1 }.prefix(2)
        for event in toWorker0 + toWorker1 { #expect(pool.route(router.prepare(event))) }
        #expect(pool.room == 11, "the items stay in their slots until the output thread takes them")
        #expect(pool.released == 0)

        var taken = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while taken < 7, ContinuousClock.now < deadline { taken += merge.drain { _ in } }
        #expect(taken == 7)
        #expect(pool.released == 7)
        #expect(pool.room == 16)
    }

    /// Control items travel in line with the events through the workers' rings: restores (a fresh scorer installed
    /// before a partition's first event) and drops (of a partition never seen) are carried out and passed over by
    /// the merge, checkpoint markers (no partitions to snapshot) reach the output in their place, and the events
    /// still come out in input order with what one thread computes.
    @Test(.timeLimit(.minutes(3)))
    func controlItemsPassThroughTheRingsInLine() throws {
        let config = try Self.config()
        let events = try generatedEvents(6_000, config: config)
        let model = ScoringModel(config: config)
        var sequential = SequentialScorer(model: model)
        let expected = events.map { sequential.score($0).result.score.bitPattern }

        let pool = WorkerPool(model: model, count: 2, ringCapacity: 16)
        var router = Router(model: model)
        var merge = OrderedMerge(outputs: pool.outputs, stage: model.makeStage())
        var received: [(control: PipelineControl, id: UInt64, score: UInt64)] = []
        func drainOutputs() {
            _ = merge.drain { received.append(($0.pointee.control, $0.pointee.controlID, $0.pointee.result.score.bitPattern)) }
        }
        func send(_ item: WorkItem, toWorker worker: Int) {
            while !pool.send(item, toWorker: worker) { drainOutputs() }
        }
        var started = Set<Int32>()
        var markers: [Int: UInt64] = [:]
        for (i, event) in events.enumerated() {
            if started.insert(event.partition).inserted {
                var restore = WorkItem(event: Event(), sequence: WorkItem.unsequenced, control: .restore, controlID: UInt64(i))
                restore.event.partition = event.partition
                send(restore, toWorker: pool.worker(forPartition: event.partition))
            }
            if i % 500 == 250 {
                var drop = WorkItem(event: Event(), sequence: WorkItem.unsequenced, control: .drop)
                drop.event.partition = 50
                send(drop, toWorker: pool.worker(forPartition: 50))
            }
            if i % 1_000 == 999 {
                for worker in 0..<pool.count {
                    markers[i + markers.count] = UInt64(i)
                    send(WorkItem(event: Event(), sequence: router.takeSequence(), control: .checkpoint, controlID: UInt64(i)), toWorker: worker)
                }
            }
            let item = router.prepare(event)
            while !pool.route(item) { drainOutputs() }
        }
        while received.count < events.count + markers.count { drainOutputs() }
        pool.stop()

        #expect(received.count == events.count + markers.count)
        #expect(merge.isEmpty)
        var scores: [UInt64] = []
        for (place, output) in received.enumerated() {
            if let id = markers[place] {
                #expect(output.control == .checkpoint && output.id == id, "a checkpoint marker at \(place)")
            } else {
                #expect(output.control == .event)
                scores.append(output.score)
            }
        }
        #expect(scores == expected)
    }

    /// Scoring in runs (features, then the run's trees tree by tree, then each event's stage) gives every event
    /// what scoring it alone gives: features, detector scores, the decision and the explanation, bit for bit.
    /// Runs of every length from 1 to past the largest, cut by the trees' windows (the benchmark config's trees
    /// count 250 events a window) and fed from any place of the caller's buffer.
    @Test(.timeLimit(.minutes(3)), arguments: ["bench", "perEntity"])
    func runsScoreExactlyWhatOneByOneScores(configName: String) throws {
        let config = try configName == "bench"
            ? VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/bench.yaml").path) : Self.perEntityConfig()
        let events = try generatedEvents(12_000, config: config)
        let model = ScoringModel(config: config)
        var oneByOne = SequentialScorer(model: model)
        let expected = events.map { oneByOne.score($0) }

        var inRuns = SequentialScorer(model: model)
        var buffer = [ScoredEvent](repeating: expected[0], count: 80)
        var rng = SplitMix64(seed: 5)
        var received: [ScoredEvent] = []
        var next = 0
        while next < events.count {
            let asked = min(Int(rng.next() % 80) + 1, events.count - next)
            let taken = events.withUnsafeBufferPointer { events in
                buffer.withUnsafeMutableBufferPointer { inRuns.score(run: UnsafeBufferPointer(rebasing: events[next..<next + asked]), into: $0) }
            }
            #expect(taken >= 1 && taken <= min(asked, 64))
            received += buffer[0..<taken]
            next += taken
        }

        var mismatches: [Int] = []
        var alerts = 0
        for (i, (a, b)) in zip(expected, received).enumerated() {
            let sameFeatures = (0..<config.features.count).allSatisfy { a.features[$0].bitPattern == b.features[$0].bitPattern }
            let sameDetectors = (0..<config.detectors.count).allSatisfy {
                a.result.rawScores[$0].bitPattern == b.result.rawScores[$0].bitPattern
                    && a.result.detectorScores[$0].bitPattern == b.result.detectorScores[$0].bitPattern
            }
            let sameExplanation = (0..<a.result.explanation.count).allSatisfy {
                let (x, y) = (a.result.explanation[$0], b.result.explanation[$0])
                return x.source == y.source && x.detector == y.detector && x.value.bitPattern == y.value.bitPattern
                    && x.contribution.bitPattern == y.contribution.bitPattern
            }
            if !sameFeatures || !sameDetectors || !sameExplanation || a.result.score.bitPattern != b.result.score.bitPattern
                || a.result.alert != b.result.alert || a.result.firedRules != b.result.firedRules || a.event.id != b.event.id
            {
                mismatches.append(i)
            }
            if a.result.alert { alerts += 1 }
        }
        #expect(received.count == events.count)
        #expect(mismatches.count == 0, "\(mismatches.count) mismatches, the first at events \(mismatches.prefix(5))")
        #expect(alerts > 0, "the stream raises alerts, so the explanations are compared too")
    }
}

extension Event {
    /// Partition and offset in one number, unique within a generated stream.
    var position: Int64 { Int64(partition) << 40 | offset }
}
