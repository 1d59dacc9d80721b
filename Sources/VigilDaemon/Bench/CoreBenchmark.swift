import Foundation
import Synchronization
import VigilCore
import VigilModels

/// Events through decode + features + detectors in-process, no Kafka: the core's throughput, sequentially
/// and through the worker pool with 1 ... N workers.
public struct CoreBenchmark: Sendable {
    public struct Row: Sendable {
        public var name: String
        public var events: Int
        public var seconds: Double
        /// Heap allocations per event after the warm-up, when counted (`AllocationCounter`).
        public var allocationsPerEvent: Double?
        public var eventsPerSecond: Double { Double(events) / seconds }

        /// The row as one JSON object (what scripts/bench reads), with `extra` fields first.
        public func jsonLine(extra: String = "") -> String {
            #"{"name":"\#(name)",\#(extra)"events":\#(events),"seconds":\#(seconds),"events_per_second":\#(Int(eventsPerSecond))}"#
        }
    }

    public let config: VigilConfiguration
    public let messages: [[UInt8]]
    /// Input partitions the threaded runs spread events over (by primary key, as a keyed producer does).
    public static let inputPartitions = 12

    /// Prepares `count` synthetic events (the `vigil produce` stream with `seed`, over `cards` cards) as raw JSON
    /// messages.
    public init(config: VigilConfiguration, count: Int, seed: UInt64 = 1, cards: Int = TransactionGenerator.Options().cards) {
        self.config = config
        var options = TransactionGenerator.Options()
        options.seed = seed
        options.cards = cards
        options.eventsPerSecond = 200
        var generator = TransactionGenerator(options: options)
        messages = (0..<count).map { _ in Array(generator.next().json.utf8) }
    }

    /// Each message's input partition, by its primary key.
    private func partitions(_ decoder: EventDecoder) -> [Int32] {
        var event = Event()
        return messages.map { message in
            message.withUnsafeBytes { try? decoder.decode($0, into: &event) }
            return Int32(event.entities[0].hash % UInt64(Self.inputPartitions))
        }
    }

