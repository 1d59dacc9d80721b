/// Settings shared by consumers, producers and admin clients.
public struct KafkaClientOptions: Sendable, Hashable {
    /// `bootstrap.servers`: host:port pairs of the brokers to contact first.
    public var bootstrapServers: [String]
    /// `client.id`: names this client in broker logs and quotas.
    public var clientID: String
    /// `statistics.interval.ms`: how often librdkafka emits its JSON statistics; `nil` turns them off.
    public var statisticsInterval: Duration?
    /// `socket.timeout.ms`: network request timeout.
    public var socketTimeout: Duration
    /// `reconnect.backoff.ms` / `reconnect.backoff.max.ms`: broker reconnect back-off, from first to largest.
    public var reconnectBackoff: ClosedRange<Duration>
    /// librdkafka's `debug` contexts (`broker,topic,cgrp`...), empty for none.
    public var debugContexts: [String]

    public init(
        bootstrapServers: [String],
        clientID: String = "vigil",
        statisticsInterval: Duration? = nil,
        socketTimeout: Duration = .seconds(60),
        reconnectBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(10)),
        debugContexts: [String] = []
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.statisticsInterval = statisticsInterval
        self.socketTimeout = socketTimeout
        self.reconnectBackoff = reconnectBackoff
        self.debugContexts = debugContexts
    }

    /// The options as librdkafka properties.
    func properties() -> [String: String] {
        var p: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "client.id": clientID,
            "socket.timeout.ms": String(socketTimeout.wholeMilliseconds),
            "reconnect.backoff.ms": String(reconnectBackoff.lowerBound.wholeMilliseconds),
            "reconnect.backoff.max.ms": String(reconnectBackoff.upperBound.wholeMilliseconds),
        ]
        if let statisticsInterval {
            p["statistics.interval.ms"] = String(statisticsInterval.wholeMilliseconds)
        }
        if !debugContexts.isEmpty {
            p["debug"] = debugContexts.joined(separator: ",")
        }
        return p
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down, as librdkafka's `*.ms` properties take it.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
