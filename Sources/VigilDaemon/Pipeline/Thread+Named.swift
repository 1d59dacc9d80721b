import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Thread {
    /// Starts a thread that runs `body` under `name`, the name `top -H` and `perf report --sort comm` show, cut
    /// to the 15 bytes Linux keeps (a longer one would not be applied at all).
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        let shown = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        Thread {
            nameCurrentThread(shown)
            body()
        }.start()
    }

    /// Names the calling thread. On Linux through /proc as well as Foundation: `Thread.current.name` reaches the
    /// OS only once `start()` has recorded the new thread's handle, a race the thread loses now and then (a worker
    /// kept the process's name for its whole life in a `perf record` of `vigil bench kafka`); a name set before
    /// `start()` is not applied at all.
    private static func nameCurrentThread(_ name: String) {
        #if os(Linux)
        if let file = fopen("/proc/thread-self/comm", "w") {
            fputs(name, file)
            fclose(file)
        }
        #endif
        Thread.current.name = name
    }
}
