import Foundation
import Synchronization
import Testing
import VigilCore

@Suite("Single-writer histogram")
struct SingleWriterHistogramTests {
    /// A value is counted in the first bucket whose bound is at or above it; above every bound, in the last;
    /// NaN not at all. The snapshot's buckets are cumulative, as Prometheus exposes them.
    @Test func valuesLandInTheirBucketsAndAddUp() {
        let histogram = SingleWriterHistogram(upperBounds: [1, 2.5, 10])
        for value in [0.5, 1, 1.5, 2.5, 3, 10, 11, 1_000, -4, .nan] { histogram.record(value) }
        let snapshot = histogram.snapshot
        #expect(snapshot.buckets == [3, 5, 7, 9], "<= 1: 0.5, 1, -4; <= 2.5: 1.5, 2.5; <= 10: 3, 10; above: 11, 1000")
        #expect(snapshot.count == 9)
        let expectedSum: Double = [0.5, 1, 1.5, 2.5, 3, 10, 11, 1_000, -4].reduce(0, +)
        #expect(snapshot.sum == expectedSum)
    }

    /// A caller that finds the bucket itself (equal widths) counts there, and the per-bucket counts are the
    /// cumulative snapshot's differences.
    @Test func valuesCountedInTheBucketTheCallerChose() {
        let histogram = SingleWriterHistogram(upperBounds: [0.5])
        histogram.record(0.5, inBucket: 1)
        histogram.record(0.2, inBucket: 0)
        histogram.record(0.9, inBucket: 1)
        #expect(histogram.bucketCounts == [1, 2])
        #expect(histogram.snapshot.buckets == [1, 3])
        #expect(histogram.snapshot.sum == 1.6)
    }

    /// One thread records while another reads snapshots: every snapshot is consistent (buckets cumulative, never
    /// below an earlier snapshot's) and the last one holds every value. Run under the thread sanitizer by
    /// scripts/test (relaxed atomics only, no data race).
    @Test func aReaderSeesCountsOnlyGrowWhileOneThreadRecords() {
        let histogram = SingleWriterHistogram(upperBounds: [0.25, 0.5, 0.75])
        let values = 200_000
        let done = Atomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            for i in 0..<values { histogram.record(Double(i % 100) / 100) }
            done.store(true, ordering: .releasing)
            finished.signal()
        }.start()
        var previous = [0, 0, 0, 0]
        var (snapshots, regressions) = (0, 0)
        while !done.load(ordering: .acquiring) {
            let buckets = histogram.snapshot.buckets
            let shrank = zip(buckets, previous).contains { pair in pair.0 < pair.1 }
            let notCumulative = zip(buckets, buckets.dropFirst()).contains { pair in pair.0 > pair.1 }
            if shrank || notCumulative { regressions += 1 }
            previous = buckets
            snapshots += 1
        }
        finished.wait()
        let final = histogram.snapshot
        #expect(regressions == 0)
        #expect(snapshots > 0)
        let expectedBuckets: [Int] = [26 * values / 100, 51 * values / 100, 76 * values / 100, values]
        var expectedSum = 0.0
        for i in 0..<values { expectedSum += Double(i % 100) / 100 }
        #expect(final.buckets == expectedBuckets)
        #expect(final.count == values)
        #expect(final.sum == expectedSum)
    }
}
