/// The feature values of one event, by feature index (NaN where undefined). Fixed size, so it crosses rings
/// by copy; configs are limited to this many features.
public typealias FeatureVector = InlineArray<64, Double>

extension InlineArray where Element == Double {
    /// A vector of NaNs.
    public static var undefined: Self { Self(repeating: .nan) }
}

extension InlineArray where Element == Double {
    /// Calls `body` with the elements as a mutable buffer (an inline array's elements are contiguous).
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Double>) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &self) { raw in try body(raw.bindMemory(to: Double.self)) }
    }

    /// Calls `body` with the elements as a buffer.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Double>) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self) { raw in try body(raw.bindMemory(to: Double.self)) }
    }
}
