import Testing
import VigilCore

@Suite("Offset tracking")
struct OffsetTrackerTests {
    @Test func commitsOnlyTheCompletedPrefixWhenWorkFinishesOutOfOrder() {
        var tracker = PartitionOffsetTracker(initialCapacity: 4)
        for offset in Int64(10)..<20 { tracker.register(offset) }
        #expect(tracker.committable == nil)
        tracker.complete(12)
        tracker.complete(11)
        #expect(tracker.committable == nil, "10 is still in flight")
        tracker.complete(10)
        #expect(tracker.committable == 13)
        tracker.complete(19)
        #expect(tracker.committable == 13)
        for offset in Int64(13)..<19 { tracker.complete(offset) }
        #expect(tracker.committable == 20)
        #expect(tracker.inFlight == 0)
    }

    @Test func gapsInOffsetsAreAllowed() {
        var tracker = PartitionOffsetTracker()
        for offset: Int64 in [0, 1, 5, 9] { tracker.register(offset) }
        tracker.complete(5)
        tracker.complete(0)
        tracker.complete(1)
        #expect(tracker.committable == 6)
        tracker.complete(9)
        #expect(tracker.committable == 10)
    }

    @Test func unknownRepeatedAndDecreasingOffsetsAreRefused() {
        var tracker = PartitionOffsetTracker()
        let results = [
            tracker.register(3), tracker.register(3), tracker.register(2),
            tracker.complete(4), tracker.complete(3), tracker.complete(3),
        ]
        #expect(results == [true, false, false, false, true, false])
    }

    @Test func growsPastItsInitialCapacityKeepingOrder() {
        var tracker = PartitionOffsetTracker(initialCapacity: 16)
        for offset in Int64(0)..<1000 { tracker.register(offset) }
        for offset in stride(from: Int64(999), through: 1, by: -1) { tracker.complete(offset) }
        #expect(tracker.committable == nil)
        tracker.complete(0)
        #expect(tracker.committable == 1000)
    }

    /// Every answer and committable offset equal those of a plain list of in-flight offsets, over random holes
    /// between offsets, outputs expected and delivered in either order, and asks for offsets in holes, already
    /// done or never read — while the buffer wraps and grows.
    @Test func answersEqualThoseOfAPlainListOfInFlightOffsets() {
        struct Flight { var offset: Int64; var remaining = 0; var expected = false; var done = false }
        var generator = SplitMix64(seed: 11)
        var tracker = PartitionOffsetTracker(initialCapacity: 4)
        var flights: [Flight] = []
        var committable: Int64?
        var last: Int64?
        var next: Int64 = 0
        var mismatches = 0
        func advance() {
            while let first = flights.first, first.done {
                committable = first.offset + 1
                flights.removeFirst()
            }
        }
        for step in 0..<60_000 {
            let roll = generator.next() % 10
            let offset: Int64 = flights.isEmpty || generator.next() % 5 == 0
                ? Int64(generator.next() % UInt64(next + 3))
                : flights[Int(generator.next() % UInt64(Swift.min(flights.count, 24)))].offset
            let expected: Bool
            let got: Bool
            if roll < 4 || flights.count < 2 {
                let registered = generator.next() % 8 == 0 ? offset : next
                expected = last.map { registered > $0 } ?? true
                if expected {
                    flights.append(Flight(offset: registered))
                    last = registered
                    next = registered + 1 + Int64(generator.next() % 4)
                }
                got = tracker.register(registered)
            } else if roll < 7 {
                let outputs = Int(generator.next() % 3)
                if let i = flights.firstIndex(where: { $0.offset == offset }), !flights[i].done, !flights[i].expected {
                    flights[i].expected = true
                    flights[i].remaining += outputs
                    if flights[i].remaining <= 0 { flights[i].done = true }
                    expected = true
                } else {
                    expected = false
                }
                got = tracker.expect(offset, outputs: outputs)
            } else {
                if let i = flights.firstIndex(where: { $0.offset == offset }), !flights[i].done {
                    flights[i].remaining -= 1
                    if flights[i].expected, flights[i].remaining <= 0 { flights[i].done = true }
                    expected = true
                } else {
                    expected = false
                }
                got = tracker.delivered(offset)
            }
            advance()
            if got != expected || tracker.committable != committable || tracker.inFlight != flights.count {
                mismatches += 1
                if mismatches < 4 { Issue.record("step \(step): \(got) vs \(expected), committable \(String(describing: tracker.committable)) vs \(String(describing: committable))") }
            }
        }
        #expect(mismatches == 0)
        #expect(committable ?? 0 > 1_000, "the stream moved on")
    }

