public import VigilCore

extension ScoringStage: EnvelopedState {
    public static let stateKind = "scoring-stage"
    /// The version of the scoring stage's serialised state; bumped on any layout change.
    public static let stateVersion: UInt64 = 2

    /// Every learned part of the stage — global detectors, input ranges, calibrators, cooldowns. Rules and the
    /// policy come from the config, not from state; the supervised detectors' label-join caches are transient
    /// (labels for events before a restore are counted as unknown).
    public func writeState(to w: inout BinaryWriter) {
        precondition(prepared.next == prepared.count, "a snapshot between events scored ahead and their processing")
        w.write(specs.count)
        for spec in specs { w.write(spec.name) }
        w.write(globals.count)
        for global in globals {
            w.write(global.index)
            w.write(global.scaler != nil)
            global.scaler?.write(to: &w)
            w.write(global.trees != nil)
            global.trees?.write(to: &w)
            w.write(global.zScore != nil)
            global.zScore?.write(to: &w)
            w.write(global.forest != nil)
            global.forest?.write(to: &w)
            w.write(global.keyed != nil)
            global.keyed?.write(to: &w)
            w.write(global.model != nil)
            global.model?.write(to: &w)
            w.write(global.positives)
            w.write(global.negatives)
        }
        for calibrator in calibrators { calibrator.write(to: &w) }
        combined.write(to: &w)
        cooldownIndex.write(to: &w)
        w.write(lastAlertMs)
    }

    /// Reads what `writeState` wrote, into a stage built from the same detectors (same names, same kinds).
    public mutating func restoreState(version: UInt64, payload r: inout BinaryReader) throws(StateError) {
        let names = try (0..<r.readInt()).map { _ throws(StateError) in try r.readString() }
        guard names == specs.map(\.name) else {
            throw StateError("saved detectors \(names) differ from the configured \(specs.map(\.name))")
        }
        var restored = globals
        let count = try r.readInt()
        guard count == restored.count else { throw StateError("saved global detectors differ from the configured ones") }
        for g in 0..<count {
            guard try r.readInt() == restored[g].index else { throw StateError("saved global detectors are in another order") }
            restored[g].scaler = try r.readBool() ? InputScaler(from: &r) : nil
            restored[g].trees = try r.readBool() ? HalfSpaceTrees(from: &r) : nil
            restored[g].zScore = try r.readBool() ? RobustZScoreDetector(from: &r) : nil
            restored[g].forest = try r.readBool() ? RandomCutForest(from: &r) : nil
            // Version 1 had no per-key forests on the stage.
            if version >= 2, try r.readBool() {
                guard restored[g].keyed != nil else { throw StateError("saved detector '\(specs[restored[g].index].name)' is kept per key, the configured one is not") }
                try restored[g].keyed!.restore(from: &r)
            } else if restored[g].keyed != nil {
                throw StateError("configured detector '\(specs[restored[g].index].name)' is kept per key, the saved one is not")
            }
            restored[g].model = try r.readBool() ? FTRLProximal(from: &r) : nil
            restored[g].positives = try r.readInt()
            restored[g].negatives = try r.readInt()
            guard (restored[g].trees != nil) == (globals[g].trees != nil), (restored[g].forest != nil) == (globals[g].forest != nil),
                (restored[g].zScore != nil) == (globals[g].zScore != nil), (restored[g].model != nil) == (globals[g].model != nil)
            else { throw StateError("saved detector '\(specs[restored[g].index].name)' is of another kind") }
            if let saved = restored[g].trees, let configured = globals[g].trees,
                saved.dimensions != configured.dimensions || saved.trees != configured.trees || saved.height != configured.height
                    || saved.window != configured.window
            {
                throw StateError("saved half-space trees '\(specs[restored[g].index].name)' have another shape than the configured ones")
            }
        }
        let restoredCalibrators = try specs.indices.map { _ throws(StateError) in try ScoreCalibrator(from: &r) }
        let restoredCombined = try ScoreCalibrator(from: &r)
        let restoredCooldown = try EntityKeyIndex(from: &r)
        let restoredLastAlert = try r.readInt64s()
        guard r.isAtEnd else { throw StateError("trailing bytes in scoring-stage state") }
        globals = restored
        // Sized for the restored trees (a checkpoint may hold trees of another shape than the config's).
        treeWalks = globals.map { $0.trees?.makeWalk(events: Self.preparedCapacity) }
        calibrators = restoredCalibrators
        combined = restoredCombined
        cooldownIndex = restoredCooldown
        lastAlertMs = restoredLastAlert
    }
}
