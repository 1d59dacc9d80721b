import Foundation
import Synchronization
import Testing
import VigilKafka

@Suite("Consumer groups against a real broker", .serialized)
struct KafkaGroupTests {
    /// Assignments seen by one member's rebalance hooks.
    final class Assignments: Sendable {
        private let state = Mutex<(current: Set<KafkaTopicPartition>, revocations: Int)>(([], 0))

        var handler: KafkaRebalanceHandler {
            KafkaRebalanceHandler(
                partitionsAssigned: { partitions in
                    self.state.withLock { $0.current.formUnion(partitions.map(\.topicPartition)) }
                },
                partitionsRevoked: { partitions, _ in
                    self.state.withLock {
                        $0.current.subtract(partitions)
                        $0.revocations += 1
                    }
                }
            )
        }

        var current: Set<KafkaTopicPartition> { state.withLock { $0.current } }
        var revocations: Int { state.withLock { $0.revocations } }
    }

    @Test(
        .timeLimit(.minutes(3)),
        arguments: [KafkaConsumerConfiguration.AssignmentStrategy.range, .cooperativeSticky]
    )
    func twoMembersSplitThePartitionsAndTheSurvivorTakesThemAll(strategy: KafkaConsumerConfiguration.AssignmentStrategy) throws {
        let topic = try TestBroker.createTopic("group-\(strategy.rawValue)", partitions: 4)
        let group = TestBroker.unique("split-group")
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })

        let assignmentsA = Assignments()
        let assignmentsB = Assignments()
        let configuration = try TestBroker.consumerConfiguration(group: group, strategy: strategy)
        let a = PolledConsumer(try KafkaConsumer(configuration: configuration, rebalance: assignmentsA.handler, logger: TestBroker.logger))
        try a.consumer.subscribe([topic])
        #expect(eventually { assignmentsA.current == all }, "first member gets everything")

        let b = PolledConsumer(try KafkaConsumer(configuration: configuration, rebalance: assignmentsB.handler, logger: TestBroker.logger))
        try b.consumer.subscribe([topic])
        let split = eventually {
            let (x, y) = (assignmentsA.current, assignmentsB.current)
            return !x.isEmpty && !y.isEmpty && x.isDisjoint(with: y) && x.union(y) == all
        }
        #expect(split, "A \(assignmentsA.current) B \(assignmentsB.current)")
        #expect(assignmentsA.revocations >= 1)
        #expect(try Set(a.consumer.assignment()) == assignmentsA.current)

        b.stop()
        try b.consumer.close()
        #expect(eventually { assignmentsA.current == all }, "survivor holds \(assignmentsA.current)")

        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<400 { try producer.produce(topic: topic, partition: Int32(i % 4), key: nil, value: Array("g\(i)".utf8)) }
        try producer.flush(timeout: .seconds(30))
        #expect(eventually { a.messages.count >= 400 })
        a.stop()
        let received = a.messages
        #expect(received.count == 400)
        #expect(Set(received.map(\.partition)) == [0, 1, 2, 3])
        #expect(b.messages.isEmpty)
        try a.consumer.close()
    }

    /// librdkafka keeps a partition paused across its revocation and reassignment — why the daemon's consumer loop
    /// tracks its pauses (InputPauseState) and resumes a partition that comes back paused. A pauses both
    /// partitions; B joins, takes one and leaves; A gets it back, and nothing of it arrives until A resumes it.
    @Test(.timeLimit(.minutes(3)))
    func aPartitionPausedWhenRevokedComesBackPaused() throws {
        let topic = try TestBroker.createTopic("pause-revoke", partitions: 2)
        let group = TestBroker.unique("pause-group")
        let all = Set((0..<2).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let assignmentsA = Assignments()
        let assignmentsB = Assignments()
        let configuration = try TestBroker.consumerConfiguration(group: group, strategy: .cooperativeSticky)
        let a = PolledConsumer(try KafkaConsumer(configuration: configuration, rebalance: assignmentsA.handler, logger: TestBroker.logger))
        try a.consumer.subscribe([topic])
        try #require(eventually { assignmentsA.current == all })
        try a.consumer.pause(Array(all))

        let b = PolledConsumer(try KafkaConsumer(configuration: configuration, rebalance: assignmentsB.handler, logger: TestBroker.logger))
        try b.consumer.subscribe([topic])
        try #require(eventually { assignmentsA.current.count == 1 && assignmentsB.current.count == 1 }, "A \(assignmentsA.current) B \(assignmentsB.current)")
        b.stop()
        try b.consumer.close()
        try #require(eventually { assignmentsA.current == all }, "A holds \(assignmentsA.current)")

        let producer = try KafkaProducer(configuration: try TestBroker.producerConfiguration(), logger: TestBroker.logger)
        for i in 0..<20 { try producer.produce(topic: topic, partition: Int32(i % 2), key: nil, value: Array("p\(i)".utf8)) }
        try producer.flush(timeout: .seconds(30))
        Thread.sleep(forTimeInterval: 3)
        #expect(a.messages.isEmpty, "a partition reassigned after its revocation is still paused")

        try a.consumer.resume(Array(all))
        #expect(eventually { a.messages.count >= 20 }, "received \(a.messages.count) of 20 after resuming")
        a.stop()
        try a.consumer.close()
    }
}