    @Test func randomCompletionOrderNeverCommitsAnIncompleteOffset() {
        var generator = SplitMix64(seed: 7)
        var tracker = PartitionOffsetTracker(initialCapacity: 8)
        var pending: [Int64] = []
        var completed = Set<Int64>()
        var next: Int64 = 0
        for _ in 0..<20_000 {
            if pending.isEmpty || generator.next() % 3 != 0 {
                tracker.register(next)
                pending.append(next)
                next += 1 + Int64(generator.next() % 2)
            } else {
                let index = Int(generator.next() % UInt64(pending.count))
                let offset = pending.remove(at: index)
                tracker.complete(offset)
                completed.insert(offset)
            }
            if let committable = tracker.committable {
                let smallestPending = pending.min() ?? Int64.max
                #expect(committable <= smallestPending)
                #expect(completed.contains(committable - 1))
            }
        }
    }

    @Test func trackerOverPartitionsReportsOnlyMovedOffsetsAndForgetsRevokedOnes() {
        var tracker = OffsetTracker()
        tracker.assign(0)
        tracker.assign(2)
        tracker.register(partition: 0, offset: 0)
        tracker.register(partition: 2, offset: 7)
        let unassigned = tracker.register(partition: 1, offset: 0)
        #expect(!unassigned)
        tracker.complete(partition: 2, offset: 7)
        let moved = tracker.takeCommittable()
        #expect(moved.count == 1 && moved[0].partition == 2 && moved[0].offset == 8)
        let again = tracker.takeCommittable()
        #expect(again.isEmpty)
        tracker.revoke(0)
        let afterRevoke = tracker.complete(partition: 0, offset: 0)
        #expect(!afterRevoke)
        #expect(tracker.inFlight == 0)
    }

    /// A partition restored from a snapshot is committable at the snapshot's offset before any event arrives, and
    /// moves on from there; once an event was registered the restore point can no longer be set.
    @Test func aResumedPartitionIsCommittableAtItsRestorePointBeforeAnyEvent() {
        var tracker = OffsetTracker()
        tracker.assign(1)
        let resumed = tracker.resume(partition: 1, at: 500)
        #expect(resumed)
        #expect(tracker.committable(partition: 1) == 500)
        let moved = tracker.takeCommittable()
        #expect(moved.count == 1 && moved[0].partition == 1 && moved[0].offset == 500)
        tracker.register(partition: 1, offset: 500)
        #expect(tracker.committable(partition: 1) == 500, "the new event is in flight")
        let late = tracker.resume(partition: 1, at: 900)
        #expect(!late)
        tracker.complete(partition: 1, offset: 500)
        #expect(tracker.committable(partition: 1) == 501)
        let unassigned = tracker.resume(partition: 0, at: 10)
        #expect(!unassigned)
    }
}

@Suite("Offset tracking with outputs")
struct OffsetTrackerOutputTests {
    @Test func anOffsetCompletesWhenItsExpectedOutputsAreDeliveredInEitherOrder() {
        var tracker = PartitionOffsetTracker()
        tracker.register(0)
        tracker.register(1)
        tracker.register(2)
        // Offset 0: two outputs, one delivery arrives before the expectation.
        tracker.delivered(0)
        tracker.expect(0, outputs: 2)
        #expect(tracker.committable == nil)
        tracker.delivered(0)
        #expect(tracker.committable == 1)
        // Offset 2 has no outputs; offset 1 one output not yet delivered.
        tracker.expect(2, outputs: 0)
        tracker.expect(1, outputs: 1)
        #expect(tracker.committable == 1)
        tracker.delivered(1)
        #expect(tracker.committable == 3)
        let late = tracker.delivered(1)
        #expect(!late)
    }

    /// Each offset's read time comes back once, when its last output is delivered, whatever the order.
    @Test func readTimesComeBackWhenOffsetsFinish() {
        var tracker = OffsetTracker()
        tracker.assign(0)
        tracker.assign(1)
        tracker.register(partition: 0, offset: 5, readAtNs: 100)
        tracker.register(partition: 0, offset: 6, readAtNs: 200)
        tracker.register(partition: 1, offset: 0, readAtNs: 300)
        tracker.register(partition: 1, offset: 1)
        tracker.expect(partition: 0, offset: 6, outputs: 2)
        tracker.delivered(partition: 0, offset: 6)
        tracker.complete(partition: 1, offset: 0)
        tracker.complete(partition: 1, offset: 1)
        var seen: [UInt64] = []
        tracker.drainFinishedReadTimes { time, _ in seen.append(time) }
        #expect(seen == [300], "offset 6 still waits for a delivery; offset 1 gave no read time")
        tracker.delivered(partition: 0, offset: 6)
        tracker.expect(partition: 0, offset: 5, outputs: 0)
        var withOutputs: [UInt64: Bool] = [:]
        tracker.drainFinishedReadTimes { time, hadOutputs in withOutputs[time] = hadOutputs }
        #expect(withOutputs == [100: false, 200: true], "offset 6 had two outputs, offset 5 none")
        seen.removeAll()
        tracker.drainFinishedReadTimes { time, _ in seen.append(time) }
        #expect(seen.isEmpty, "each read time is handed over once")
    }
}
