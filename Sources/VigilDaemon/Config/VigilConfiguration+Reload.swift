import VigilModels

extension VigilConfiguration {
    /// The parts of `other` that differ from this config and need a restart to change: everything except the
    /// rules, the alerting policy and detector weights. Empty when `other` can be applied in place.
    public func changesNeedingRestart(to other: VigilConfiguration) -> [String] {
        var changed: [String] = []
        if kafka != other.kafka { changed.append("kafka") }
        if schema != other.schema || maxLatenessMs != other.maxLatenessMs { changed.append("event") }
        if tables != other.tables { changed.append("state") }
        if features != other.features { changed.append("features") }
        // Weights and shadow flags apply in place; the models themselves (kind, parameters, keying) need a restart.
        let models = detectors.map { DetectorSpec(name: $0.name, kind: $0.kind, perEntity: $0.perEntity) }
        let otherModels = other.detectors.map { DetectorSpec(name: $0.name, kind: $0.kind, perEntity: $0.perEntity) }
        if models != otherModels { changed.append("detectors (other than weight and shadow)") }
        if pipeline != other.pipeline { changed.append("pipeline") }
        if httpListen != other.httpListen || adminToken != other.adminToken { changed.append("http") }
        if logging != other.logging { changed.append("logging") }
        if checkpoints != other.checkpoints { changed.append("checkpoints") }
        return changed
    }
}
