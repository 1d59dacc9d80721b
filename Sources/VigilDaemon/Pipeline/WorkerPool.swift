import Foundation
public import VigilCore
import Synchronization
import VigilFeatures
import VigilModels

/// N worker threads, each owning the scoring state of its share of the input partitions, each between the routing
/// thread and the output thread on one relay ring.
///
/// Partition `p` (the consumer's dense partition index) belongs to worker `p % N`, which keeps one scorer per
/// partition: its primary-entity windows and per-entity detectors. Events of a partition keep their input order,
/// and producers key events by the primary entity, so each key's state evolves exactly as with one worker — and a
/// partition's state is one value that can be checkpointed, restored and handed to another daemon on its own.
///
/// The routing thread calls `route`; one output thread drains `outputs`. An event stays in the slot it was decoded
/// into: the worker adds its features and per-entity scores there, and the output thread finishes and publishes it
/// there, so the ~1.7 kB element is never copied between the threads.
public final class WorkerPool: Sendable {
    public let count: Int
    private let inputs: [SPSCRing<ScoredEvent>.Producer]
    /// The scored events of each worker, for the single output thread.
    public let outputs: [SPSCRing<ScoredEvent>.Consumer]
    private let stopping = Atomic<Bool>(false)
    private let liveWorkers = Atomic<Int>(0)
    private let slots: [WorkerSlot]
    /// Where workers publish the keys and bytes they hold (owner `index + 1`; owner 0 is the router).
    private let stateGauges: EntityStateGauges?
    /// Checkpoint payloads passed between threads.
    public let exchange: CheckpointExchange

    /// What the pool shares with one worker thread.
    private final class WorkerSlot: Sendable {
        let finished = DispatchSemaphore(value: 0)
        /// Late events the worker has seen (read by metrics and at shutdown).
        let lateEvents = Atomic<Int>(0)
    }

    /// Starts `count` workers with scorers from `model`, each worker's ring holding `ringCapacity` items (those
    /// waiting for the worker and those waiting for the output thread).
    public init(model: ScoringModel, count: Int, ringCapacity: Int, stateGauges: EntityStateGauges? = nil, exchange: CheckpointExchange = CheckpointExchange()) {
        self.count = max(1, count)
        self.stateGauges = stateGauges
        self.exchange = exchange
        var inputs: [SPSCRing<ScoredEvent>.Producer] = []
        var outputs: [SPSCRing<ScoredEvent>.Consumer] = []
        var relays: [SPSCRing<ScoredEvent>.Relay] = []
        for _ in 0..<self.count {
            let (producer, relay, consumer) = SPSCRing<ScoredEvent>.makeRelayRing(capacity: ringCapacity)
            // The decoder writes only the parts of an event the schema maps (`reserve(forWorker:)`).
            producer.fillSlots(with: ScoredEvent(event: Event(), features: .undefined, result: DetectionResult(), sequence: 0))
            inputs.append(producer)
            relays.append(relay)
            outputs.append(consumer)
        }
        self.inputs = inputs
        self.outputs = outputs
        self.slots = (0..<self.count).map { _ in WorkerSlot() }
        liveWorkers.store(self.count, ordering: .relaxed)
        for (index, relay) in relays.enumerated() {
            Thread.start(named: "vigil.worker.\(index)") { [self] in
                self.run(index: index, model: model, ring: relay)
            }
        }
    }

    /// The worker that owns a partition (by the consumer's dense partition index).
    @inline(__always)
    public func worker(forPartition partition: Int32) -> Int {
        Int(UInt32(bitPattern: partition) % UInt32(count))
    }

    /// Hands an item to the worker owning its partition; false when that worker's ring is full (the caller
    /// applies back-pressure). Call from the routing thread only.
    @inline(__always)
    public func route(_ item: WorkItem) -> Bool {
        send(item, toWorker: worker(forPartition: item.event.partition))
    }

