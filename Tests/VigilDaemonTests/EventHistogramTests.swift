import Testing

@testable import VigilDaemon

@Suite("Event histograms")
struct EventHistogramTests {
    /// The exposition Prometheus reads: help and type lines, cumulative buckets with their bounds, +Inf, sum and
    /// count; latencies recorded in nanoseconds count in seconds.
    @Test func rendersThePrometheusTextFormat() {
        let histogram = EventHistogram(name: "vigil_test_seconds", help: #"A test \ histogram"#, upperBounds: [0.001, 0.01])
        for nanoseconds: Int64 in [500_000, 1_000_000, 2_000_000, 20_000_000] { histogram.recordNanoseconds(nanoseconds) }
        var buffer: [UInt8] = []
        histogram.emit(into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == """
            # HELP vigil_test_seconds A test \\\\ histogram
            # TYPE vigil_test_seconds histogram
            vigil_test_seconds_bucket{le="0.001"} 2
            vigil_test_seconds_bucket{le="0.01"} 3
            vigil_test_seconds_bucket{le="+Inf"} 4
            vigil_test_seconds_sum 0.0235
            vigil_test_seconds_count 4

            """)
    }
}
