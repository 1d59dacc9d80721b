public import Synchronization
import VigilCore

/// The daemon's running totals, updated with relaxed atomic adds by whichever thread owns the event at the
/// time and read by the summary and metrics.
public final class DaemonCounters: Sendable {
    public let consumed = Atomic<Int>(0)
    public let scored = Atomic<Int>(0)
    public let deadLettered = Atomic<Int>(0)
    public let alerts = Atomic<Int>(0)
    public let suppressedByCooldown = Atomic<Int>(0)
    public let outputsProduced = Atomic<Int>(0)
    public let deliveryFailures = Atomic<Int>(0)
    public let pauses = Atomic<Int>(0)
    public let commits = Atomic<Int>(0)
    /// Delayed labels joined to their event, labels for unknown or expired events, and unreadable labels.
    public let labelsJoined = Atomic<Int>(0)
    public let labelsUnknown = Atomic<Int>(0)
    public let malformedLabels = Atomic<Int>(0)
    /// Checkpoints written (every chunk acknowledged), abandoned, partitions restored from a snapshot, snapshots
    /// refused as corrupt or incompatible (the partition started cold), and the last checkpoint's size.
    public let checkpoints = Atomic<Int>(0)
    public let checkpointFailures = Atomic<Int>(0)
    public let partitionsRestored = Atomic<Int>(0)
    public let snapshotErrors = Atomic<Int>(0)
    public let lastCheckpointBytes = Atomic<Int>(0)
    /// Events read again after a restore only to rebuild state (their outputs were already delivered).
    public let replayed = Atomic<Int>(0)
    /// Transactions committed and aborted (`delivery: exactly_once`).
    public let transactions = Atomic<Int>(0)
    public let transactionsAborted = Atomic<Int>(0)
    /// `pipeline.repartition`: requests sent to the secondary stage (again after a timeout: resent), replies
    /// joined to their event, replies for no waiting event (a previous owner's, or duplicates), and records the
    /// secondary stage of this instance computed features for.
    public let secondaryRequests = Atomic<Int>(0)
    public let secondaryResent = Atomic<Int>(0)
    public let secondaryReplies = Atomic<Int>(0)
    public let secondaryStaleReplies = Atomic<Int>(0)
    public let secondaryComputed = Atomic<Int>(0)
    /// Requests for an event the secondary stage had already counted (answered without counting it again).
    public let secondaryDuplicates = Atomic<Int>(0)
    /// Errors librdkafka reported outside any call (brokers unreachable, requests timed out, group trouble).
    public let kafkaErrors = Atomic<Int>(0)
    /// Dead letters by `DecodeError.Kind`, in `DecodeError.Kind.allCases` order.
    private let deadLettersByKind: [Counter]
    /// Alerts naming each rule, by rule index.
    private let alertsByRule: [Counter]
    /// Alerts each detector was warm and at or above the alert threshold for, by detector index.
    private let alertsByDetector: [Counter]
    /// Events each shadow detector scored at or above the alert threshold (alerts it would have raised).
    private let shadowAlertsByDetector: [Counter]

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    public let ruleNames: [String]
    public let detectorNames: [String]

    public init(ruleNames: [String], detectorNames: [String]) {
        self.ruleNames = ruleNames
        self.detectorNames = detectorNames
        deadLettersByKind = DecodeError.Kind.allCases.map { _ in Counter() }
        alertsByRule = ruleNames.map { _ in Counter() }
        alertsByDetector = detectorNames.map { _ in Counter() }
        shadowAlertsByDetector = detectorNames.map { _ in Counter() }
    }

    /// A shadow detector scored an event at or above the alert threshold.
    func shadowWouldAlert(detector: Int) {
        guard detector < shadowAlertsByDetector.count else { return }
        shadowAlertsByDetector[detector].value.add(1, ordering: .relaxed)
    }

    public var shadowAlertsPerDetector: [(String, Int)] {
        zip(detectorNames, shadowAlertsByDetector).map { ($0, $1.value.load(ordering: .relaxed)) }
    }

    func deadLetter(_ kind: DecodeError.Kind) {
        deadLettered.add(1, ordering: .relaxed)
        if let index = DecodeError.Kind.allCases.firstIndex(of: kind) {
            deadLettersByKind[index].value.add(1, ordering: .relaxed)
        }
    }

    /// Counts an alert under each rule that fired and each detector (bit `i`: detector `i`) that scored it.
    func alert(rules: UInt64, detectors: UInt8) {
        alerts.add(1, ordering: .relaxed)
        for i in alertsByRule.indices where rules & (1 << UInt64(i)) != 0 {
            alertsByRule[i].value.add(1, ordering: .relaxed)
        }
        for i in alertsByDetector.indices where i < UInt8.bitWidth && detectors & (1 << UInt8(i)) != 0 {
            alertsByDetector[i].value.add(1, ordering: .relaxed)
        }
    }

    public var deadLettersByReason: [(String, Int)] {
        zip(DecodeError.Kind.allCases, deadLettersByKind).map { ($0.rawValue, $1.value.load(ordering: .relaxed)) }.filter { $0.1 > 0 }
    }

    public var alertsPerRule: [(String, Int)] {
        zip(ruleNames, alertsByRule).map { ($0, $1.value.load(ordering: .relaxed)) }
    }

    public var alertsPerDetector: [(String, Int)] {
        zip(detectorNames, alertsByDetector).map { ($0, $1.value.load(ordering: .relaxed)) }
    }
}
