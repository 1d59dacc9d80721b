import VigilCore

/// Values of one categorical field seen per key within a sliding window: answers "first seen in the window?"
/// and "how many distinct values?".
///
/// Each key keeps up to `exactCapacity` (value hash, last seen) pairs, which makes both answers exact. When a
/// key has more distinct values in the window than that, it switches to HyperLogLog for the distinct count
/// (which then counts values since the switch, no longer windowed) and, for first-seen, keeps the most
/// recently seen values.
public struct CategoricalStore: Sendable {
    public let sizeMs: Int64
    public let field: Int
    public let exactCapacity: Int
    public static let precision = 7
    static let registerCount = 1 << precision
    var hashes = StateArray<UInt64>()
    var lastSeen = StateArray<Int64>()
    var overflowed = StateArray<Bool>()
    var registers = StateArray<UInt8>()

    public init(sizeMs: Int64, field: Int, exactCapacity: Int) {
        self.sizeMs = sizeMs
        self.field = field
        self.exactCapacity = max(1, exactCapacity)
    }

    public mutating func ensure(slots: Int) {
        guard overflowed.count < slots else { return }
        let grown = slots - overflowed.count
        hashes.append(repeating: 0, count: grown * exactCapacity)
        lastSeen.append(repeating: .min, count: grown * exactCapacity)
        overflowed.append(repeating: false, count: grown)
        registers.append(repeating: 0, count: grown * Self.registerCount)
    }

    public mutating func reset(slot: Int) {
        for i in slot * exactCapacity..<(slot + 1) * exactCapacity {
            hashes[i] = 0
            lastSeen[i] = .min
        }
        if overflowed[slot] {
            overflowed[slot] = false
            for i in slot * Self.registerCount..<(slot + 1) * Self.registerCount { registers[i] = 0 }
        }
    }

    /// Whether `hash` was seen in `(t - size, t)` for this key. A missing value (hash 0) is never "first seen".
    public func wasSeen(slot: Int, hash: UInt64, atMs t: Int64) -> Bool {
        guard hash != 0 else { return true }
        for i in slot * exactCapacity..<(slot + 1) * exactCapacity where hashes[i] == hash {
            return lastSeen[i] > t &- sizeMs && lastSeen[i] <= t
        }
        return false
    }

    /// Starts loading a slot's exact set (see `EntityFeatureState.prefetchState`).
    mutating func prefetch(slot: Int) {
        overflowed.prefetch(slot)
        hashes.prefetch(slot * exactCapacity, count: exactCapacity)
        lastSeen.prefetch(slot * exactCapacity, count: exactCapacity)
    }

    /// Records that the key saw `hash` at `t`.
    public mutating func add(slot: Int, hash: UInt64, timeMs t: Int64) {
        guard hash != 0 else { return }
        let base = slot * exactCapacity
        var free = -1
        var oldest = base
        for i in base..<base + exactCapacity {
            if hashes[i] == hash {
                if t > lastSeen[i] { lastSeen[i] = t }
                if overflowed[slot] { HyperLogLog.add(hash, precision: Self.precision, registers: &registers, base: slot * Self.registerCount) }
                return
            }
            if free < 0, hashes[i] == 0 || lastSeen[i] <= t &- sizeMs { free = i }
            if lastSeen[i] < lastSeen[oldest] { oldest = i }
        }
        if free < 0 {
            // More distinct values in the window than kept exactly: fall back to HyperLogLog for the count.
            if !overflowed[slot] {
                overflowed[slot] = true
                for i in base..<base + exactCapacity where hashes[i] != 0 {
                    HyperLogLog.add(hashes[i], precision: Self.precision, registers: &registers, base: slot * Self.registerCount)
                }
            }
            free = oldest
        }
        hashes[free] = hash
        lastSeen[free] = t
        if overflowed[slot] { HyperLogLog.add(hash, precision: Self.precision, registers: &registers, base: slot * Self.registerCount) }
    }

    /// Distinct values in `(t - size, t]`: exact until the key overflowed, then a HyperLogLog estimate.
    public func distinct(slot: Int, atMs t: Int64) -> Double {
        if overflowed[slot] {
            return HyperLogLog.estimate(precision: Self.precision, registers: registers, base: slot * Self.registerCount).rounded()
        }
        var n = 0
        for i in slot * exactCapacity..<(slot + 1) * exactCapacity where hashes[i] != 0 && lastSeen[i] > t &- sizeMs && lastSeen[i] <= t {
            n += 1
        }
        return Double(n)
    }

    public var bytesPerKey: Int { exactCapacity * 16 + 1 + Self.registerCount }
}
