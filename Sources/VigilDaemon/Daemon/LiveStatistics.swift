import Foundation
public import Histogram
import Synchronization
import VigilCore
import VigilFeatures

/// Latencies in microseconds (HdrHistogram).
public typealias LatencyHistogram = Histogram<UInt64>

extension Histogram<UInt64> {
    /// The value at `percentile`, in milliseconds (the histogram holds microseconds).
    public func milliseconds(atPercentile percentile: Double) -> Double { Double(valueAtPercentile(percentile)) / 1000 }

    /// The largest value, in milliseconds.
    public var maxMilliseconds: Double { Double(max) / 1000 }
}

/// What the live dashboard shows: a one-sample-per-second history of rates, lag and latency, the distribution
/// of combined scores, and the latest alerts.
///
/// Writers: the output thread (scores, alerts), the consumer thread (latency percentiles, once a second) and
/// the HTTP event loop (the per-second samples). Scores are relaxed atomic adds; everything else takes a
/// short lock at most once per alert or once per second.
public final class LiveStatistics: Sendable {
    /// One second of history.
    public struct Sample: Sendable {
        /// Unix time, seconds.
        public var time: Double
        public var eventsPerSecond: Double
        public var alertsPerSecond: Double
        public var deadLettersPerSecond: Double
        /// Summed consumer lag over the input partitions (nil before librdkafka reports it).
        public var lag: Int64?
        public var latency: LatencyPercentiles
    }

    /// Read-to-delivery latency percentiles over the last second, milliseconds.
    public struct LatencyPercentiles: Sendable {
        public var p50 = 0.0
        public var p90 = 0.0
        public var p99 = 0.0
        public var max = 0.0
        public var count = 0
        /// Input delay (record timestamp to read) over the last second: p99 and max, milliseconds.
        public var inputDelayP99 = 0.0
        public var inputDelayMax = 0.0
    }

    /// The running latency histograms (microseconds) since the start or the last `resetLatencyHistogram()`.
    public struct LatencyTotals: Sendable {
        /// Read to scored, for events without outputs.
        public var withoutOutputs = LatencyRecorder.makeHistogram()
        /// Read to the broker acknowledging the last output, for events with outputs.
        public var withOutputs = LatencyRecorder.makeHistogram()
        /// Record timestamp to read, for every input record.
        public var inputDelay = LatencyRecorder.makeHistogram()
        /// Both read-to-done histograms, over only the seconds of steady input: seconds in which no record read
        /// had waited longer than `steadyInputDelayMicroseconds` to be read, following a second like that. The
        /// other seconds carry the catch-up after the input stalled upstream (at the producer or the broker),
        /// when events read in a burst queue in the pipeline.
        public var steady = LatencyRecorder.makeHistogram()
        public var seconds = 0
        public var steadySeconds = 0
        var previousSecondSteady = false
    }

    /// The input delay above which a second does not count as steady (`LatencyTotals.steady`).
    public static let steadyInputDelayMicroseconds: UInt64 = 250_000

    /// Combined scores in `scoreBuckets` equal-width bins over 0 ... 1, recorded by the output thread alone (a load
    /// and a store per score, where an atomic add on a bucket object cost a retain, an add and a release). A bin
    /// holds its lower edge (`record(score:)`), where the histogram's own rule puts a value on a bound below it, so
    /// only `bucketCounts` is read from it, never its cumulative snapshot.
    public static let scoreBuckets = 20
    private let scores = SingleWriterHistogram(upperBounds: (1..<LiveStatistics.scoreBuckets).map { Double($0) / Double(LiveStatistics.scoreBuckets) })
    private let history = Mutex<(samples: [Sample], previous: (time: Double, scored: Int, alerts: Int, deadLetters: Int)?)>(([], nil))
    private let alerts = Mutex<[[UInt8]]>([])
    private let latency = Mutex(LatencyPercentiles())
    /// Every latency since the start or the last `resetLatencyHistogram()`.
    private let latencyTotal = Mutex(LatencyTotals())
    /// Samples kept (seconds of history) and alerts kept.
    public let historyLength: Int
    public let alertsKept: Int

    public init(historyLength: Int = 300, alertsKept: Int = 20) {
        self.historyLength = historyLength
        self.alertsKept = alertsKept
    }

    /// Counts one combined score (output thread).
    @inline(__always)
    func record(score: Double) {
        guard score.isFinite else { return }
        let bin = Swift.min(Self.scoreBuckets - 1, Swift.max(0, Int(score * Double(Self.scoreBuckets))))
        scores.record(score, inBucket: bin)
    }

    /// Keeps an alert record (its JSON as published) among the latest (output thread).
    func record(alert json: [UInt8]) {
        alerts.withLock { kept in
            if kept.count == alertsKept { kept.removeFirst() }
            kept.append(json)
        }
    }

    /// Replaces the latency percentiles (consumer thread, once a second).
    func publish(latency percentiles: LatencyPercentiles) {
        latency.withLock { $0 = percentiles }
    }

