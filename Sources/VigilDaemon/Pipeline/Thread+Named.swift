import Foundation

extension Thread {
    /// Starts a thread that runs `body` under `name`, the name `top -H` and `perf report --sort comm` show. The
    /// thread sets it itself, because Foundation hands a thread's name to the OS only then; cut to the 15 bytes
    /// Linux keeps (a longer one would not be applied at all).
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        let shown = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        Thread {
            Thread.current.name = shown
            body()
        }.start()
    }
}
