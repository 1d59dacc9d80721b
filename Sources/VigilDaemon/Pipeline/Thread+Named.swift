import Foundation
import VigilCore

extension Thread {
    /// Starts a thread that runs `body` under `name`: the name `top -H` and `perf report --sort comm` show
    /// (`CurrentThread.setName`, which cuts it to the 15 bytes Linux keeps).
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        Thread {
            CurrentThread.setName(name)
            body()
        }.start()
    }
}
