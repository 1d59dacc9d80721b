// Public: the prefetch below is inlined into other modules' loops (a call per prefetch was a tenth of the random
// cut forest walk's samples).
public import CPrefetch

/// Starts loading the cache line holding `address` into the caches, for a read soon: a hint, which never
/// faults, whatever the address.
@inlinable
public func prefetchCacheLine(_ address: UnsafeRawPointer) {
    vigil_prefetch(address)
}

extension Array {
    /// Starts loading the cache lines of elements `start ..< start + count` (clamped to the array): a hint,
    /// harmless when the elements are never read. For state about to be read at a known place, one or two
    /// events ahead (see `FeatureEngine.prefetchState(for:)`). Inlinable, so it is specialized for the
    /// caller's element type.
    @inlinable
    public func prefetch(_ start: Int, count: Int = 1) {
        guard start >= 0, start < self.count, count > 0 else { return }
        withUnsafeBufferPointer { buffer in
            let bytes = Swift.min(count, self.count - start) * MemoryLayout<Element>.stride
            prefetchRegion(UnsafeRawPointer(buffer.baseAddress! + start), bytes: bytes)
        }
    }
}

/// Starts loading a region of `bytes` bytes from `first`: its first two cache lines and its last (for one
/// element, the one or two lines it touches). A read running through the region has the hardware prefetcher
/// follow on from there, and a prefetch for every line ran out of the core's fill buffers.
@inlinable
public func prefetchRegion(_ first: UnsafeRawPointer, bytes: Int) {
    prefetchCacheLine(first)
    if bytes > 128 { prefetchCacheLine(first + 64) }
    prefetchCacheLine(first + (bytes - 1))
}
