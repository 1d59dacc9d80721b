import Logging
import Synchronization
import VigilCore
import VigilKafka

/// A delivered output, from the producer's delivery-report thread to the consumer thread.
struct DeliveredOutput: Sendable {
    var partition: Int32
    var offset: Int64
}

/// How many outputs an input offset's event produced, from the output thread to the consumer thread.
struct ExpectedOutputs: Sendable {
    var partition: Int32
    var offset: Int64
    var outputs: Int32
}

/// Packs an input position into a produce context: 16 bits of partition index, 48 bits of offset.
/// Open while a thread drains a delivery ring; closed once it has stopped, so the delivery thread never waits on
/// a ring nobody empties.
final class DeliveryGate: Sendable {
    let open = Atomic<Bool>(true)
}

/// The delivery-report callback of a producer whose outputs complete input offsets: failures are counted and
/// logged (the offset then stays in flight, so it is never committed past), successes go to the thread that
/// tracks offsets through `ring`, waiting for room while `isOpen` says that thread still drains it.
func forwardingDeliveries(
    to ring: SPSCRing<DeliveredOutput>.Producer, gate: DeliveryGate, counters: DaemonCounters, logger: Logger
) -> @Sendable (KafkaDeliveryReport) -> Void {
    { report in
        guard report.error == nil else {
            counters.deliveryFailures.add(1, ordering: .relaxed)
            logger.error("delivery to \(report.topic) failed: \(report.error!)")
            return
        }
        let done = DeliveredOutput(partition: OutputContext.partition(report.context), offset: OutputContext.offset(report.context))
        var backoff = IdleBackoff(maximumMicroseconds: 100)
        while !ring.push(done), gate.open.load(ordering: .acquiring) { backoff.idle() }
    }
}

enum OutputContext {
    static func make(partition: Int32, offset: Int64) -> UInt64 {
        (UInt64(UInt16(truncatingIfNeeded: partition)) << 48) | (UInt64(bitPattern: offset) & 0x0000_FFFF_FFFF_FFFF)
    }

    static func partition(_ context: UInt64) -> Int32 { Int32(context >> 48) }

    /// The partition index that marks a checkpoint chunk's delivery (its offset field carries the checkpoint id).
    static let checkpointPartition: Int32 = 0xFFFF
    /// The partition index of a repartition request's delivery: nothing waits on it (the reply is what counts).
    static let requestPartition: Int32 = 0xFFFE
    static func offset(_ context: UInt64) -> Int64 { Int64(context & 0x0000_FFFF_FFFF_FFFF) }
}
