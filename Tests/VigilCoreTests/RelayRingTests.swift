import Foundation
import Testing
import VigilCore

@Suite("Relay ring")
struct RelayRingTests {
    /// The consumer sees only what the relay passed on, changed as the relay left it; the producer gets a slot back
    /// only when the consumer frees it, not when the relay is done with it.
    @Test func consumerSeesOnlyRelayedElementsAndOnlyItFreesSlots() {
        let (producer, relay, consumer) = SPSCRing<Int>.makeRelayRing(capacity: 4)
        for i in 0..<4 { #expect(producer.push(i)) }
        #expect(!producer.push(99))
        #expect(consumer.isEmpty && consumer.first() == nil)
        var seen: [[Int?]] = []
        let relayed = relay.relay(max: 3) { item, next, afterNext in
            seen.append([item.pointee, next?.pointee, afterNext?.pointee])
            item.pointee *= 10
        }
        #expect(relayed == 3)
        #expect(seen == [[0, 1, 2], [1, 2, nil], [2, nil, nil]])
        #expect((0..<4).map { consumer.element(at: $0)?.pointee } == [0, 10, 20, nil])
        #expect(!producer.push(99))
        #expect(!relay.isEmpty)
        #expect(relay.relay { $0.pointee *= 10; _ = ($1, $2) } == 1)
        #expect(relay.isEmpty && relay.relay { _, _, _ in Issue.record("nothing to relay") } == 0)
        #expect(consumer.pop() == 0)
        #expect(producer.freeCount == 1)
        #expect(producer.push(4))
        #expect(consumer.element(at: 3) == nil)
        consumer.removeFirst()
        #expect((0..<2).map { consumer.element(at: $0)?.pointee } == [20, 30])
    }

    /// Elements left in the ring, relayed or not, are released with it.
    @Test func remainingElementsAreReleasedWithTheRing() {
        let live = LiveCounter()
        final class Tracked {
            let live: LiveCounter
            init(_ live: LiveCounter) { self.live = live; live.add(1) }
            deinit { live.add(-1) }
        }
        do {
            let (producer, relay, consumer) = SPSCRing<Tracked>.makeRelayRing(capacity: 8)
            for _ in 0..<5 { #expect(producer.push(Tracked(live))) }
            relay.relay(max: 3) { _, _, _ in }
            _ = consumer.pop()
            #expect(live.value == 4)
        }
        #expect(live.value == 0)
    }

    /// Three threads move 200,000 sequence-numbered elements through a small ring: the producer writes each
    /// slot, the relay checks and changes it in place, the consumer checks the relay's change and frees it. Every
    /// number must arrive once, in order, with both writes seen. scripts/test also runs this under the thread
    /// sanitizer.
    @Test(.timeLimit(.minutes(2)))
    func producerRelayAndConsumerThreadsAgreeOnEverySlot() async {
        struct Item {
            var sequence: UInt64
            var check: UInt64
            var relayed: UInt64
        }
        let total: UInt64 = 200_000
        let (producer, relay, consumer) = SPSCRing<Item>.makeRelayRing(capacity: 64)
        let relayErrors = LiveCounter()
        let finished = DispatchSemaphore(value: 0)
        Thread {
            var next: UInt64 = 0
            while next < total {
                if let slot = producer.reserve() {
                    slot.initialize(to: Item(sequence: next, check: next &* 31, relayed: 0))
                    producer.publishReserved()
                    next += 1
                } else {
                    sched_yield()
                }
            }
            finished.signal()
        }.start()
        Thread {
            var expected: UInt64 = 0
            var errors = 0
            while expected < total {
                let relayed = relay.relay(max: 29) { item, next, _ in
                    if item.pointee.sequence != expected || item.pointee.check != expected &* 31 { errors += 1 }
                    if let next, next.pointee.sequence != expected + 1 { errors += 1 }
                    item.pointee.relayed = expected &* 7
                    expected += 1
                }
                if relayed == 0 { sched_yield() }
            }
            relayErrors.add(errors)
            finished.signal()
        }.start()

        let result = await withCheckedContinuation { (continuation: CheckedContinuation<(UInt64, Int), Never>) in
            Thread {
                var expected: UInt64 = 0
                var errors = 0
                while expected < total {
                    if expected % 2 == 0, let item = consumer.first() {
                        if item.pointee.sequence != expected || item.pointee.relayed != expected &* 7 { errors += 1 }
                        expected += 1
                        consumer.removeFirst()
                    } else {
                        let drained = consumer.drainInPlace(max: 13) { item in
                            if item.pointee.sequence != expected || item.pointee.relayed != expected &* 7 { errors += 1 }
                            expected += 1
                        }
                        if drained == 0 { sched_yield() }
                    }
                }
                continuation.resume(returning: (expected, errors))
            }.start()
        }
        finished.wait()
        finished.wait()
        #expect(result.0 == total)
        #expect(result.1 == 0)
        #expect(relayErrors.value == 0)
        #expect(consumer.isEmpty && relay.isEmpty)
    }
}
