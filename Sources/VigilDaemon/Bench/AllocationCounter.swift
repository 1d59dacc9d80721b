import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The heap allocation count kept by scripts/benchmarking/allocation_counter.c when the process runs with it
/// preloaded (`LD_PRELOAD`); absent otherwise. Counts every thread's malloc-family calls.
public struct AllocationCounter: Sendable {
    private typealias Count = @convention(c) () -> UInt64
    private typealias Trace = @convention(c) (Int32) -> Void
    private let read: Count
    private let trace: Trace?
    /// VIGIL_ALLOCATION_TRACE=1, read once here: reading the environment allocates, so not while counting.
    private let traceAsked: Bool

    /// Nil unless the counting allocator is preloaded.
    public init?() {
        // RTLD_DEFAULT (a null handle): search every loaded object, the preloaded one first.
        guard let symbol = dlsym(nil, "vigil_allocation_count") else { return nil }
        read = unsafeBitCast(symbol, to: Count.self)
        trace = dlsym(nil, "vigil_allocation_trace").map { unsafeBitCast($0, to: Trace.self) }
        traceAsked = ProcessInfo.processInfo.environment["VIGIL_ALLOCATION_TRACE"] == "1"
    }

    /// With VIGIL_ALLOCATION_TRACE=1 in the environment, has the counter print the call stacks of the next
    /// allocations to standard error (to find the ones that remain); otherwise does nothing.
    public func traceFromNowIfAsked() {
        guard traceAsked else { return }
        trace?(1)
    }

    /// Stops what `traceFromNowIfAsked()` started.
    public func stopTracing() { trace?(0) }

    /// Allocations so far, by every thread.
    public var count: UInt64 { read() }
}
