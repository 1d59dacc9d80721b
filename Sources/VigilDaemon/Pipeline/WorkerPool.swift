import Foundation
public import VigilCore
import Synchronization

/// N worker threads, each scoring the events of its share of primary-entity keys, fed and drained through
/// single-producer/single-consumer rings.
///
/// The routing thread calls `route`; one output thread drains `outputs`. An entity's events all go to one
/// worker and keep their input order, so each entity's state evolves exactly as with one worker.
public final class WorkerPool: Sendable {
    public let count: Int
    private let inputs: [SPSCRing<WorkItem>.Producer]
    /// The scored events of each worker, for the single output thread.
    public let outputs: [SPSCRing<ScoredEvent>.Consumer]
    private let stopping = Atomic<Bool>(false)
    private let liveWorkers = Atomic<Int>(0)
    private let slots: [WorkerSlot]

    /// What the pool shares with one worker thread.
    private final class WorkerSlot: Sendable {
        let finished = DispatchSemaphore(value: 0)
        /// Late events the worker has seen (read by metrics and at shutdown).
        let lateEvents = Atomic<Int>(0)
    }

    /// Where workers publish the keys and bytes they hold (owner `index + 1`; owner 0 is the router).
    private let stateGauges: EntityStateGauges?

    /// Starts `count` workers with scorers from `model`, each ring holding `ringCapacity` items.
    public init(model: ScoringModel, count: Int, ringCapacity: Int, stateGauges: EntityStateGauges? = nil) {
        self.stateGauges = stateGauges
        self.count = max(1, count)
        var inputs: [SPSCRing<WorkItem>.Producer] = []
        var outputs: [SPSCRing<ScoredEvent>.Consumer] = []
        var workerEnds: [(SPSCRing<WorkItem>.Consumer, SPSCRing<ScoredEvent>.Producer)] = []
        for _ in 0..<self.count {
            let (inProducer, inConsumer) = SPSCRing<WorkItem>.makeRing(capacity: ringCapacity)
            let (outProducer, outConsumer) = SPSCRing<ScoredEvent>.makeRing(capacity: ringCapacity)
            inputs.append(inProducer)
            outputs.append(outConsumer)
            workerEnds.append((inConsumer, outProducer))
        }
        self.inputs = inputs
        self.outputs = outputs
        self.slots = (0..<self.count).map { _ in WorkerSlot() }
        liveWorkers.store(self.count, ordering: .relaxed)
        for (index, ends) in workerEnds.enumerated() {
            let scorer = model.makeScorer()
            let thread = Thread { [self] in
                self.run(index: index, scorer: scorer, input: ends.0, output: ends.1)
            }
            thread.name = "vigil.worker.\(index)"
            thread.start()
        }
    }

    /// The worker that owns a primary key.
    @inline(__always)
    public func worker(for key: EntityKey) -> Int {
        Int((key.hash >> 33) % UInt64(count))
    }

    /// Hands an item to its worker; false when that worker's ring is full (the caller applies back-pressure).
    /// Call from the routing thread only.
    @inline(__always)
    public func route(_ item: WorkItem) -> Bool {
        let key = item.event.entities[0]
        // Without a primary entity no worker holds state for the event: spread by event id.
        let index = key.isPresent ? worker(for: key) : Int((item.event.id.withBytes(FNV1a.hash) >> 33) % UInt64(count))
        return inputs[index].push(item)
    }

    /// Items waiting in the input rings (approximate).
    public var queued: Int { inputs.reduce(0) { $0 + $1.ring.count } }

    /// The fullest input ring's occupancy, 0 ... 1.
    public var occupancy: Double {
        inputs.map { Double($0.ring.count) / Double($0.ring.capacity) }.max() ?? 0
    }

    /// True while at least one worker is running.
    public var isRunning: Bool { liveWorkers.load(ordering: .acquiring) > 0 }

    /// Late events counted by all workers.
    public var lateEvents: Int { slots.reduce(0) { $0 + $1.lateEvents.load(ordering: .relaxed) } }

    /// Asks the workers to finish the items already routed and stop, and waits until they have.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        for slot in slots { slot.finished.wait() }
    }

    private func run(index: Int, scorer initial: EventScorer, input: SPSCRing<WorkItem>.Consumer, output: SPSCRing<ScoredEvent>.Producer) {
        var scorer = initial
        var backoff = IdleBackoff()
        var batches = 0
        while true {
            let stop = stopping.load(ordering: .acquiring)
            let drained = input.drain(max: 256) { item in
                let scored = scorer.score(item)
                var wait = IdleBackoff(maximumMicroseconds: 200)
                while !output.push(scored) { wait.idle() }
            }
            slots[index].lateEvents.store(scorer.lateEvents, ordering: .relaxed)
            if drained > 0 {
                batches &+= 1
                if batches & 15 == 0 { stateGauges?.publish(owner: index + 1) { scorer.usage(entity: $0) } }
                backoff.reset()
            } else if stop && input.isEmpty {
                break
            } else {
                if batches & 15 != 0 {
                    batches = 0
                    stateGauges?.publish(owner: index + 1) { scorer.usage(entity: $0) }
                }
                backoff.idle()
            }
        }
        liveWorkers.subtract(1, ordering: .releasing)
        slots[index].finished.signal()
    }
}
