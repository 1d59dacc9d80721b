import Foundation
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
        // Each thread writes only its own place; the semaphore orders those writes before the reads below.
        nonisolated(unsafe) let seen = UnsafeMutableBufferPointer<String>.allocate(capacity: names.count)
        seen.initialize(repeating: "")
        defer { seen.deallocate() }
        let done = DispatchSemaphore(value: 0)
        for (i, name) in names.enumerated() {
            Thread {
                CurrentThread.setName(name)
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                seen[i] = comm.trimmingCharacters(in: .newlines)
                done.signal()
            }.start()
        }
        for _ in names { done.wait() }
        let wrong = names.indices.dropLast().filter { seen[$0] != names[$0] }
        #expect(wrong.isEmpty, "\(wrong.count) of 64 threads ran under another name")
        #expect(seen[names.count - 1] == "vigil.a-name-lo", "cut to the 15 bytes Linux keeps")
        #endif
    }
}
