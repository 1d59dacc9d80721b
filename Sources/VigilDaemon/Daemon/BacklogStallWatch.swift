/// Tells a backlog that moves from one that is stuck, for the consumer loop's back-pressure.
///
/// A backlog — events read but not yet taken by the workers — is the normal state of a pipeline slower than its
/// input: the loop then reads nothing more until it has handed on what it holds, and librdkafka's bounded prefetch
/// queue holds the rest. Pausing the partitions is for a pipeline that takes nothing (an output broker away, a
/// stuck join), so that the loop can go on serving the consumer's callbacks without reading: a pause drops
/// librdkafka's prefetched messages and a resume fetches them again, a broker round trip each time, so pausing a
/// backlog that merely lasted idled the whole pipeline for 0.2-0.7 s a few times in every throughput run.
struct BacklogStallWatch {
    /// How long the workers may take nothing of a backlog before it counts as stalled.
    let limit: Duration
    /// When the count of items handed on last changed during the current backlog; nil without a backlog.
    private var lastMove: ContinuousClock.Instant?
    private var lastHandedOn = 0

    init(limit: Duration) {
        self.limit = limit
    }

    /// Records, during a backlog, how many items the loop has handed on so far (a count that only grows);
    /// true once it has not grown for longer than `limit`.
    mutating func isStalled(handedOn: Int, now: ContinuousClock.Instant) -> Bool {
        guard let lastMove, handedOn == lastHandedOn else {
            lastMove = now
            lastHandedOn = handedOn
            return false
        }
        return now - lastMove > limit
    }

    /// The backlog is gone; the next one is timed afresh.
    mutating func backlogCleared() {
        lastMove = nil
    }
}
