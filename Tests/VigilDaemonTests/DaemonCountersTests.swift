import Testing
@testable import VigilDaemon

@Suite("Daemon counters")
struct DaemonCountersTests {
    /// Each alert counts once under every rule that fired and every detector whose bit is set.
    @Test func alertsAreCountedUnderTheirRulesAndDetectors() {
        let counters = DaemonCounters(ruleNames: ["card_testing", "velocity"], detectorNames: ["amount_z", "hst", "ftrl"])
        counters.alert(rules: 0b10, detectors: 0b101)
        counters.alert(rules: 0b11, detectors: 0b101)
        counters.alert(rules: 0, detectors: 0b010)
        #expect(counters.alertsPerRule.map(\.1) == [1, 2])
        #expect(counters.alertsPerDetector.map(\.1) == [2, 1, 2])
    }
}
