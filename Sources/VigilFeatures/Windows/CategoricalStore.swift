import VigilCore

/// Values of one categorical field seen per key within a sliding window: answers "first seen in the window?"
/// and "how many distinct values?".
///
/// Each key keeps up to `exactCapacity` (value hash, last seen) pairs, which makes both answers exact. When a
/// key has more distinct values in the window than that, it switches to HyperLogLog for the distinct count
/// (which then counts values since the switch, no longer windowed) and, for first-seen, keeps the most
/// recently seen values.
///
/// The sketch's registers exist only where they are read: not at all in a store no distinct count reads
/// (`countsDistinct` false), and otherwise only for the keys that switched, in blocks handed out on the switch
/// (a slot keeps its block when its key is replaced, so the table never shrinks or allocates per event).
public struct CategoricalStore: Sendable {
    public let sizeMs: Int64
    public let field: Int
    public let exactCapacity: Int
    /// Whether a distinct count reads this store (otherwise only first-seen does, and it keeps no sketch).
    public let countsDistinct: Bool
    public static let precision = 7
    static let registerCount = 1 << precision
    var hashes = StateArray<UInt64>()
    var lastSeen = StateArray<Int64>()
    var overflowed = StateArray<Bool>()
    /// Per slot, its block of sketch registers (`registerCount` of them in `registers`), or -1.
    var sketches = StateArray<Int32>()
    var registers = StateArray<UInt8>()

    public init(sizeMs: Int64, field: Int, exactCapacity: Int, countsDistinct: Bool = true) {
        self.sizeMs = sizeMs
        self.field = field
        self.exactCapacity = max(1, exactCapacity)
        self.countsDistinct = countsDistinct
    }

    public mutating func ensure(slots: Int) {
        guard overflowed.count < slots else { return }
        let grown = slots - overflowed.count
        hashes.append(repeating: 0, count: grown * exactCapacity)
        lastSeen.append(repeating: .min, count: grown * exactCapacity)
        overflowed.append(repeating: false, count: grown)
        if countsDistinct {
            sketches.append(repeating: -1, count: grown)
            // Room for every slot's block, reserved as the slots grow (never resident until a key switches):
            // handing a block out then allocates nothing, which growing the table one block at a time did.
            registers.reserveCapacity(slots * Self.registerCount)
        }
    }

    public mutating func reset(slot: Int) {
        let (start, count) = (slot * exactCapacity, exactCapacity)
        hashes.withUnsafeMutableBufferPointer { UnsafeMutableBufferPointer(rebasing: $0[start..<start + count]).update(repeating: 0) }
        lastSeen.withUnsafeMutableBufferPointer { UnsafeMutableBufferPointer(rebasing: $0[start..<start + count]).update(repeating: .min) }
        if overflowed[slot] {
            overflowed[slot] = false
            if countsDistinct, sketches[slot] >= 0 {
                let base = Int(sketches[slot]) * Self.registerCount
                for i in base..<base + Self.registerCount { registers[i] = 0 }
            }
        }
    }

    /// Where the slot's registers start, giving it a block (zeroed) if it has none.
    private mutating func sketchBase(slot: Int) -> Int {
        if sketches[slot] < 0 {
            sketches[slot] = Int32(registers.count / Self.registerCount)
            registers.append(repeating: 0, count: Self.registerCount)
        }
        return Int(sketches[slot]) * Self.registerCount
    }

    /// Whether `hash` was seen in `(t - size, t)` for this key. A missing value (hash 0) is never "first seen".
    public func wasSeen(slot: Int, hash: UInt64, atMs t: Int64) -> Bool {
        guard hash != 0 else { return true }
        return withExactSet(slot: slot) { hashes, lastSeen in
            for i in hashes.indices where hashes[i] == hash { return lastSeen[i] > t &- sizeMs && lastSeen[i] <= t }
            return false
        }
    }

    /// Calls `body` with a slot's exact set: its value hashes and last-seen times, `exactCapacity` of each. The
    /// scans of a set read it through these (one range check for the set, where a checked read per element
    /// reloaded the arrays' storage every time).
    @inline(__always)
    private func withExactSet<R>(slot: Int, _ body: (UnsafeBufferPointer<UInt64>, UnsafeBufferPointer<Int64>) -> R) -> R {
        let (start, count) = (slot * exactCapacity, exactCapacity)
        precondition(slot >= 0 && start + count <= hashes.count && start + count <= lastSeen.count, "slot out of range")
        return hashes.withUnsafeBufferPointer { hashes in
            lastSeen.withUnsafeBufferPointer { lastSeen in
                body(UnsafeBufferPointer(rebasing: hashes[start..<start + count]), UnsafeBufferPointer(rebasing: lastSeen[start..<start + count]))
            }
        }
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
        // The value's place in the set if it is there; else the first place free or expired, and the oldest.
        let (found, firstFree, oldestPlace) = withExactSet(slot: slot) { hashes, lastSeen in
            var (free, oldest) = (-1, 0)
            for i in hashes.indices {
                if hashes[i] == hash { return (i, free, oldest) }
                if free < 0, hashes[i] == 0 || lastSeen[i] <= t &- sizeMs { free = i }
                if lastSeen[i] < lastSeen[oldest] { oldest = i }
            }
            return (-1, free, oldest)
        }
        if found >= 0 {
            if t > lastSeen[base + found] { lastSeen[base + found] = t }
            if countsDistinct, overflowed[slot] {
                HyperLogLog.add(hash, precision: Self.precision, registers: &registers, base: sketchBase(slot: slot))
            }
            return
        }
        var free = firstFree < 0 ? -1 : base + firstFree
        let oldest = base + oldestPlace
        if free < 0 {
            // More distinct values in the window than kept exactly: fall back to HyperLogLog for the count.
            if !overflowed[slot] {
                overflowed[slot] = true
                if countsDistinct {
                    let sketch = sketchBase(slot: slot)
                    for i in base..<base + exactCapacity where hashes[i] != 0 {
                        HyperLogLog.add(hashes[i], precision: Self.precision, registers: &registers, base: sketch)
                    }
                }
            }
            free = oldest
        }
        hashes[free] = hash
        lastSeen[free] = t
        if countsDistinct, overflowed[slot] {
            HyperLogLog.add(hash, precision: Self.precision, registers: &registers, base: sketchBase(slot: slot))
        }
    }

    /// Distinct values in `(t - size, t]`: exact until the key overflowed, then a HyperLogLog estimate.
    public func distinct(slot: Int, atMs t: Int64) -> Double {
        if overflowed[slot], countsDistinct, sketches[slot] >= 0 {
            return HyperLogLog.estimate(precision: Self.precision, registers: registers, base: Int(sketches[slot]) * Self.registerCount).rounded()
        }
        return withExactSet(slot: slot) { hashes, lastSeen in
            var n = 0
            for i in hashes.indices where hashes[i] != 0 && lastSeen[i] > t &- sizeMs && lastSeen[i] <= t { n += 1 }
            return Double(n)
        }
    }

    /// Without the sketches of keys past `exactCapacity` values (`registerCount` bytes each, where counted).
    public var bytesPerKey: Int { exactCapacity * 16 + 1 + (countsDistinct ? 4 : 0) }
}
