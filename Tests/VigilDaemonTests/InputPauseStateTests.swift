import Testing
@testable import VigilDaemon
import VigilKafka

@Suite("Input pause bookkeeping")
struct InputPauseStateTests {
    let p0 = KafkaTopicPartition(topic: "tx", partition: 0)
    let p1 = KafkaTopicPartition(topic: "tx", partition: 1)
    let p2 = KafkaTopicPartition(topic: "tx", partition: 2)

    /// The stall a frozen broker once caused: both partitions paused under back-pressure, lost when the session
    /// timed out, the loop resumed while it held nothing, then both assigned again — still paused in librdkafka.
    @Test func partitionsLostWhilePausedAreResumedWhenTheyComeBack() {
        var state = InputPauseState()
        state.want(paused: true)
        let pausing = state.corrections(for: [p0, p1])
        #expect(pausing == .init(pause: [p0, p1]))
        state.applied(pausing)

        // Lost: the loop holds nothing when the back-pressure ends.
        state.want(paused: false)
        let resumingNothing = state.corrections(for: [])
        #expect(resumingNothing.isEmpty)
        state.applied(resumingNothing)

        // Assigned again: both must be resumed, since the client kept them paused.
        let reassigned = state.corrections(for: [p0, p1])
        #expect(reassigned == .init(resume: [p0, p1]))
        state.applied(reassigned)
        #expect(state.pausedInClient.isEmpty)
        #expect(state.corrections(for: [p0, p1]).isEmpty)
    }

    /// A partition assigned while the input is paused is paused too (and so resumed with the others); one never
    /// paused is left alone when the input resumes.
    @Test func assignmentsFollowTheCurrentWish() {
        var state = InputPauseState()
        #expect(state.corrections(for: [p0]).isEmpty, "flowing input: a new partition needs nothing")
        state.want(paused: true)
        state.applied(state.corrections(for: [p0]))
        let newcomer = state.corrections(for: [p1])
        #expect(newcomer == .init(pause: [p1]))
        state.applied(newcomer)
        #expect(state.corrections(for: [p0, p1]).isEmpty, "already paused: no second pause")

        state.want(paused: false)
        let resume = state.corrections(for: [p0, p1, p2])
        #expect(resume == .init(resume: [p0, p1]))
        state.applied(resume)
        #expect(state.pausedInClient.isEmpty)
    }

    /// A failed client call is not recorded, so the next correction asks for it again.
    @Test func unappliedCorrectionsAreAskedForAgain() {
        var state = InputPauseState()
        state.want(paused: true)
        _ = state.corrections(for: [p0])
        #expect(state.corrections(for: [p0]) == .init(pause: [p0]))
    }
}