    private func elapsed(_ start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Decoding alone.
    public func decodeOnly() -> Row {
        let decoder = EventDecoder(schema: config.schema)
        var event = Event()
        var checksum: Int64 = 0
        let start = ContinuousClock.now
        for message in messages {
            message.withUnsafeBytes { try? decoder.decode($0, into: &event) }
            checksum &+= event.timeMs
        }
        let seconds = elapsed(start)
        precondition(checksum != 0)
        return Row(name: "decode only", events: messages.count, seconds: seconds)
    }

    /// Decode, features and detectors on one thread (`SequentialScorer`), in runs of `ScoringStage.preparedCapacity`
    /// events as the pipeline scores them: a run is decoded, each event into the slot where it is scored, then
    /// scored (`SequentialScorer.score(runInPlace:)`).
    ///
    /// - Parameter counter: when given, the allocations made while scoring the second half of the events
    ///   (the first half warms the state up) are reported per event.
    public func sequential(counting counter: AllocationCounter? = nil) -> Row {
        let decoder = EventDecoder(schema: config.schema)
        var scorer = SequentialScorer(model: ScoringModel(config: config))
        let runLength = ScoringStage.preparedCapacity
        var scored = [ScoredEvent](repeating: ScoredEvent(event: Event(), features: .undefined, result: DetectionResult(), sequence: 0), count: runLength)
        var alerts = 0
        let half = messages.count / 2
        var allocationsAtHalf: UInt64 = 0
        let start = ContinuousClock.now
        var next = 0
        while next < messages.count {
            let count = min(runLength, messages.count - next)
            if let counter, next <= half, half < next + count {
                allocationsAtHalf = counter.count
                counter.traceFromNowIfAsked()
            }
            for e in 0..<count {
                scored[e].event.offset = Int64(next + e)
                messages[next + e].withUnsafeBytes { try? decoder.decode($0, into: &scored[e].event) }
            }
            var taken = 0
            while taken < count {
                let scoredNow = scored.withUnsafeMutableBufferPointer { scorer.score(runInPlace: UnsafeMutableBufferPointer(rebasing: $0[taken..<count])) }
                for e in taken..<taken + scoredNow where scored[e].result.alert { alerts += 1 }
                taken += scoredNow
            }
            next += count
        }
        let seconds = elapsed(start)
        counter?.stopTracing()
        var row = Row(name: "decode + features + detectors, 1 thread", events: messages.count, seconds: seconds)
        if let counter { row.allocationsPerEvent = Double(counter.count - allocationsAtHalf) / Double(messages.count - half) }
        return row
    }

    /// The threaded core as the daemon runs it: this thread decodes, computes secondary features and routes;
    /// `workers` threads compute primary features and per-entity detectors; one thread restores input order and
    /// runs the scoring stage (global detectors, calibration, rules, policy).
    ///
    /// - Parameter counter: when given, every thread's allocations from the routing of the second half of the
    ///   events to the last event's drain are reported per event of that half.
    public func pipeline(workers: Int, counting counter: AllocationCounter? = nil) -> Row {
        let run = threaded(workers: workers, pacedAt: nil, counting: counter)
        return Row(name: "threaded core, \(workers) worker\(workers == 1 ? "" : "s")", events: messages.count, seconds: run.seconds, allocationsPerEvent: run.allocationsPerEvent)
    }

    /// The threaded core's own latency, without a broker: events fed at a steady `rate`.
    public struct PacedLatency: Sendable {
        public var workers: Int
        /// Events per second asked for and fed (over the whole run).
        public var rate: Double
        public var fedRate: Double
        /// Events measured: the second half (the first warms the state up).
        public var events: Int
        /// From the moment each event was due to the stage finishing it, milliseconds.
        public var p50: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
    }

    /// The threaded core fed at a steady `rate` (what is due handed over every 100 µs, rather than as fast as
    /// the rings take it): each event's latency from the moment it was due (`i / rate` after the start; the
    /// consumer thread would have read it then) to the ordered stage finishing it, over the second half of the
    /// events. Counted from when it was due rather than when it was handed over, so that a feeder held up (the
    /// rings full, the thread descheduled) adds its delay instead of hiding it. What the pipeline adds to an
    /// event's latency when its input arrives evenly, without the broker's bursts.
    public func pacedLatency(workers: Int, rate: Double) -> PacedLatency {
        let run = threaded(workers: workers, pacedAt: rate, counting: nil)
        let h = run.latency!
        return PacedLatency(
            workers: workers, rate: rate, fedRate: Double(messages.count) / run.seconds, events: Int(h.totalCount),
            p50: h.milliseconds(atPercentile: 50), p99: h.milliseconds(atPercentile: 99), p999: h.milliseconds(atPercentile: 99.9), max: h.maxMilliseconds)
    }

    /// Latencies the output thread records, handed back once it has drained every event.
    private final class LatencyBox: Sendable {
        let histogram = Mutex(LatencyRecorder.makeHistogram())
    }

    /// One run of the threaded core; with `rate`, paced and each second-half event's latency recorded
    /// (microseconds).
    private func threaded(workers: Int, pacedAt rate: Double?, counting counter: AllocationCounter?) -> (
        seconds: Double, allocationsPerEvent: Double?, latency: LatencyHistogram?
    ) {
        let model = ScoringModel(config: config)
        let pool = WorkerPool(model: model, count: workers, ringCapacity: config.pipeline.ringCapacity)
        let total = messages.count
        let half = total / 2
        let drained = DispatchSemaphore(value: 0)
        let outputs = pool.outputs
        let stage = model.makeStage()
        let box = LatencyBox()
        let recording = rate != nil
        Thread.start(named: "vigil.stage") {
            var merge = OrderedMerge(outputs: outputs, stage: stage)
            var seen = 0
            var latency = LatencyRecorder.makeHistogram()
            // Waiting as the daemon's output thread waits.
            var backoff = IdleBackoff()
            while seen < total {
                let n = merge.drain(max: 256) { scored in
                    guard recording, scored.pointee.event.offset >= Int64(half) else { return }
                    let nanoseconds = DispatchTime.now().uptimeNanoseconds &- scored.pointee.event.consumedAtNs
                    _ = latency.record(Swift.min(nanoseconds / 1000, latency.highestTrackableValue))
                }
                seen += n
                if n == 0 { backoff.idle() } else { backoff.reset() }
            }
            box.histogram.withLock { $0 = latency }
            drained.signal()
        }
        let decoder = EventDecoder(schema: config.schema)
        var router = Router(model: model)
        // As from a topic of `inputPartitions` partitions keyed by card (workers own partitions): the partition
        // is known before decoding, as the consumer knows it from the message.
        let partitions = partitions(decoder)
        var allocationsAtHalf: UInt64 = 0
        var backoff = IdleBackoff()
        let start = ContinuousClock.now
        let startNs = DispatchTime.now().uptimeNanoseconds
        // Paced: by time t, rate x t events have been handed over.
        var due = 0
        for (i, message) in messages.enumerated() {
            if i == half, let counter { allocationsAtHalf = counter.count }
            while let rate, i >= due {
                due = Int(rate * elapsed(start)) + 1
                if i >= due { usleep(100) }
            }
            // As the consumer does: decoded where the worker will read it, waiting as it waits for room.
            let partition = partitions[i]
            let worker = pool.worker(forPartition: partition)
            var slot = pool.reserve(forWorker: worker)
            while slot == nil {
                backoff.idle()
                slot = pool.reserve(forWorker: worker)
            }
            backoff.reset()
            slot!.pointee.event = Event()
            if let rate { slot!.pointee.event.consumedAtNs = startNs + UInt64(Double(i) / rate * 1e9) }
            message.withUnsafeBytes { try? decoder.decode($0, into: &slot!.pointee.event) }
            slot!.pointee.event.offset = Int64(i)
            slot!.pointee.event.partition = partition
            router.prepare(slot!)
            pool.publishReserved(forWorker: worker)
        }
        drained.wait()
        let seconds = elapsed(start)
        let allocations = counter.map { Double($0.count - allocationsAtHalf) / Double(total - half) }
        pool.stop()
        return (seconds, allocations, recording ? box.histogram.withLock { $0 } : nil)
    }
}
