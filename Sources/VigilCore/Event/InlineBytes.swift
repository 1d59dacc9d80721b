#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Up to 64 bytes stored inline (an event id).
public struct EventID: Sendable, Hashable, CustomStringConvertible {
    public var storage: InlineArray<64, UInt8>
    public var count: UInt8

    public init() {
        storage = InlineArray(repeating: 0)
        count = 0
    }

    /// Copies `bytes`; nil when longer than `EventLimits.idBytes`.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= EventLimits.idBytes else { return nil }
        self.init()
        if !bytes.isEmpty { withUnsafeMutableBytes(of: &storage) { $0.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) } }
        count = UInt8(bytes.count)
    }

    public init?(_ string: String) {
        var utf8 = Array(string.utf8)
        guard let id = utf8.withUnsafeMutableBytes({ EventID(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = id
    }

    /// Calls `body` with the id's bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(count)))) }
    }

    public var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }
    public var description: String { string }

    public static func == (lhs: EventID, rhs: EventID) -> Bool {
        lhs.count == rhs.count && lhs.withBytes { a in rhs.withBytes { b in a.elementsEqual(b) } }
    }

    public func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }
}

/// An entity key (card id, merchant id...) stored inline with its 64-bit hash.
public struct EntityKey: Sendable, Hashable, CustomStringConvertible, BitwiseCopyable {
    public var storage: InlineArray<48, UInt8>
    public var count: UInt8
    /// FNV-1a hash of the bytes (the same as a categorical value with this text): routes events to workers
    /// and indexes state tables.
    public var hash: UInt64

    public init() {
        storage = InlineArray(repeating: 0)
        count = 0
        hash = 0
    }

    /// Copies `bytes`; nil when longer than `EventLimits.keyBytes`.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= EventLimits.keyBytes else { return nil }
        self.init()
        if !bytes.isEmpty { withUnsafeMutableBytes(of: &storage) { $0.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) } }
        count = UInt8(bytes.count)
        hash = FNV1a.hash(bytes)
    }

    public init?(_ string: String) {
        var utf8 = Array(string.utf8)
        guard let key = utf8.withUnsafeMutableBytes({ EntityKey(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = key
    }

    /// True for a key that was present in the event.
    public var isPresent: Bool { count > 0 }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(count)))) }
    }

    public var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }
    public var description: String { string }

    /// Equal bytes (hash and count first). The bytes are compared eight at a time, the last word masked to the
    /// key's length, instead of through `memcmp`: keys are short and every table lookup compares one, where the
    /// call and its size dispatch cost more than the comparison.
    public static func == (lhs: EntityKey, rhs: EntityKey) -> Bool {
        guard lhs.hash == rhs.hash, lhs.count == rhs.count else { return false }
        return withUnsafeBytes(of: lhs.storage) { a in
            withUnsafeBytes(of: rhs.storage) { b in
                var remaining = Int(lhs.count)
                var offset = 0
                // A word that starts before the end lies within the 48 bytes of storage: the count is at most 48.
                while remaining > 0 {
                    let difference = a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    let mask: UInt64 = remaining >= 8 ? ~0 : (1 &<< UInt64(remaining * 8)) &- 1
                    if difference & mask.littleEndian != 0 { return false }
                    remaining -= 8
                    offset += 8
                }
                return true
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }
}

extension EventID {
    /// Sets the id to `bytes` (at most `EventLimits.idBytes`) where it lies, zeros after them: the value
    /// `EventID(bytes)` makes, without building one and copying its 65 bytes in, and without a `memcpy` call.
    @inline(__always)
    public mutating func assign(_ bytes: UnsafeRawBufferPointer) {
        count = store(bytes, in: &storage)
    }
}

extension EntityKey {
    /// Sets the key to `bytes` (at most `EventLimits.keyBytes`) where it lies, zeros after them: the value
    /// `EntityKey(bytes)` makes, without building one and copying its 64 bytes in, and without a `memcpy` call.
    @inline(__always)
    public mutating func assign(_ bytes: UnsafeRawBufferPointer) {
        count = store(bytes, in: &storage)
        hash = FNV1a.hash(bytes)
    }
}

/// Puts `bytes` (at most `n`) at the start of `storage`, zeros after them; returns their count.
@inline(__always)
private func store<let n: Int>(_ bytes: UnsafeRawBufferPointer, in storage: inout InlineArray<n, UInt8>) -> UInt8 {
    precondition(bytes.count <= n)
    storage = InlineArray(repeating: 0)
    withUnsafeMutableBytes(of: &storage) { copyShort(bytes, to: $0.baseAddress!) }
    return UInt8(truncatingIfNeeded: bytes.count)
}

/// Copies a few dozen bytes as whole words, reading and writing only within `source.count` bytes: ids and keys
/// are short, and a `memcpy` call with its size dispatch cost more than the copy.
@inline(__always)
private func copyShort(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
    let n = source.count
    guard let from = source.baseAddress, n > 0 else { return }
    if n >= 8 {
        var offset = 0
        while offset &+ 8 < n {
            destination.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: UInt64.self), toByteOffset: offset, as: UInt64.self)
            offset &+= 8
        }
        // The last word ends at the last byte (overlapping the one before when n is not a multiple of 8).
        destination.storeBytes(of: from.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self), toByteOffset: n &- 8, as: UInt64.self)
    } else if n >= 4 {
        destination.storeBytes(of: from.loadUnaligned(as: UInt32.self), as: UInt32.self)
        destination.storeBytes(of: from.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self), toByteOffset: n &- 4, as: UInt32.self)
    } else {
        for i in 0..<n { destination.storeBytes(of: from.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
    }
}
