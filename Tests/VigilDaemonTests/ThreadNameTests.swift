import Foundation
import Synchronization
import Testing

@testable import VigilDaemon

@Suite("Pipeline thread names")
struct ThreadNameTests {
    /// Every thread the pipeline starts carries its name for the OS from its first instruction of work on, so
    /// `top -H` and `perf report --sort comm` tell the workers apart: many threads started at once, each reading
    /// its own name back from /proc. (Named through Foundation alone, a thread now and then kept the process's
    /// name.)
    @Test func everyStartedThreadCarriesItsName() async throws {
        #if os(Linux)
        let names = (0..<64).map { "vigil.test.\($0)" }
        let seen = Mutex<[String: String]>([:])
        let done = DispatchSemaphore(value: 0)
        for name in names {
            Thread.start(named: name) {
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                seen.withLock { $0[name] = comm.trimmingCharacters(in: .newlines) }
                done.signal()
            }
        }
        for _ in names { done.wait() }
        let wrong = seen.withLock { seen in names.filter { seen[$0] != $0 } }
        #expect(wrong.isEmpty, "\(wrong.count) of 64 threads ran under another name")

        Thread.start(named: "vigil.a-name-longer-than-fifteen-bytes") {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0["long"] = comm.trimmingCharacters(in: .newlines) }
            done.signal()
        }
        done.wait()
        #expect(seen.withLock { $0["long"] } == "vigil.a-name-lo", "cut to the 15 bytes Linux keeps")
        #endif
    }
}