    /// A free slot in `worker`'s ring (the worker owning the item's partition, `worker(forPartition:)`), to build
    /// an item in place (then `publishReserved(forWorker:)`), or nil when that ring is full. Routing thread only.
    ///
    /// The slot holds an earlier item (or the blank one the rings were filled with), and it is filled field by
    /// field (the event by the decoder, the rest by `Router.prepare`, the result by the worker): `ScoredEvent`
    /// holds plain values only, so that is sound. The parts of an event past the schema's fields, which the
    /// decoder leaves alone, stay blank: every item a ring holds was decoded with the same schema.
    @inline(__always)
    public func reserve(forWorker worker: Int) -> UnsafeMutablePointer<ScoredEvent>? {
        assert(_isPOD(ScoredEvent.self), "ring slots are filled field by field")
        return withInput(worker) { $0.reserve() }
    }

    /// Hands the item built in the slot `reserve(forWorker:)` returned to the worker.
    @inline(__always)
    public func publishReserved(forWorker worker: Int) {
        withInput(worker) { $0.publishReserved() }
    }

    /// Calls `body` with `worker`'s ring end without retaining it: the pool holds its ring ends for its whole life
    /// and never replaces them. (The call through the array element retained and released the ring end for every
    /// message, about 4 % of the routing thread's time.)
    @inline(__always)
    private func withInput<Result>(_ worker: Int, _ body: (SPSCRing<ScoredEvent>.Producer) -> Result) -> Result {
        Unmanaged.passUnretained(inputs[worker])._withUnsafeGuaranteedRef(body)
    }

    /// Hands a control item to one worker; false when its ring is full. Routing thread only.
    public func send(_ item: WorkItem, toWorker worker: Int) -> Bool {
        guard let slot = reserve(forWorker: worker) else { return false }
        slot.initialize(to: ScoredEvent(item))
        publishReserved(forWorker: worker)
        return true
    }

    /// Slots in each worker's ring.
    public var ringCapacity: Int { inputs[0].ring.capacity }

    /// Free slots in the fullest worker ring: every message of a poll of at most this many fits into its worker's
    /// ring, whichever partitions it comes from. Routing thread only.
    public var room: Int {
        var least = Int.max
        for input in inputs { least = min(least, input.freeCount) }
        return least
    }

    /// Items the output thread has taken out of all the rings so far (a count that only grows).
    public var released: Int {
        var total = 0
        for input in inputs { total &+= input.ring.released }
        return total
    }

    /// Items in the rings, waiting for a worker or for the output thread (approximate).
    public var queued: Int { inputs.reduce(0) { $0 + $1.ring.count } }

    /// The fullest ring's occupancy, 0 ... 1.
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

    private func run(index: Int, model: ScoringModel, ring: SPSCRing<ScoredEvent>.Relay) {
        var worker = PartitionScorers(model: model)
        var backoff = IdleBackoff()
        var batches = 0
        while true {
            let stop = stopping.load(ordering: .acquiring)
            // Each item is scored where it lies and passed on to the output thread. The state of the next two
            // events is fetched meanwhile (their keys' table entries, then their slots).
            let drained = ring.relay(max: 256) { item, next, afterNext in
                if let afterNext { worker.prefetchEntries(for: afterNext) }
                if let next { worker.prefetchState(for: next) }
                worker.handle(item, exchange: exchange)
            }
            slots[index].lateEvents.store(worker.lateEvents, ordering: .relaxed)
            if drained > 0 {
                batches &+= 1
                if batches & 15 == 0 { stateGauges?.publish(owner: index + 1) { worker.usage(entity: $0) } }
                backoff.reset()
            } else if stop && ring.isEmpty {
                break
            } else {
                if batches & 15 != 0 {
                    batches = 0
                    stateGauges?.publish(owner: index + 1) { worker.usage(entity: $0) }
                }
                backoff.idle()
            }
        }
        liveWorkers.subtract(1, ordering: .releasing)
        slots[index].finished.signal()
    }
}

