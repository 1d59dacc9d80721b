import Foundation
import Testing
import VigilCore

@Suite("SPSC ring")
struct SPSCRingTests {
    @Test func capacityRoundsUpToAPowerOfTwo() {
        let (producer, _) = SPSCRing<Int>.makeRing(capacity: 100)
        #expect(producer.ring.capacity == 128)
    }

    @Test func fullRingRefusesAndDrainingMakesRoom() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 4)
        for i in 0..<4 { #expect(producer.push(i)) }
        #expect(!producer.push(99))
        #expect(producer.freeCount == 0)
        #expect(consumer.pop() == 0)
        #expect(producer.push(4))
        var seen: [Int] = []
        consumer.drain { seen.append($0) }
        #expect(seen == [1, 2, 3, 4])
        #expect(consumer.isEmpty)
        #expect(consumer.pop() == nil)
    }

    @Test func batchPushTakesWhatFitsFromTheFront() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 8)
        let pushed = Array(0..<20).withUnsafeBufferPointer { producer.push(contentsOf: $0) }
        #expect(pushed == 8)
        var seen: [Int] = []
        let first = consumer.drain(max: 3) { seen.append($0) }
        #expect(first == 3)
        #expect(seen == [0, 1, 2])
        let rest = consumer.drain { seen.append($0) }
        #expect(rest == 5)
        #expect(seen == Array(0..<8))
    }

    @Test func stagedElementsAppearOnlyAfterPublish() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 8)
        #expect(producer.stage(1))
        #expect(producer.stage(2))
        #expect(consumer.pop() == nil)
        producer.publish()
        #expect(consumer.pop() == 1)
        #expect(consumer.pop() == 2)
    }

    /// Reference-counted elements left in the ring are released when it goes away.
    @Test func remainingElementsAreReleasedWithTheRing() {
        final class Tracked {
            static let live = LiveCounter()
            init() { Tracked.live.add(1) }
            deinit { Tracked.live.add(-1) }
        }
        do {
            let (producer, consumer) = SPSCRing<Tracked>.makeRing(capacity: 8)
            for _ in 0..<5 { _ = producer.push(Tracked()) }
            _ = consumer.pop()
            #expect(Tracked.live.value == 4)
        }
        #expect(Tracked.live.value == 0)
    }

    /// Two threads move 2,000,000 sequence-numbered elements through a small ring, in single pushes and in
    /// batches; the consumer checks that every number arrives once and in order. scripts/test also runs this
    /// suite under the thread sanitizer.
    @Test(.timeLimit(.minutes(2)))
    func producerAndConsumerThreadsAgreeOnEverySequenceNumber() async {
        struct Item {
            var sequence: UInt64
            var check: UInt64
        }
        let total: UInt64 = 2_000_000
        let (producer, consumer) = SPSCRing<Item>.makeRing(capacity: 64)
        let done = DispatchSemaphore(value: 0)
        Thread {
            var next: UInt64 = 0
            var batch: [Item] = []
            while next < total {
                if next % 3 == 0 {
                    if producer.push(Item(sequence: next, check: next &* 31)) { next += 1 }
                } else {
                    batch.removeAll(keepingCapacity: true)
                    for s in next..<min(total, next + 17) { batch.append(Item(sequence: s, check: s &* 31)) }
                    next += UInt64(batch.withUnsafeBufferPointer { producer.push(contentsOf: $0) })
                }
            }
            done.signal()
        }.start()

        let result = await withCheckedContinuation { (continuation: CheckedContinuation<(UInt64, Int), Never>) in
            Thread {
                var expected: UInt64 = 0
                var errors = 0
                while expected < total {
                    consumer.drain(max: 23) { item in
                        if item.sequence != expected || item.check != expected &* 31 { errors += 1 }
                        expected += 1
                    }
                }
                continuation.resume(returning: (expected, errors))
            }.start()
        }
        done.wait()
        #expect(result.0 == total)
        #expect(result.1 == 0)
        #expect(consumer.isEmpty)
    }
}

final class LiveCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ delta: Int) { lock.withLock { count += delta } }
    var value: Int { lock.withLock { count } }
}
