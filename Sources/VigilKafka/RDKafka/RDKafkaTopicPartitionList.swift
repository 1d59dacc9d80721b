internal import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t` for the duration of one C call.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// Wraps a list librdkafka handed over; it is destroyed with this object.
    init(adopting pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
    }

    /// A list of partitions, each with the given offset (`rd_kafka_topic_partition_list_add`).
    convenience init(_ entries: [KafkaTopicPartitionOffset]) {
        self.init(adopting: rd_kafka_topic_partition_list_new(Int32(entries.count)))
        for entry in entries {
            let element = rd_kafka_topic_partition_list_add(pointer, entry.topic, entry.partition)!
            element.pointee.offset = entry.offset
        }
    }

    /// A list of partitions without offsets.
    convenience init(partitions: [KafkaTopicPartition]) {
        self.init(partitions.map { KafkaTopicPartitionOffset($0, offset: KafkaOffset.invalid) })
    }

    /// Topics to subscribe to (partition `RD_KAFKA_PARTITION_UA`).
    convenience init(topics: [String]) {
        self.init(topics.map { KafkaTopicPartitionOffset(topic: $0, partition: RD_KAFKA_PARTITION_UA, offset: KafkaOffset.invalid) })
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// The entries of a C list.
    static func entries(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartitionOffset] {
        let count = Int(list.pointee.cnt)
        var result: [KafkaTopicPartitionOffset] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let element = list.pointee.elems[index]
            result.append(KafkaTopicPartitionOffset(topic: String(cString: element.topic), partition: element.partition, offset: element.offset))
        }
        return result
    }

    var entries: [KafkaTopicPartitionOffset] { Self.entries(of: pointer) }

    /// The first per-partition error in the list, if any.
    var firstError: KafkaError? {
        for index in 0..<Int(pointer.pointee.cnt) {
            let element = pointer.pointee.elems[index]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let where_ = "\(String(cString: element.topic))[\(element.partition)]"
                return KafkaError(rdkafka: element.err, message: "\(where_): \(String(cString: rd_kafka_err2str(element.err)))")
            }
        }
        return nil
    }
}
