#if canImport(Glibc)
import Glibc
#endif

/// The heap allocation count kept by scripts/benchmarking/allocation_counter.c when the process runs with it
/// preloaded (`LD_PRELOAD`); absent otherwise. Counts every thread's malloc-family calls.
public struct AllocationCounter: Sendable {
    private typealias Count = @convention(c) () -> UInt64
    private let read: Count

    /// Nil unless the counting allocator is preloaded.
    public init?() {
        // RTLD_DEFAULT (a null handle): search every loaded object, the preloaded one first.
        guard let symbol = dlsym(nil, "vigil_allocation_count") else { return nil }
        read = unsafeBitCast(symbol, to: Count.self)
    }

    /// Allocations so far, by every thread.
    public var count: UInt64 { read() }
}
