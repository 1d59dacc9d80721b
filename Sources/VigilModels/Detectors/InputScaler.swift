public import VigilCore

/// Maps a detector's inputs to [0, 1] by per-input ranges, given in the config or learned from the first
/// `warmup` events (their minimum and maximum widened by `margin` of the span on each side). Values outside
/// the range are clamped; NaN (a missing value) maps to 0.5, the middle, so it neither stands out nor hides.
public struct InputScaler: Sendable, Equatable {
    public private(set) var low: [Double]
    public private(set) var high: [Double]
    public let warmup: Int
    public let margin: Double
    /// Events seen while learning; ranges are fixed once it reaches `warmup`.
    public private(set) var learned = 0
    private let fixed: Bool

    /// Ranges from the config: every input has one.
    public init(ranges: [ClosedRange<Double>]) {
        low = ranges.map(\.lowerBound)
        high = ranges.map(\.upperBound)
        warmup = 0
        margin = 0
        fixed = true
    }

    /// Ranges learned from the first `warmup` events.
    public init(dimensions: Int, warmup: Int, margin: Double = 0.1) {
        low = Array(repeating: .infinity, count: dimensions)
        high = Array(repeating: -.infinity, count: dimensions)
        self.warmup = warmup
        self.margin = margin
        fixed = false
    }

    /// True once ranges are known.
    public var isReady: Bool { fixed || learned >= warmup }

    /// Learns from `x` while warming up; afterwards does nothing.
    public mutating func observe(_ x: UnsafeBufferPointer<Double>) {
        guard !isReady else { return }
        for i in low.indices where !x[i].isNaN {
            if x[i] < low[i] { low[i] = x[i] }
            if x[i] > high[i] { high[i] = x[i] }
        }
        learned += 1
        if learned >= warmup {
            for i in low.indices {
                if !low[i].isFinite || !high[i].isFinite {
                    low[i] = 0
                    high[i] = 1
                }
                let span = Swift.max(high[i] - low[i], 1e-9)
                low[i] -= margin * span
                high[i] += margin * span
            }
        }
    }

    /// Scales `x` into `output` without clamping: values beyond the learned range keep their distance (what
    /// distance-based models such as random cut forests need). NaN maps to 0.5.
    public func scaleUnclamped(_ x: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        for i in low.indices {
            let v = x[i]
            let span = high[i] - low[i]
            output[i] = v.isNaN || span <= 0 ? 0.5 : (v - low[i]) / span
        }
    }

    /// Observes `x` (`observe`), then, once the ranges are known, scales it into `output` (`scale`); returns whether
    /// it did. One call on the scaler where it lies: the scaler held in another value (a detector's entry in an
    /// array) was copied, its arrays retained, for each of `isReady` and `scale`.
    public mutating func observeAndScale(_ x: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) -> Bool {
        observe(x)
        guard isReady else { return false }
        scale(x, into: output)
        return true
    }

    /// Scales `x` into `output`.
    public func scale(_ x: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        for i in low.indices {
            let v = x[i]
            if v.isNaN {
                output[i] = 0.5
            } else {
                let span = high[i] - low[i]
                output[i] = span > 0 ? Swift.min(1, Swift.max(0, (v - low[i]) / span)) : 0.5
            }
        }
    }
}

extension InputScaler: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(low); w.write(high); w.write(warmup); w.write(margin); w.write(learned); w.write(fixed)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        low = try r.readDoubles(); high = try r.readDoubles(); warmup = try r.readInt(); margin = try r.readDouble()
        learned = try r.readInt(); fixed = try r.readBool()
        guard low.count == high.count else { throw StateError("input scaler: inconsistent ranges") }
    }
}
