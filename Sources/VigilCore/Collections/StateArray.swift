internal import CStateMemory
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A growable array for per-key state: contiguous, copy-on-write like `Array`, but growing in place.
///
/// `Array` grows by allocating twice the room and copying every element over. For state tables of hundreds of
/// megabytes that copy (and the first touch of the new buffer) stalled the thread that owns them for up to
/// seconds, once per doubling, with the old and the new buffer both resident meanwhile. This array lives in
/// its own memory mapping, which grows by moving page tables (`mremap` on Linux): no element is copied
/// whatever the size, and only the elements appended are written. Small arrays (under 1 MiB) stay on the heap:
/// every mapping is a kernel memory area, of which a process gets 65,530 by default, and a daemon with many
/// partitions holds many small tables. Elements must be bitwise copyable (plain numbers and structs of them).
/// Transparent huge pages were tried and left out: stalls of 40-93 ms whenever a mapping moved, and no faster
/// first touch in the daemon (BENCHMARKS.md).
public struct StateArray<Element: BitwiseCopyable>: RandomAccessCollection, MutableCollection {
    @usableFromInline var storage: StateArrayStorage<Element>

    /// An empty array (no memory until the first append).
    public init() {
        storage = StateArrayStorage()
    }

    /// An array holding `elements`.
    public init(_ elements: some Sequence<Element>) {
        self.init()
        let copied: Void? = elements.withContiguousStorageIfAvailable { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            storage.reserve(buffer.count)
            storage.elements.initialize(from: base, count: buffer.count)
            storage.count = buffer.count
        }
        if copied == nil {
            for element in elements { append(element) }
        }
    }

    /// An array of `count` copies of `value`.
    public init(repeating value: Element, count: Int) {
        self.init()
        append(repeating: value, count: count)
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { storage.count }
    @inlinable public var count: Int { storage.count }

    @inlinable
    public subscript(position: Int) -> Element {
        @inline(__always) get {
            precondition(UInt(bitPattern: position) < UInt(bitPattern: storage.count), "StateArray index out of range")
            return storage.elements[position]
        }
        @inline(__always) _modify {
            precondition(UInt(bitPattern: position) < UInt(bitPattern: storage.count), "StateArray index out of range")
            makeUnique()
            yield &storage.elements[position]
        }
    }

    /// Appends one element.
    @inlinable
    public mutating func append(_ element: Element) {
        append(repeating: element, count: 1)
    }

    /// Appends `count` copies of `value`: the way a store makes room for new keys. Inlinable, as the other
    /// operations a store calls per event or per new key: called unspecialized from another module, every call
    /// looked up the storage class's generic metadata and copied each element through a value witness.
    @inlinable
    public mutating func append(repeating value: Element, count n: Int) {
        guard n > 0 else { return }
        makeUnique()
        storage.reserve(storage.count + n)
        (storage.elements + storage.count).initialize(repeating: value, count: n)
        storage.count += n
    }

    /// Reserves room for `capacity` elements without writing any: room never written is never resident, so a
    /// table whose elements are handed out one by one can reserve for all it may need and then grow without
    /// moving (or allocating) on the way.
    @inlinable
    public mutating func reserveCapacity(_ capacity: Int) {
        makeUnique()
        storage.reserve(capacity)
    }

    /// Appends a buffer's elements.
    @inlinable
    public mutating func append(contentsOf elements: UnsafeBufferPointer<Element>) {
        guard let base = elements.baseAddress, elements.count > 0 else { return }
        makeUnique()
        storage.reserve(storage.count + elements.count)
        (storage.elements + storage.count).initialize(from: base, count: elements.count)
        storage.count += elements.count
    }

    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeBufferPointer(start: storage.count == 0 ? nil : UnsafePointer(storage.elements), count: storage.count))
    }

    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(_ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.count == 0 ? nil : storage.elements, count: storage.count))
    }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }

    /// Starts loading the cache lines of elements `start ..< start + count` (clamped to the array): a hint, as
    /// `Array.prefetch(_:count:)`.
    @inlinable
    public func prefetch(_ start: Int, count: Int = 1) {
        guard start >= 0, start < storage.count, count > 0 else { return }
        let bytes = Swift.min(count, storage.count - start) * MemoryLayout<Element>.stride
        prefetchRegion(UnsafeRawPointer(storage.elements + start), bytes: bytes)
    }

    /// Bytes reserved for the elements (at least `count` elements' worth; resident only where written).
    public var reservedBytes: Int { storage.reservedBytes }

    /// True once the elements live in their own memory mapping (from 1 MiB up).
    public var isMapped: Bool { storage.isMapped }

    @inlinable @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }
}

