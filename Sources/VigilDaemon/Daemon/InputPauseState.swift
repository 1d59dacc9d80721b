import VigilKafka

/// Keeps librdkafka's per-partition pause flags in step with the consumer loop's wish to pause its input.
///
/// librdkafka keeps a partition paused across a revocation and a later reassignment: a partition lost or revoked
/// while paused comes back paused, while the loop pauses and resumes only what it holds at the time. Without this
/// bookkeeping a partition lost while paused, and assigned again after the loop resumed, stays paused for good:
/// no fetch, no error (seen when a frozen broker outlasted the session timeout during back-pressure).
struct InputPauseState {
    /// What the loop wants: its input paused (back-pressure) or flowing.
    private(set) var isPaused = false
    /// Partitions paused in the client and not resumed since, whether assigned now or not.
    private(set) var pausedInClient: Set<KafkaTopicPartition> = []

    /// The client calls that make `partitions` (assigned now) match what the loop wants.
    struct Corrections: Equatable {
        var pause: [KafkaTopicPartition] = []
        var resume: [KafkaTopicPartition] = []
        var isEmpty: Bool { pause.isEmpty && resume.isEmpty }
    }

    /// Records what the loop wants from now on; follow with `corrections(for:)` over the assigned partitions.
    mutating func want(paused: Bool) {
        isPaused = paused
    }

    /// What to pause or resume among `partitions` so that they match `isPaused`: on a change of wish (with the
    /// assigned partitions) and on an assignment (with the new partitions, once the client has taken them).
    func corrections(for partitions: [KafkaTopicPartition]) -> Corrections {
        if isPaused {
            return Corrections(pause: partitions.filter { !pausedInClient.contains($0) })
        }
        return Corrections(resume: partitions.filter { pausedInClient.contains($0) })
    }

    /// Records corrections the client has applied.
    mutating func applied(_ corrections: Corrections) {
        pausedInClient.formUnion(corrections.pause)
        pausedInClient.subtract(corrections.resume)
    }
}
