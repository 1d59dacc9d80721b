import Foundation
import VigilCore

extension Thread {
    /// Starts a thread that runs `body` under `name` (cut to the 15 bytes Linux keeps): the name `top -H` and
    /// `perf report --sort comm` show (`CurrentThread.setName`), and Foundation's `Thread.current.name`.
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        let shown = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        Thread {
            CurrentThread.setName(shown)
            Thread.current.name = shown
            body()
        }.start()
    }
}
