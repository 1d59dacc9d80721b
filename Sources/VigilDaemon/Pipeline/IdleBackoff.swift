#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a pipeline thread waits when it has nothing to do: a few yields, then sleeps that double up to a
/// ceiling, so idle threads leave the cores to busy ones and a busy stream costs no sleeping at all.
struct IdleBackoff {
    private var rounds = 0
    private let maximumMicroseconds: UInt32

    init(maximumMicroseconds: UInt32 = 500) {
        self.maximumMicroseconds = maximumMicroseconds
    }

    mutating func reset() { rounds = 0 }

    mutating func idle() {
        rounds += 1
        if rounds < 4 {
            sched_yield()
        } else {
            usleep(min(maximumMicroseconds, UInt32(10 << min(rounds - 4, 6))))
        }
    }
}
