public import Atomics

/// Counts of values in fixed buckets, recorded by one thread without a lock and read by any (a metrics scrape):
/// a value is counted in its own bucket with a relaxed load and store, no read-modify-write, so recording costs a
/// few loads and stores on the event path. `snapshot` sums the buckets into the cumulative counts Prometheus
/// exposes.
///
/// `@unchecked Sendable`: `storage` is only read and written through `UnsafeAtomic` (relaxed), by one recording
/// thread at a time and any number of readers; it is freed in `deinit`, when no thread can hold the histogram.
public final class SingleWriterHistogram: @unchecked Sendable {
    /// The buckets' upper bounds, increasing; one more bucket takes the values above the last.
    public let upperBounds: [Double]
    /// `upperBounds.count + 1` counts (each bucket's own values, not cumulative), then the bits of the sum.
    @usableFromInline let storage: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>

    public init(upperBounds: [Double]) {
        precondition(zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must increase")
        self.upperBounds = upperBounds
        storage = .allocate(capacity: upperBounds.count + 2)
        storage.initialize(repeating: UnsafeAtomic<Int>.Storage(0), count: upperBounds.count + 2)
    }

    deinit {
        storage.deinitialize(count: upperBounds.count + 2)
        storage.deallocate()
    }

    @inlinable @inline(__always)
    func slot(_ i: Int) -> UnsafeAtomic<Int> { UnsafeAtomic(at: storage + i) }

    /// Counts `value` in the first bucket whose bound is at or above it (NaN is not counted). One thread at a
    /// time: the count and the sum are loaded and stored, so two threads recording at once could lose values.
    /// Inlinable: called per event, where a call also retained the histogram.
    @inlinable @inline(__always)
    public func record(_ value: Double) {
        guard !value.isNaN else { return }
        var bucket = 0
        while bucket < upperBounds.count, value > upperBounds[bucket] { bucket += 1 }
        record(value, inBucket: bucket)
    }

    /// Counts `value` in `bucket` (0 ... `upperBounds.count`), which the caller found: for equal-width buckets
    /// a multiplication finds it where `record(_:)` compares the value with each bound. The bucket is taken as
    /// given, so `snapshot`'s cumulative counts describe values at or below each bound only when the caller's rule
    /// agrees with `record(_:)`'s (a value on a bound); `bucketCounts` is what the caller put. One thread at a time.
    @inlinable @inline(__always)
    public func record(_ value: Double, inBucket bucket: Int) {
        precondition(bucket >= 0 && bucket <= upperBounds.count, "no such bucket")
        let count = slot(bucket)
        count.store(count.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let sum = slot(upperBounds.count + 1)
        let total = Double(bitPattern: UInt64(UInt(bitPattern: sum.load(ordering: .relaxed)))) + value
        sum.store(Int(bitPattern: UInt(total.bitPattern)), ordering: .relaxed)
    }

    /// Per bucket the values counted in it (not cumulative; the last bucket's are those above every bound).
    public var bucketCounts: [Int] {
        (0...upperBounds.count).map { slot($0).load(ordering: .relaxed) }
    }

    /// Per bucket the values at or below its bound (cumulative; the last entry, for +Inf, is every value), the
    /// count of all values and their sum. Read while values are recorded, each figure is exact at a slightly
    /// different moment; the buckets never decrease from one snapshot to the next.
    public var snapshot: (buckets: [Int], count: Int, sum: Double) {
        var cumulative = 0
        var buckets: [Int] = []
        buckets.reserveCapacity(upperBounds.count + 1)
        for i in 0...upperBounds.count {
            cumulative += slot(i).load(ordering: .relaxed)
            buckets.append(cumulative)
        }
        let sum = Double(bitPattern: UInt64(UInt(bitPattern: slot(upperBounds.count + 1).load(ordering: .relaxed))))
        return (buckets, cumulative, sum)
    }
}
