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

    /// Slots filled before use read as the fill wherever a builder leaves them alone, also once the ring has
    /// wrapped round: what lets the decoder write only the parts of an event its schema maps.
    @Test func filledSlotsKeepTheFillWhereBuildersLeaveThemAlone() {
        struct Pair: Equatable { var built: Int; var untouched: Int }
        let (producer, consumer) = SPSCRing<Pair>.makeRing(capacity: 4)
        producer.fillSlots(with: Pair(built: -1, untouched: 7))
        var taken: [Pair] = []
        for i in 0..<10 {
            let slot = producer.reserve()!
            slot.pointee.built = i
            producer.publishReserved()
            taken.append(consumer.pop()!)
        }
        #expect(taken == (0..<10).map { Pair(built: $0, untouched: 7) })
    }

    /// The look-ahead drain hands each element with the next two of the same batch, and nil past its end.
    @Test func drainLookingAheadSeesTheNextTwoOfTheBatch() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 8)
        for i in 0..<5 { #expect(producer.push(i)) }
        var seen: [[Int?]] = []
        let drained = consumer.drainInPlace(max: 4) { item, next, afterNext in
            seen.append([item.pointee, next?.pointee, afterNext?.pointee])
        }
        #expect(drained == 4)
        #expect(seen == [[0, 1, 2], [1, 2, 3], [2, 3, nil], [3, nil, nil]])
        #expect(consumer.pop() == 4 && consumer.isEmpty)
    }

    /// `element(at:)` reaches past the first element, across the wrap-around, and no further than what was
    /// published.
    @Test func elementsBeyondTheFirstAreReachedInPlace() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 4)
        for i in 0..<3 { #expect(producer.push(i)) }
        #expect(consumer.pop() == 0 && consumer.pop() == 1)
        for i in 3..<6 { #expect(producer.push(i)) }
        #expect((0..<4).map { consumer.element(at: $0)?.pointee } == [2, 3, 4, 5])
        #expect(consumer.element(at: 4) == nil && consumer.element(at: -1) == nil)
        consumer.element(at: 2)!.pointee = 40
        consumer.removeFirst()
        #expect(consumer.element(at: 1)?.pointee == 40)
        #expect(producer.push(6))
        #expect(consumer.element(at: 3)?.pointee == 6)
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

    /// An element built in its slot appears only once published; a full ring reserves nothing, and a slot
    /// reserved but not published is offered again.
    @Test func reservedSlotsAppearOnlyWhenPublished() {
        let (producer, consumer) = SPSCRing<Int>.makeRing(capacity: 2)
        let slot = producer.reserve()
        slot?.initialize(to: 7)
        #expect(consumer.first() == nil)
        producer.publishReserved()
        #expect(consumer.first()?.pointee == 7)
        let unpublished = producer.reserve()
        #expect(unpublished != nil)
        #expect(producer.reserve() == unpublished)
        unpublished?.initialize(to: 8)
        producer.publishReserved()
        #expect(producer.reserve() == nil, "full")
        #expect(consumer.pop() == 7)
        #expect(consumer.pop() == 8)
    }

    /// Elements are handed over where they lie, changed in place, and released once consumed.
    @Test func inPlaceReadsReleaseWhatTheyConsume() {
        final class Tracked {
            static let live = LiveCounter()
            var value: Int
            init(_ value: Int) {
                self.value = value
                Tracked.live.add(1)
            }
            deinit { Tracked.live.add(-1) }
        }
        let (producer, consumer) = SPSCRing<Tracked>.makeRing(capacity: 8)
        for i in 0..<5 { _ = producer.push(Tracked(i)) }
        let head = consumer.first()
        head?.pointee.value += 100
        #expect(consumer.first()?.pointee.value == 100)
        consumer.removeFirst()
        #expect(Tracked.live.value == 4)
        var seen: [Int] = []
        let drained = consumer.drainInPlace(max: 3) { seen.append($0.pointee.value) }
        #expect(drained == 3)
        #expect(seen == [1, 2, 3])
        #expect(Tracked.live.value == 1)
        #expect(consumer.pop()?.value == 4)
        #expect(consumer.first() == nil)
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

    /// Two threads move 2,000,000 sequence-numbered elements through a small ring, in single pushes, slots
    /// built in place and batches; the consumer, reading by copy, in place and one at a time, checks that every
    /// number arrives once and in order. scripts/test also runs this suite under the thread sanitizer.
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
                } else if next % 5 == 0 {
                    if let slot = producer.reserve() {
                        slot.initialize(to: Item(sequence: next, check: next &* 31))
                        producer.publishReserved()
                        next += 1
                    }
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
                var round = 0
                while expected < total {
                    round += 1
                    switch round % 3 {
                    case 0:
                        consumer.drain(max: 23) { item in
                            if item.sequence != expected || item.check != expected &* 31 { errors += 1 }
                            expected += 1
                        }
                    case 1:
                        consumer.drainInPlace(max: 19) { item in
                            if item.pointee.sequence != expected || item.pointee.check != expected &* 31 { errors += 1 }
                            expected += 1
                        }
                    default:
                        if let item = consumer.first() {
                            if item.pointee.sequence != expected || item.pointee.check != expected &* 31 { errors += 1 }
                            expected += 1
                            consumer.removeFirst()
                        }
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
