extension KafkaProducer {
    /// Registers the `transactionalID` with the cluster and fences older producers with the same id
    /// (`rd_kafka_init_transactions`). Call once before the first transaction.
    public func initTransactions(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.initTransactions(timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Starts a transaction: messages produced until commit or abort belong to it.
    public func beginTransaction() throws(KafkaError) {
        try client.beginTransaction()
    }

    /// Adds a consumer's offsets to the transaction, so they are committed if and only if it commits.
    ///
    /// - Parameter offsets: the next offsets to read (processed offset + 1).
    public func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset],
        group: KafkaConsumerGroupMetadata,
        timeout: Duration = .seconds(30)
    ) throws(KafkaError) {
        try client.sendOffsetsToTransaction(offsets, group: group, timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Flushes and commits the transaction.
    public func commitTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.commitTransaction(timeoutMs: timeout.timeoutMilliseconds)
    }

    /// Aborts the transaction: its messages become invisible to read_committed consumers.
    public func abortTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.abortTransaction(timeoutMs: timeout.timeoutMilliseconds)
    }
}
