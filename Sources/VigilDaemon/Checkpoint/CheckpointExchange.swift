import Synchronization
import VigilCore

/// Where the pipeline's threads hand checkpoint state to each other: the consumer thread leaves restored
/// partition states for the workers, the workers leave their partitions' snapshots, and the output thread leaves
/// the ordered stage's. Items on the rings say when to look; the payloads wait here, so the event rings carry no
/// references. Touched once per checkpoint step, never per event.
public final class CheckpointExchange: Sendable {
    /// One checkpoint being assembled.
    struct Assembly: Sendable {
        var partitions: [Int: PartitionCut]
        var blobs: [Int: [UInt8]] = [:]
        var markers = 0
        var stage: [UInt8]?
    }

    private let restores = Mutex<[UInt64: BinaryReader]>([:])
    private let restoreFailures = Mutex<[(partition: Int, message: String)]>([])
    private let assemblies = Mutex<[UInt64: Assembly]>([:])

    public init() {}

    // MARK: Restores (consumer thread -> worker)

    /// Leaves a partition's saved scorer state for the worker that will install it: a reader at the state in
    /// the snapshot's bytes (`PartitionSnapshot.decode`), so the state is not copied out of them.
    func putRestore(_ id: UInt64, _ state: BinaryReader) {
        restores.withLock { $0[id] = state }
    }

    func takeRestore(_ id: UInt64) -> BinaryReader? {
        restores.withLock { $0.removeValue(forKey: id) }
    }

    /// A worker could not install a restored state (it started the partition cold).
    func reportRestoreFailure(partition: Int, _ message: String) {
        restoreFailures.withLock { $0.append((partition, message)) }
    }

    func takeRestoreFailures() -> [(partition: Int, message: String)] {
        restoreFailures.withLock { failures in
            defer { failures.removeAll() }
            return failures
        }
    }

    // MARK: Checkpoints (workers and output thread -> consumer thread)

    /// Opens checkpoint `id` for these partition indexes, cut there.
    func begin(_ id: UInt64, partitions: [Int: PartitionCut]) {
        assemblies.withLock { $0[id] = Assembly(partitions: partitions) }
    }

    /// The partitions a worker must snapshot for checkpoint `id`, and where they were cut.
    func partitions(of id: UInt64) -> [Int: PartitionCut] {
        assemblies.withLock { $0[id]?.partitions ?? [:] }
    }

    /// A partition's encoded snapshot (`PartitionSnapshot`) for checkpoint `id`.
    func putPartition(_ id: UInt64, partition: Int, _ state: [UInt8]) {
        assemblies.withLock { $0[id]?.blobs[partition] = state }
    }

    /// Counts one worker's marker at the output thread; true when it was the last of `workers`.
    func markerArrived(_ id: UInt64, workers: Int) -> Bool {
        assemblies.withLock { all in
            guard all[id] != nil else { return false }
            all[id]!.markers += 1
            return all[id]!.markers == workers
        }
    }

    func putStage(_ id: UInt64, _ state: [UInt8]) {
        assemblies.withLock { $0[id]?.stage = state }
    }

    /// The partition snapshots and the stage's state of checkpoint `id`, once the stage's is in (the workers'
    /// come before their markers, so they are in too); removes it.
    func takeIfComplete(_ id: UInt64) -> (partitions: [Int: [UInt8]], stage: [UInt8])? {
        assemblies.withLock { all in
            guard let assembly = all[id], let stage = assembly.stage else { return nil }
            all[id] = nil
            return (assembly.blobs, stage)
        }
    }

    /// Drops checkpoint `id` unfinished.
    func abandon(_ id: UInt64) {
        assemblies.withLock { $0[id] = nil }
    }
}
