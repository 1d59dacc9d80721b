import VigilCore

/// A Prometheus histogram recorded on the event path without a lock (`SingleWriterHistogram`): one thread records
/// (the consumer thread the latency, the output thread the scores), a scrape renders it. swift-prometheus's
/// histogram took a lock per value and added it to every bucket at or above it.
final class EventHistogram: Sendable {
    let name: String
    let help: String
    private let counts: SingleWriterHistogram

    init(name: String, help: String, upperBounds: [Double]) {
        self.name = name
        self.help = help
        counts = SingleWriterHistogram(upperBounds: upperBounds)
    }

    /// Counts `value`; one thread at a time.
    @inline(__always)
    func record(_ value: Double) { counts.record(value) }

    /// Counts a duration given in nanoseconds, in seconds (the unit of the latency histogram's bounds).
    @inline(__always)
    func recordNanoseconds(_ nanoseconds: Int64) { counts.record(Double(nanoseconds) / 1e9) }

    /// Appends the histogram in the Prometheus text exposition format.
    func emit(into buffer: inout [UInt8]) {
        let (buckets, count, sum) = counts.snapshot
        let help = self.help.split(separator: "\\", omittingEmptySubsequences: false).joined(separator: "\\\\")
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (bound, cumulative) in zip(counts.upperBounds, buckets) { text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n" }
        text += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(sum)\n\(name)_count \(count)\n"
        buffer.append(contentsOf: text.utf8)
    }
}
