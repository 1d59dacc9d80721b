import Foundation
import Synchronization
import Testing
import VigilCore

@Suite("Thread names")
struct CurrentThreadTests {
    /// Threads that name themselves first thing carry the name for the OS from then on, every one of many started
    /// at once (reading it back from /proc); a name past 15 bytes is cut there. (Named through Foundation's
    /// `Thread.current.name` alone, a thread now and then kept the process's name.)
    @Test func everyThreadCarriesTheNameItSets() {
        #if os(Linux)
        let names = (0..<64).map { "vigil.test.\($0)" } + ["vigil.a-name-longer-than-fifteen-bytes"]
        let seen = Mutex<[String: String]>([:])
        let done = DispatchSemaphore(value: 0)
        for name in names {
            Thread {
                CurrentThread.setName(name)
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                seen.withLock { $0[name] = comm.trimmingCharacters(in: .newlines) }
                done.signal()
            }.start()
        }
        for _ in names { done.wait() }
        let wrong = seen.withLock { seen in names.dropLast().filter { seen[$0] != $0 } }
        #expect(wrong.isEmpty, "\(wrong.count) of 64 threads ran under another name")
        #expect(seen.withLock { $0[names.last!] } == "vigil.a-name-lo", "cut to the 15 bytes Linux keeps")
        #endif
    }
}
