#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Debug-build check that a ring end is used from a single thread: the first thread to use it owns it.
/// Compiled to nothing in release builds.
@usableFromInline
struct ThreadOwnership {
    @usableFromInline
    init() {}

    #if DEBUG
    private let owner = OwnerBox()

    private final class OwnerBox {
        var thread: pthread_t?
    }

    @usableFromInline
    func check() {
        let current = pthread_self()
        if let thread = owner.thread {
            assert(pthread_equal(thread, current) != 0, "a ring end was used from two threads")
        } else {
            owner.thread = current
        }
    }
    #else
    @inlinable
    func check() {}
    #endif
}