/// One worker's scorers, one per input partition it owns (by dense partition index), created on a partition's
/// first event or restored from a checkpoint.
struct PartitionScorers {
    let model: ScoringModel
    private var scorers: [EventScorer?] = []
    /// Each partition's last snapshot size: room reserved for the next one, which is about as large.
    private var snapshotBytes: [Int: Int] = [:]
    /// Late events of partitions no longer held, so the total never goes down.
    private var retiredLateEvents = 0

    init(model: ScoringModel) {
        self.model = model
    }

    /// Starts fetching the state of an event two items ahead: its keys' table entries for the features and the
    /// per-key detectors (`FeatureEngine.prefetchEntries`). `mutating` so the scorer is reached in place.
    mutating func prefetchEntries(for item: UnsafePointer<ScoredEvent>) {
        let partition = Int(item.pointee.event.partition)
        guard item.pointee.control == .event, partition >= 0, partition < scorers.count else { return }
        scorers[partition]?.prefetchEntries(for: ScoredEvent.event(in: item))
    }

    /// Starts fetching the state of the next event: its keys' windows and baselines (`FeatureEngine.prefetchState`).
    mutating func prefetchState(for item: UnsafePointer<ScoredEvent>) {
        let partition = Int(item.pointee.event.partition)
        guard item.pointee.control == .event, partition >= 0, partition < scorers.count else { return }
        scorers[partition]?.prefetchState(for: ScoredEvent.event(in: item))
    }

    /// Scores an event where it lies or carries out a control step. A checkpoint marker goes on to the output
    /// thread as it is; restore and drop items (unsequenced) are passed over there.
    mutating func handle(_ item: UnsafeMutablePointer<ScoredEvent>, exchange: CheckpointExchange) {
        let partition = Int(item.pointee.event.partition)
        switch item.pointee.control {
        case .event:
            ensure(partition)
            scorers[partition]!.score(inPlace: item)
        case .checkpoint:
            let id = item.pointee.controlID
            for (p, cut) in exchange.partitions(of: id) where p < scorers.count {
                guard let scorer = scorers[p] else { continue }
                // Reserved room an eighth above the last size: state grows between checkpoints, and room never
                // written is never resident.
                let room = snapshotBytes[p].map { $0 + $0 / 8 } ?? 0
                let snapshot = PartitionSnapshot.encoded(cut, capacity: room) { scorer.saveState(to: &$0) }
                snapshotBytes[p] = snapshot.count
                exchange.putPartition(id, partition: p, snapshot)
            }
        case .restore:
            guard partition >= 0 else { return }
            var scorer = model.makeScorer()
            if var state = exchange.takeRestore(item.pointee.controlID) {
                do throws(StateError) {
                    try scorer.restoreState(from: &state)
                    guard state.isAtEnd else { throw StateError("trailing bytes in a partition snapshot") }
                } catch {
                    exchange.reportRestoreFailure(partition: partition, "\(error)")
                    scorer = model.makeScorer()
                }
            }
            grow(to: partition)
            if let old = scorers[partition] { retiredLateEvents += old.lateEvents }
            scorers[partition] = scorer
            snapshotBytes[partition] = nil
        case .drop:
            if partition >= 0, partition < scorers.count, let old = scorers[partition] {
                retiredLateEvents += old.lateEvents
                scorers[partition] = nil
                snapshotBytes[partition] = nil
            }
        }
    }

    private mutating func grow(to partition: Int) {
        if scorers.count <= partition { scorers.append(contentsOf: repeatElement(nil, count: partition + 1 - scorers.count)) }
    }

    @inline(__always)
    private mutating func ensure(_ partition: Int) {
        if partition < scorers.count, scorers[partition] != nil { return }
        grow(to: partition)
        scorers[partition] = model.makeScorer()
    }

    var lateEvents: Int {
        var total = retiredLateEvents
        for scorer in scorers { total += scorer?.lateEvents ?? 0 }
        return total
    }

    /// Keys and bytes held for one entity kind over this worker's partitions.
    func usage(entity: Int) -> EntityStateUsage? {
        EntityStateUsage.total(scorers.lazy.map { $0?.usage(entity: entity) })
    }
}
