import Foundation
import Synchronization
import VigilCore

/// A dedicated thread that calls `body` in a loop until stopped, so blocking librdkafka polls never run on
/// Swift's cooperative pool.
final class KafkaPollThread: Sendable {
    /// Shared with the thread, which must not keep the owner alive.
    private final class State: Sendable {
        let running = Atomic<Bool>(true)
        let finished = DispatchSemaphore(value: 0)
    }

    private let state = State()

    /// Starts the thread (`name`: what the OS shows, so at most 15 bytes); `body` should block for a bounded
    /// time (a poll with a timeout) and return.
    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [state] in
            CurrentThread.setName(name)
            while state.running.load(ordering: .acquiring) {
                body()
            }
            state.finished.signal()
        }
        thread.start()
    }

    /// Stops the loop after the current `body` call returns and waits for the thread to end. Idempotent.
    func stop() {
        if state.running.exchange(false, ordering: .acquiringAndReleasing) {
            state.finished.wait()
        }
    }

    deinit {
        stop()
    }
}

extension Duration {
    /// The duration as librdkafka's `int timeout_ms`, clamped to its range.
    var timeoutMilliseconds: Int32 {
        Int32(clamping: max(0, wholeMilliseconds))
    }
}
