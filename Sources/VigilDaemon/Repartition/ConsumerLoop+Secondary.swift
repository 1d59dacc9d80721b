import VigilCore

extension ConsumerLoop {
    /// Reads the replies that have come in (waiting up to `waiting` for the first), routes the events now
    /// complete in input order, and resends overdue requests. Does nothing without `pipeline.repartition`.
    func serviceSecondary(waiting: Duration) {
        guard secondary != nil else { return }
        secondary!.receive(timeout: waiting, counters: counters, logger: logger)
        routeJoined()
        let sources = self.sources
        secondary!.resendOverdue(source: { sources[$0] }, producer: producer, counters: counters, logger: logger)
    }

    /// Moves the complete events at the head of the join queue to the workers (or behind the held-back ones),
    /// taking their place in input order only now. Stops while a poll batch is already held back.
    func routeJoined() {
        guard secondary != nil else { return }
        let limit = config.pipeline.pollBatch
        secondary!.join.takeReady { item in
            guard pending.count - pendingStart < limit else { return false }
            let sequenced = router.sequenced(item)
            if pendingStart < pending.count || !pool.route(sequenced) { pending.append(sequenced) }
            handedOn &+= 1
            return true
        }
    }

    /// Waits until no event of `partitions` (all when nil) waits for secondary features, routing them as they
    /// complete. True when none waits; immediately true without `pipeline.repartition`.
    func drainSecondary(partitions: Set<Int>?, within: Duration) -> Bool {
        guard secondary != nil else { return true }
        let clock = ContinuousClock()
        let deadline = clock.now + within
        while true {
            let waiting: Bool
            if let partitions {
                waiting = partitions.contains { secondary!.join.waiting(partition: $0) > 0 }
            } else {
                waiting = !secondary!.join.isEmpty
            }
            guard waiting else { return true }
            guard clock.now < deadline else { return false }
            serviceSecondary(waiting: .milliseconds(1))
            flushPending(wait: true, atMost: .milliseconds(1))
            drainCompletions()
        }
    }
}
