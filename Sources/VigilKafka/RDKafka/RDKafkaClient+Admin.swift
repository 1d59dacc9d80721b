internal import CRdKafka

extension RDKafkaClient {
    /// Creates topics and waits for the result (`rd_kafka_CreateTopics`). Returns, per topic, `nil` on success or
    /// the error the broker gave (for instance `TOPIC_ALREADY_EXISTS`).
    func createTopics(_ specifications: [KafkaTopicSpecification], timeoutMs: Int32) throws(KafkaError) -> [String: KafkaError?] {
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in specifications {
            guard let topic = rd_kafka_NewTopic_new(spec.name, spec.partitions, spec.replicationFactor, &errorBuffer, errorBuffer.count) else {
                throw KafkaError(librdkafkaCode: KafkaError.Code.invalidArgument.rawValue, message: "topic \(spec.name): \(String(cBuffer: errorBuffer))")
            }
            newTopics.append(topic)
            for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                try KafkaError.check(rd_kafka_NewTopic_set_config(topic, key, value), "topic \(spec.name) config \(key)=\(value)")
            }
        }
        let result = try adminRequest(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeoutMs: timeoutMs) { options, queue in
            newTopics.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
            }
        }
        defer { rd_kafka_event_destroy(result) }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(result), &count) else {
            return [:]
        }
        var outcome: [String: KafkaError?] = [:]
        for index in 0..<count {
            let topic = topics[index]
            let name = String(cString: rd_kafka_topic_result_name(topic))
            let code = rd_kafka_topic_result_error(topic)
            outcome[name] = code == RD_KAFKA_RESP_ERR_NO_ERROR
                ? .some(nil)
                : KafkaError(rdkafka: code, message: rd_kafka_topic_result_error_string(topic).map { String(cString: $0) })
        }
        return outcome
    }

    /// Deletes topics and waits for the result (`rd_kafka_DeleteTopics`).
    func deleteTopics(_ names: [String], timeoutMs: Int32) throws(KafkaError) {
        var deleteTopics = names.map { rd_kafka_DeleteTopic_new($0) }
        defer { for topic in deleteTopics { rd_kafka_DeleteTopic_destroy(topic) } }
        let result = try adminRequest(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeoutMs: timeoutMs) { options, queue in
            deleteTopics.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_DeleteTopics(handle, buffer.baseAddress, buffer.count, options, queue)
            }
        }
        rd_kafka_event_destroy(result)
    }

    /// The configuration entries of a topic (`rd_kafka_DescribeConfigs`).
    func describeTopicConfig(_ name: String, timeoutMs: Int32) throws(KafkaError) -> [String: String] {
        var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name)]
        defer { for resource in resources { rd_kafka_ConfigResource_destroy(resource) } }
        let result = try adminRequest(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeoutMs: timeoutMs) { options, queue in
            resources.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_DescribeConfigs(handle, buffer.baseAddress, buffer.count, options, queue)
            }
        }
        defer { rd_kafka_event_destroy(result) }
        var count = 0
        guard let described = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(result), &count),
            count > 0
        else { return [:] }
        let resource = described[0]
        let code = rd_kafka_ConfigResource_error(resource)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(rdkafka: code, message: rd_kafka_ConfigResource_error_string(resource).map { String(cString: $0) })
        }
        var entryCount = 0
        var configs: [String: String] = [:]
        if let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) {
            for index in 0..<entryCount {
                let entry = entries[index]
                configs[String(cString: rd_kafka_ConfigEntry_name(entry))] = rd_kafka_ConfigEntry_value(entry).map { String(cString: $0) } ?? ""
            }
        }
        return configs
    }

    /// Topics and their partitions from the cluster's metadata (`rd_kafka_metadata`).
    func topicMetadata(timeoutMs: Int32) throws(KafkaError) -> [KafkaTopicMetadata] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try KafkaError.check(rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs), "read metadata")
        guard let metadata else { return [] }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [KafkaTopicMetadata] = []
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            let partitions = (0..<Int(topic.partition_cnt)).map { topic.partitions[$0].id }.sorted()
            topics.append(KafkaTopicMetadata(name: String(cString: topic.topic), partitions: partitions))
        }
        return topics.sorted { $0.name < $1.name }
    }

    /// Runs one admin request on a private queue and returns its result event, which the caller destroys.
    private func adminRequest(
        _ operation: rd_kafka_admin_op_t,
        timeoutMs: Int32,
        _ send: (_ options: OpaquePointer?, _ queue: OpaquePointer?) -> Void
    ) throws(KafkaError) -> OpaquePointer {
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, operation)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errorBuffer, errorBuffer.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errorBuffer, errorBuffer.count)
        send(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw KafkaError(rdkafka: RD_KAFKA_RESP_ERR__TIMED_OUT, message: "admin request timed out")
        }
        let code = rd_kafka_event_error(event)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = rd_kafka_event_error_string(event).map { String(cString: $0) }
            rd_kafka_event_destroy(event)
            throw KafkaError(rdkafka: code, message: message)
        }
        return event
    }
}
