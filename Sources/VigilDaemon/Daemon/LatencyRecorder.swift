import Dispatch
import Histogram

/// Records each input event's latency from being read to the broker acknowledging its last output (or to
/// being scored, when it has no output), on the consumer thread that learns of both; and how long each input
/// record took to reach Vigil at all (its input delay: from the record's timestamp to being read).
///
/// Every value goes to the Prometheus histogram and to an HDR histogram of the current second (one for events
/// without outputs, one for events whose outputs the broker had to acknowledge), whose percentiles are published
/// to the dashboard once a second; the second is then added to the running histograms
/// (`LiveStatistics.latencyHistograms`, what `vigil bench latency` reads) and cleared.
struct LatencyRecorder {
    /// Microseconds up to ten minutes, two significant digits.
    static func makeHistogram() -> LatencyHistogram {
        LatencyHistogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .two)
    }

    private var second = makeHistogram()
    private var secondWithOutputs = makeHistogram()
    private var secondInputDelay = makeHistogram()
    private let prometheus: EventHistogram?
    private let live: LiveStatistics?
    private var lastPublishNs: UInt64 = 0

    init(prometheus: EventHistogram?, live: LiveStatistics?) {
        self.prometheus = prometheus
        self.live = live
    }

    /// Records one finished event read at `readAtNs` (`DispatchTime` nanoseconds).
    @inline(__always)
    mutating func record(readAtNs: UInt64, nowNs: UInt64, hadOutputs: Bool) {
        let nanoseconds = nowNs &- readAtNs
        guard nanoseconds < 1 << 62 else { return }
        prometheus?.recordNanoseconds(Int64(nanoseconds))
        let microseconds = Swift.min(nanoseconds / 1000, second.highestTrackableValue)
        if hadOutputs { _ = secondWithOutputs.record(microseconds) } else { _ = second.record(microseconds) }
    }

    /// Records one input record's delay from its timestamp (its producer's clock, or the broker's with
    /// LogAppendTime) to being read, microseconds; a timestamp ahead of this machine's clock counts as 0.
    @inline(__always)
    mutating func record(inputDelayMicroseconds: Int64) {
        _ = secondInputDelay.record(UInt64(Swift.min(Swift.max(0, inputDelayMicroseconds), Int64(secondInputDelay.highestTrackableValue))))
    }

    /// Publishes the last second's percentiles once a second has passed since the previous publication.
    mutating func publishIfDue(nowNs: UInt64) {
        guard nowNs &- lastPublishNs >= 1_000_000_000 else { return }
        lastPublishNs = nowNs
        guard let live else { return }
        if secondWithOutputs.totalCount > 0 || second.totalCount > 0 || secondInputDelay.totalCount > 0 {
            live.accumulate(withoutOutputs: second, withOutputs: secondWithOutputs, inputDelay: secondInputDelay)
        }
        second.add(secondWithOutputs)
        secondWithOutputs.reset()
        var percentiles = LiveStatistics.LatencyPercentiles()
        if second.totalCount > 0 {
            percentiles.p50 = second.milliseconds(atPercentile: 50)
            percentiles.p90 = second.milliseconds(atPercentile: 90)
            percentiles.p99 = second.milliseconds(atPercentile: 99)
            percentiles.max = second.maxMilliseconds
            percentiles.count = Int(second.totalCount)
        }
        if secondInputDelay.totalCount > 0 {
            percentiles.inputDelayP99 = secondInputDelay.milliseconds(atPercentile: 99)
            percentiles.inputDelayMax = secondInputDelay.maxMilliseconds
        }
        secondInputDelay.reset()
        live.publish(latency: percentiles)
        second.reset()
    }
}
