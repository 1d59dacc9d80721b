import Testing
@testable import VigilDaemon

/// The running latency histograms `vigil bench latency` reads: the input delay, and read-to-done over only the
/// seconds of steady input.
@Suite("Latency totals")
struct LatencyTotalsTests {
    private func histogram(_ microseconds: [UInt64]) -> LatencyHistogram {
        var h = LatencyRecorder.makeHistogram()
        for value in microseconds { _ = h.record(value) }
        return h
    }

    @Test func onlySecondsOfSteadyInputAfterASteadySecondCountAsSteady() {
        let live = LiveStatistics()
        let stall = LiveStatistics.steadyInputDelayMicroseconds + 1
        // Per second: read-to-done latencies (two events each) and the input delays of the records read.
        let seconds: [(done: [UInt64], inputDelay: [UInt64])] = [
            ([1_000, 2_000], [30_000]),           // steady, but no steady second before it
            ([1_500, 2_500], [40_000, 50_000]),   // steady after steady: counted
            ([90_000, 120_000], [stall, 2_000]),  // the input stalled upstream
            ([80_000, 100_000], [10_000]),        // the catch-up after the stall
            ([1_200, 1_800], []),                 // nothing read: steady, after a steady second
        ]
        for second in seconds {
            live.accumulate(withoutOutputs: histogram(second.done), withOutputs: histogram([]), inputDelay: histogram(second.inputDelay))
        }
        let totals = live.latencyTotals
        #expect(totals.seconds == 5 && totals.steadySeconds == 2)
        #expect(totals.steady.totalCount == 4 && totals.steady.max < 3_000, "only the two counted seconds' events")
        #expect(totals.withoutOutputs.totalCount == 10 && totals.inputDelay.totalCount == 6)
        #expect(totals.inputDelay.max >= stall)

        live.resetLatencyHistogram()
        let reset = live.latencyTotals
        #expect(reset.seconds == 0 && reset.steady.totalCount == 0 && reset.inputDelay.totalCount == 0)
    }

    @Test func anInputDelayIsRecordedFromTheRecordTimestampAndNeverNegative() {
        let live = LiveStatistics()
        var recorder = LatencyRecorder(prometheus: nil, live: live)
        recorder.record(inputDelayMicroseconds: 12_000)
        recorder.record(inputDelayMicroseconds: -5_000)  // a producer clock ahead of this machine's
        recorder.publishIfDue(nowNs: 2_000_000_000)
        let delays = live.latencyTotals.inputDelay
        #expect(delays.totalCount == 2 && delays.min == 0)
        #expect(delays.max >= 12_000 && delays.max < 12_200)
        #expect(live.latencyPercentiles.inputDelayMax >= 12 && live.latencyPercentiles.inputDelayMax < 12.2)
    }
}
