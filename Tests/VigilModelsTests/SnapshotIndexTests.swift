import Testing
import VigilCore
@testable import VigilModels

@Suite("Calibrator snapshot index")
struct SnapshotIndexTests {
    /// The bucket index gives the same place as searching the whole sorted snapshot, for both predicates the
    /// calibrator asks (`>=` and `>`), over snapshots that are uniform, heavy-tailed, tied in long runs, a
    /// single value and tiny, probed at their own values, between them, at bucket boundaries and outside.
    @Test func indexedSearchEqualsTheWholeSearch() {
        var rng = SplitMix64(seed: 11)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        let snapshots: [[Double]] = [
            (0..<600).map { _ in uniform() },
            (0..<600).map { _ in 1 / (1e-6 + uniform()) },
            (0..<600).map { _ in Double(Int(uniform() * 5)) },
            (0..<600).map { i in i < 500 ? 0 : uniform() },
            Array(repeating: 0.25, count: 50),
            [1, 2],
            [-3, -3, 7],
        ]
        for snapshot in snapshots {
            let values = snapshot.sorted()
            var index = ScoreCalibrator.SnapshotIndex()
            index.rebuild(for: values)
            let (low, high) = (values.first!, values.last!)
            var probes = values + [low - 1, high + 1, (low + high) / 2, low.nextDown, high.nextUp]
            for b in 0...ScoreCalibrator.SnapshotIndex.buckets {
                let boundary = low + Double(b) * (high - low) / Double(ScoreCalibrator.SnapshotIndex.buckets)
                probes += [boundary, boundary.nextUp, boundary.nextDown]
            }
            for _ in 0..<500 { probes.append(low + (high - low) * (uniform() * 1.2 - 0.1)) }
            values.withUnsafeBufferPointer { values in
                for raw in probes {
                    #expect(index.firstIndex(in: values, of: raw) { $0 >= raw } == ScoreCalibrator.firstIndex(in: values) { $0 >= raw })
                    #expect(index.firstIndex(in: values, of: raw) { $0 > raw } == ScoreCalibrator.firstIndex(in: values) { $0 > raw })
                }
            }
        }
    }
}