extension StateArray: Sendable where Element: Sendable {}

extension StateArray: Equatable where Element: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.elementsEqual(rhs) }
}

/// The memory behind a `StateArray`: heap memory while small, then a mapping of its own.
///
/// `@unchecked Sendable`: it is written only through a `StateArray` that holds the only reference to it (every
/// mutation checks `isKnownUniquelyReferenced` first and copies otherwise), the same discipline as `Array`'s
/// buffer, so an instance two threads can reach is never written.
@usableFromInline
final class StateArrayStorage<Element: BitwiseCopyable>: @unchecked Sendable {
    static var pageSize: Int { 4096 }
    /// From this size up the elements live in a mapping of their own.
    static var mappingThreshold: Int { 1 << 20 }

    // Unchecked exclusivity: class properties are otherwise checked at run time on every access (a runtime call
    // per element read), and `StateArray` already guarantees exclusive writes by copy-on-write.
    @exclusivity(unchecked) @usableFromInline var elements: UnsafeMutablePointer<Element>
    @exclusivity(unchecked) @usableFromInline var count = 0
    @exclusivity(unchecked) private(set) var reservedBytes = 0
    @exclusivity(unchecked) private(set) var isMapped = false

    init() {
        // No memory yet: a dangling but aligned pointer, never read (count is 0).
        elements = UnsafeMutablePointer(bitPattern: MemoryLayout<Element>.alignment)!
    }

    deinit {
        guard reservedBytes > 0 else { return }
        if isMapped {
            vigil_state_unmap(UnsafeMutableRawPointer(elements), reservedBytes)
        } else {
            free(UnsafeMutableRawPointer(elements))
        }
    }

    /// Makes room for `capacity` elements: the room at least doubles, so moves stay rare. On the heap a move
    /// may copy (under 1 MiB); the move to a mapping copies once; a mapping grows without copying.
    @usableFromInline
    func reserve(_ capacity: Int) {
        let needed = capacity * MemoryLayout<Element>.stride
        guard needed > reservedBytes else { return }
        var bytes = Swift.max(needed, reservedBytes * 2)
        let old: UnsafeMutableRawPointer? = reservedBytes == 0 ? nil : UnsafeMutableRawPointer(elements)
        let address: UnsafeMutableRawPointer?
        if bytes < Self.mappingThreshold {
            address = realloc(old, bytes)
        } else {
            bytes = (bytes + Self.pageSize - 1) / Self.pageSize * Self.pageSize
            if isMapped, let old {
                address = vigil_state_remap(old, reservedBytes, bytes)
            } else {
                address = vigil_state_map(bytes)
                if let address, let old {
                    address.copyMemory(from: old, byteCount: count * MemoryLayout<Element>.stride)
                    free(old)
                }
            }
        }
        guard let address else { fatalError("out of memory: cannot reserve \(bytes) bytes of key state") }
        isMapped = bytes >= Self.mappingThreshold
        elements = address.bindMemory(to: Element.self, capacity: bytes / MemoryLayout<Element>.stride)
        reservedBytes = bytes
    }

    /// A separate copy of the elements (copy-on-write).
    @usableFromInline
    func copy() -> StateArrayStorage {
        let other = StateArrayStorage()
        other.reserve(count)
        if count > 0 { other.elements.initialize(from: elements, count: count) }
        other.count = count
        return other
    }
}
