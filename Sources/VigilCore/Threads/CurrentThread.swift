#if canImport(Glibc)
import Glibc
#endif

/// The calling thread, as the operating system sees it.
public enum CurrentThread {
    /// Names the calling thread for the OS (`top -H`, `perf report --sort comm`), cut to the 15 bytes Linux keeps
    /// (a longer name would not be applied at all). Written to /proc by the thread itself, which always takes:
    /// Foundation's `Thread.current.name` reaches the OS only once `start()` has recorded the new thread's handle,
    /// a race the thread loses now and then (a worker kept the process's name for its whole life in a `perf record`
    /// of `vigil bench kafka`), and a name given before `start()` is not applied at all. Does nothing elsewhere.
    public static func setName(_ name: String) {
        #if os(Linux)
        let shown = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        if let file = fopen("/proc/thread-self/comm", "w") {
            fputs(shown, file)
            fclose(file)
        }
        #endif
    }
}
