import Testing
@testable import VigilDaemon

@Suite("Dashboard score bins")
struct LiveScoreBinsTests {
    /// Combined scores fall into 20 equal-width bins over 0 ... 1, each bin holding its lower edge; 1 and above
    /// in the last, below 0 in the first; NaN and infinities not at all.
    @Test func scoresFallIntoEqualWidthBins() {
        let live = LiveStatistics()
        for score in [0, 0.049, 0.05, 0.5, 0.97, 1, 1.3, -0.2, .nan, .infinity] { live.record(score: score) }
        var expected = Array(repeating: 0, count: LiveStatistics.scoreBuckets)
        expected[0] = 3  // 0, 0.049, -0.2
        expected[1] = 1  // 0.05
        expected[10] = 1  // 0.5
        expected[19] = 3  // 0.97, 1, 1.3
        #expect(live.scoreCounts == expected)
    }
}
