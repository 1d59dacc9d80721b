import Testing
import VigilKafka

@Suite("Topic administration against a real broker", .serialized)
struct KafkaAdminTests {
    @Test(.timeLimit(.minutes(3)))
    func compactTopicIsCreatedWithItsPartitionsAndCleanupPolicy() throws {
        let admin = try TestBroker.admin()
        let name = TestBroker.unique("changelog")
        try admin.createTopics([KafkaTopicSpecification(name: name, partitions: 3, configs: ["cleanup.policy": "compact"])], ignoreExisting: false)

        let listed = try admin.listTopics().first { $0.name == name }
        #expect(listed?.partitions == [0, 1, 2])
        let configuration = try admin.topicConfiguration(name)
        #expect(configuration["cleanup.policy"] == "compact")
    }

    @Test(.timeLimit(.minutes(3)))
    func creatingAnExistingTopicIsReportedUnlessIgnored() throws {
        let admin = try TestBroker.admin()
        let name = try TestBroker.createTopic("exists", partitions: 1)
        try admin.createTopics([KafkaTopicSpecification(name: name)], ignoreExisting: true)
        #expect {
            try admin.createTopics([KafkaTopicSpecification(name: name)], ignoreExisting: false)
        } throws: { error in
            (error as? KafkaError)?.code == .topicAlreadyExists
        }
    }
}
