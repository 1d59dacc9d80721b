import Foundation
import Synchronization
import Testing
import VigilCore
import VigilDaemon
import VigilKafka

/// The live dashboard in a real headless browser (Chromium from apt, installed by scripts/test): while traffic
/// flows, the page is rendered, its DOM read back and a screenshot taken, and both must show data.
@Suite("Live dashboard in headless Chromium", .serialized)
struct DashboardTests {
    static let browser = ["chromium", "chromium-browser", "google-chrome"].first { name in
        (try? Shell.run("command -v \(name)").status) == 0
    }

    @Test(.timeLimit(.minutes(3)))
    func theDashboardChartsLiveTraffic() throws {
        let browser = try #require(Self.browser, "no Chromium on PATH: scripts/test installs it (apt package chromium)")
        let fixture = try DaemonFixture(prefix: "dashboard", partitions: 2)
        let service = try VigilService(config: fixture.config, logger: Broker.logger)
        try service.start()
        defer {
            service.requestStop()
            service.waitUntilStopped()
        }
        let port = try #require(service.httpPort)

        // Demo-like traffic for the whole test, in the background: about 1,500 events/s.
        let stop = Atomic<Bool>(false)
        let topic = fixture.config.kafka.inputTopics[0]
        let traffic = Thread {
            do {
                var options = TransactionGenerator.Options()
                options.seed = 77
                options.cards = 300
                options.fraudRate = 0.02
                var generator = TransactionGenerator(options: options)
                let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: Broker.options()), logger: Broker.logger)
                while !stop.load(ordering: .relaxed) {
                    for _ in 0..<150 {
                        let t = generator.next()
                        try producer.produce(topic: topic, key: Array(t.key.utf8), value: Array(t.json.utf8), blockWhenFull: true)
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                try producer.close(timeout: .seconds(10))
            } catch {
                Issue.record("producing demo traffic: \(error)")
            }
        }
        traffic.start()
        defer { stop.store(true, ordering: .relaxed) }
        service.waitUntilScored(3_000, within: .seconds(60))
        Thread.sleep(forTimeInterval: 4)  // a few one-second samples with traffic in them

        let url = "http://127.0.0.1:\(port)/dashboard"
        let flags = "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --virtual-time-budget=4000"
        let dom = try Shell.run("timeout 90 \(browser) \(flags) --dump-dom '\(url)'", standardError: false)
        #expect(dom.status == 0, "chromium --dump-dom failed")
        let screenshot = NSTemporaryDirectory() + "vigil-dashboard-\(UUID().uuidString.prefix(8)).png"
        let shot = try Shell.run("timeout 90 \(browser) \(flags) --window-size=1400,1000 --screenshot='\(screenshot)' '\(url)'")
        #expect(shot.status == 0, "chromium --screenshot failed: \(shot.output.suffix(500))")
        stop.store(true, ordering: .relaxed)

        // The DOM after the page's script ran: every chart drew points, the events chart is not flat, and the
        // latest alerts are listed with their reasons.
        let html = dom.output
        for chart in ["chart-events", "chart-alerts", "chart-latency", "chart-scores"] {
            let points = Self.attribute(in: html, id: chart, name: "data-points") ?? 0
            #expect(points >= 3, "\(chart) drew \(points) points")
        }
        let lagPoints = Self.attribute(in: html, id: "chart-lag", name: "data-points") ?? 0
        #expect(lagPoints >= 1, "the lag chart drew \(lagPoints) points")
        #expect(Self.chartMaximum(in: html, id: "chart-events") ?? 0 > 100, "events/s peaked above 100")
        let alertRows = Self.rows(in: html, tableID: "alerts")
        #expect(alertRows >= 1, "latest alerts listed: \(alertRows)")
        #expect(html.contains("class=\"reason\""), "alerts carry their reasons")
        let status = html.range(of: "<span id=\"status\">").map { html[$0.upperBound...].prefix { $0 != "<" } } ?? ""
        #expect(status.hasPrefix("ready") || status.hasPrefix("warming up"), "the page read /api/live: status \(status)")

        // The screenshot: each series' colour is on the page in quantity (lines are 3 px wide).
        let colours = try Shell.run("python3 '\(repositoryRoot.path)/scripts/testing/png_colours.py' '\(screenshot)' '#2563eb' '#dc2626' '#16a34a' '#ea580c' '#0891b2'")
        try #require(colours.status == 0, "\(colours.output)")
        let counts = try #require(try JSONSerialization.jsonObject(with: Data(colours.output.utf8)) as? [String: Int])
        #expect(counts["width"] == 1400)
        #expect(counts["#2563eb"] ?? 0 > 300, "events/s line pixels: \(counts)")
        #expect(counts["#dc2626"] ?? 0 > 300, "alerts/s line pixels: \(counts)")
        #expect(counts["#16a34a"] ?? 0 > 300, "lag line pixels: \(counts)")
        #expect(counts["#ea580c"] ?? 0 > 300, "p99 latency line pixels: \(counts)")
        #expect(counts["#0891b2"] ?? 0 > 2_000, "score histogram bar pixels: \(counts)")
        try? FileManager.default.removeItem(atPath: screenshot)
    }

    /// An integer attribute of the element with `id`.
    static func attribute(in html: String, id: String, name: String) -> Int? {
        guard let element = html.range(of: "id=\"\(id)\"") else { return nil }
        let tagStart = html[..<element.lowerBound].lastIndex(of: "<") ?? element.lowerBound
        let tagEnd = html[element.upperBound...].firstIndex(of: ">") ?? html.endIndex
        let tag = html[tagStart..<tagEnd]
        guard let attribute = tag.range(of: "\(name)=\"") else { return nil }
        return Int(tag[attribute.upperBound...].prefix { $0.isNumber })
    }

    /// The "max N" label a chart draws (its largest value).
    static func chartMaximum(in html: String, id: String) -> Double? {
        guard let element = html.range(of: "id=\"\(id)\""), let svgEnd = html[element.upperBound...].range(of: "</svg>"),
            let label = html[element.upperBound..<svgEnd.lowerBound].range(of: ">max ")
        else { return nil }
        let text = html[label.upperBound...].prefix { $0 != "<" }
        let scale: Double = text.hasSuffix("k") ? 1e3 : text.hasSuffix("M") ? 1e6 : 1
        return Double(text.trimmingCharacters(in: CharacterSet(charactersIn: "kM"))).map { $0 * scale }
    }

    /// Rows in the body of the table with `tableID`.
    static func rows(in html: String, tableID: String) -> Int {
        guard let table = html.range(of: "id=\"\(tableID)\""), let body = html[table.upperBound...].range(of: "<tbody>"),
            let end = html[body.upperBound...].range(of: "</tbody>")
        else { return 0 }
        return html[body.upperBound..<end.lowerBound].components(separatedBy: "<tr>").count - 1
    }
}
