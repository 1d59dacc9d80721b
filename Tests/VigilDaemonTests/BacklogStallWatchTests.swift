import Testing
@testable import VigilDaemon

@Suite("Backlog stall watch")
struct BacklogStallWatchTests {
    let start = ContinuousClock.now

    /// A pipeline slower than its input: the backlog lasts for seconds, but the workers take some of it at nearly
    /// every pass of the loop. It never counts as stalled (pausing it idled the pipeline a few times per run).
    @Test func aBacklogThatMovesNeverStalls() {
        var watch = BacklogStallWatch(limit: .milliseconds(500))
        var handedOn = 0
        var stalledPasses = 0
        for pass in 0..<5_000 {
            // Some passes hand on nothing (the loop waited its 2 ms for room), but never 500 ms of them.
            if pass % 100 != 99 { handedOn += 7 }
            if watch.isStalled(handedOn: handedOn, now: start + .milliseconds(2 * pass)) { stalledPasses += 1 }
        }
        #expect(stalledPasses == 0)
    }

    /// Workers that take nothing (an output broker away): stalled once nothing moved for longer than the limit,
    /// timed from the last move, not from the backlog's start.
    @Test func aBacklogThatStopsMovingStallsAfterTheLimit() {
        var watch = BacklogStallWatch(limit: .milliseconds(500))
        let observations: [(handedOn: Int, ms: Int)] = [(10, 0), (20, 400), (20, 800), (20, 900), (20, 901), (20, 5_000), (21, 5_001)]
        let stalled = observations.map { watch.isStalled(handedOn: $0.handedOn, now: start + .milliseconds($0.ms)) }
        // It moved at 400 ms, so 900 ms is not yet past the limit; moving again at 5,001 ms ends the stall.
        #expect(stalled == [false, false, false, false, true, true, false])
    }

    /// A new backlog is timed afresh, whatever the count was when the last one cleared.
    @Test func aClearedBacklogRestartsTheClock() {
        var watch = BacklogStallWatch(limit: .milliseconds(500))
        let before = watch.isStalled(handedOn: 3, now: start)
        watch.backlogCleared()
        let observations = [2_000, 2_500, 2_501]
        let stalled = observations.map { watch.isStalled(handedOn: 3, now: start + .milliseconds($0)) }
        #expect(!before)
        #expect(stalled == [false, false, true])
    }
}
