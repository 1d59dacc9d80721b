import Prometheus

extension MetricNameDescriptor {
    /// A metric called `name` in full (its unit suffix already part of it, as in `vigil_alerts_total`), with
    /// its `# HELP` line.
    static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
