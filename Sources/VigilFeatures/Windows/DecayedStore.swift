import Foundation
import VigilCore

/// Exponentially decayed count, sum, mean and variance of one numeric field (or of events), per key.
///
/// Every past event keeps a weight `2^(-age / halfLife)`; the state is four numbers per key whatever the
/// history, updated in O(1) (a weighted Welford update after decaying the previous weight).
public struct DecayedStore: Sendable {
    public let halfLifeMs: Int64
    public let field: Int?
    var lastTimes = StateArray<Int64>()
    var weights = StateArray<Double>()
    var means = StateArray<Double>()
    var m2s = StateArray<Double>()

    public init(halfLifeMs: Int64, field: Int?) {
        self.halfLifeMs = max(1, halfLifeMs)
        self.field = field
    }

    public mutating func ensure(slots: Int) {
        guard lastTimes.count < slots else { return }
        let grown = slots - lastTimes.count
        lastTimes.append(repeating: .min, count: grown)
        weights.append(repeating: 0, count: grown)
        means.append(repeating: 0, count: grown)
        m2s.append(repeating: 0, count: grown)
    }

    public mutating func reset(slot: Int) {
        lastTimes[slot] = .min
        weights[slot] = 0
        means[slot] = 0
        m2s[slot] = 0
    }

    @inline(__always)
    private func decay(_ ageMs: Int64) -> Double {
        exp2(-Double(ageMs) / Double(halfLifeMs))
    }

    /// Starts loading a slot's state (see `EntityFeatureState.prefetchState`).
    mutating func prefetch(slot: Int) {
        lastTimes.prefetch(slot)
        weights.prefetch(slot)
        means.prefetch(slot)
        m2s.prefetch(slot)
    }

    public mutating func add(slot: Int, timeMs: Int64, numeric: InlineArray<16, Double>) {
        var value = 0.0
        if let field {
            value = numeric[field]
            if value.isNaN { return }
        }
        var weightOfNew = 1.0
        if lastTimes[slot] == .min {
            lastTimes[slot] = timeMs
        } else if timeMs >= lastTimes[slot] {
            let d = decay(timeMs - lastTimes[slot])
            weights[slot] *= d
            m2s[slot] *= d
            lastTimes[slot] = timeMs
        } else {
            // An out-of-order event joins with the weight it would have now.
            weightOfNew = decay(lastTimes[slot] - timeMs)
        }
        let total = weights[slot] + weightOfNew
        let delta = value - means[slot]
        means[slot] += weightOfNew * delta / total
        m2s[slot] += weightOfNew * delta * (value - means[slot])
        weights[slot] = total
    }

    /// The decayed statistics as of `t` (never later than the last event: no look-ahead decay is applied
    /// backwards).
    public func stats(slot: Int, atMs t: Int64) -> WindowStats {
        var stats = WindowStats()
        guard lastTimes[slot] != .min, weights[slot] > 0 else { return stats }
        let d = t > lastTimes[slot] ? decay(t - lastTimes[slot]) : 1
        stats.count = weights[slot] * d
        stats.mean = means[slot]
        stats.m2 = m2s[slot] * d
        return stats
    }

    public var bytesPerKey: Int { 32 }
}