    /// Adds a second's latencies to the running histograms (consumer thread, once a second).
    func accumulate(withoutOutputs: LatencyHistogram, withOutputs: LatencyHistogram, inputDelay: LatencyHistogram) {
        latencyTotal.withLock { totals in
            totals.withoutOutputs.add(withoutOutputs)
            totals.withOutputs.add(withOutputs)
            totals.inputDelay.add(inputDelay)
            totals.seconds += 1
            let steady = inputDelay.totalCount == 0 || inputDelay.max <= Self.steadyInputDelayMicroseconds
            if steady, totals.previousSecondSteady {
                totals.steady.add(withoutOutputs)
                totals.steady.add(withOutputs)
                totals.steadySeconds += 1
            }
            totals.previousSecondSteady = steady
        }
    }

    /// Latencies, microseconds, of every event finished since the start or the last reset, up to the last whole
    /// second (HDR histograms, two significant digits): read to scored for events with no outputs, read to the
    /// broker acknowledging the last output for events with outputs, the input delay of every record read, and
    /// read to done over the seconds of steady input.
    public var latencyTotals: LatencyTotals { latencyTotal.withLock { $0 } }

    /// Starts `latencyTotals` over (a benchmark's warm-up ends).
    public func resetLatencyHistogram() {
        latencyTotal.withLock { $0 = LatencyTotals() }
    }

    /// Appends one history sample from the running totals (HTTP event loop, once a second).
    func sample(counters: DaemonCounters, lag: Int64?) {
        let now = Date().timeIntervalSince1970
        let scored = counters.scored.load(ordering: .relaxed)
        let alertsTotal = counters.alerts.load(ordering: .relaxed)
        let deadLetters = counters.deadLettered.load(ordering: .relaxed)
        let percentiles = latency.withLock { $0 }
        history.withLock { state in
            defer { state.previous = (now, scored, alertsTotal, deadLetters) }
            guard let previous = state.previous, now > previous.time else { return }
            let seconds = now - previous.time
            state.samples.append(Sample(
                time: now,
                eventsPerSecond: Double(scored - previous.scored) / seconds,
                alertsPerSecond: Double(alertsTotal - previous.alerts) / seconds,
                deadLettersPerSecond: Double(deadLetters - previous.deadLetters) / seconds,
                lag: lag,
                latency: percentiles
            ))
            if state.samples.count > historyLength { state.samples.removeFirst(state.samples.count - historyLength) }
        }
    }

    public var samples: [Sample] { history.withLock { $0.samples } }
    public var scoreCounts: [Int] { scores.bucketCounts }
    public var latestAlerts: [[UInt8]] { alerts.withLock { $0 } }
    public var latencyPercentiles: LatencyPercentiles { latency.withLock { $0 } }

    /// The dashboard's JSON document (`/api/live`).
    func json(counters: DaemonCounters, configVersion: Int, ready: Bool, uptime: Double, entities: [(String, EntityStateUsage)]) -> [UInt8] {
        var w = JSONWriter(capacity: 16_384)
        w.beginObject()
        w.key("now"); w.number(Date().timeIntervalSince1970)
        w.key("uptime_s"); w.number(uptime)
        w.key("config_version"); w.int(Int64(configVersion))
        w.key("ready"); w.bool(ready)
        w.key("totals"); w.beginObject()
        w.key("consumed"); w.int(Int64(counters.consumed.load(ordering: .relaxed)))
        w.key("scored"); w.int(Int64(counters.scored.load(ordering: .relaxed)))
        w.key("alerts"); w.int(Int64(counters.alerts.load(ordering: .relaxed)))
        w.key("dead_letters"); w.int(Int64(counters.deadLettered.load(ordering: .relaxed)))
        w.endObject()
        w.key("series"); w.beginArray()
        for sample in samples {
            w.beginObject()
            w.key("t"); w.number(sample.time)
            w.key("events_per_s"); w.number(sample.eventsPerSecond)
            w.key("alerts_per_s"); w.number(sample.alertsPerSecond)
            w.key("dead_letters_per_s"); w.number(sample.deadLettersPerSecond)
            w.key("lag")
            if let lag = sample.lag { w.int(lag) } else { w.null() }
            w.key("p50_ms"); w.number(sample.latency.p50)
            w.key("p99_ms"); w.number(sample.latency.p99)
            w.endObject()
        }
        w.endArray()
        let percentiles = latencyPercentiles
        w.key("latency_ms"); w.beginObject()
        w.key("p50"); w.number(percentiles.p50)
        w.key("input_delay_p99"); w.number(percentiles.inputDelayP99)
        w.key("input_delay_max"); w.number(percentiles.inputDelayMax)
        w.key("p90"); w.number(percentiles.p90)
        w.key("p99"); w.number(percentiles.p99)
        w.key("max"); w.number(percentiles.max)
        w.endObject()
        w.key("scores"); w.beginArray()
        for count in scoreCounts { w.int(Int64(count)) }
        w.endArray()
        w.key("entities"); w.beginArray()
        for (name, usage) in entities {
            w.beginObject()
            w.key("entity"); w.string(name)
            w.key("keys"); w.int(Int64(usage.keys))
            w.key("bytes"); w.int(Int64(usage.bytes))
            w.endObject()
        }
        w.endArray()
        w.key("alerts"); w.beginArray()
        for alert in latestAlerts.reversed() { w.raw(alert) }
        w.endArray()
        w.endObject()
        return w.bytes
    }
}
