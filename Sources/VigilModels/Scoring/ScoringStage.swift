public import VigilCore

/// The ordered end of scoring: runs on one thread over events in input order, after the workers. It runs the
/// global detectors, calibrates every detector's raw score to a percentile, evaluates the rules, combines the
/// calibrated scores and applies the alert policy (threshold, warm-up, cooldown), and picks the explanation.
///
/// Keeping global models here, in input order, makes the result independent of the number of workers.
public struct ScoringStage: Sendable {
    struct Global: Sendable {
        var index: Int
        var inputs: [DetectorInput]
        var scaler: InputScaler?
        var trees: HalfSpaceTrees?
        var zScore: RobustZScoreDetector?
        var forest: RandomCutForest?
        /// Half-space trees or a forest per key of a secondary entity.
        var keyed: EntityForestDetector?
        var model: FTRLProximal?
        var labels: LabelJoinCache?
        var minLabels = 0
        var positives = 0
        var negatives = 0
        /// The last event's per-input shares of the anomaly score (half-space trees; high side for forests).
        var contributions: [Double] = []
        /// The last event's low-side attribution (random cut forests).
        var lowContributions: [Double] = []
        /// Which event of its walk (`treeWalks`) holds the last event's paths (half-space trees).
        var walkEvent = 0
        /// Which of the optional models above it holds, so the event path checks this instead of comparing the
        /// optionals with nil (each such check copied the optional, retaining and releasing its arrays).
        var kind = Kind.none

        enum Kind: Sendable { case zScore, keyed, trees, forest, supervised, none }

        /// The kind its models make it.
        var modelKind: Kind {
            if zScore != nil { return .zScore }
            if keyed != nil { return .keyed }
            if trees != nil { return .trees }
            if forest != nil { return .forest }
            if model != nil { return .supervised }
            return .none
        }
    }

    public private(set) var specs: [DetectorSpec]
    public private(set) var rules: [Rule]
    /// The rules' conditions as evaluated on the event path.
    var ruleProgram: RuleProgram
    public private(set) var policy: AlertPolicy
    var globals: [Global] = []
    /// Where each half-space-trees global (by its place in `globals`) records its event's paths, for the
    /// explanation of the events that alert; nil for the other globals.
    var treeWalks: [HalfSpaceTrees.Walk?] = []
    var calibrators: [ScoreCalibrator]
    var combined: ScoreCalibrator
    public let primaryEntity: Int
    var cooldownIndex: EntityKeyIndex
    var lastAlertMs: [Int64] = []
    /// Half-space trees scored ahead for a run of events (`prepareTrees`), taken by `process` in order.
    var prepared = PreparedTrees()

    public init(specs: [DetectorSpec], rules: [Rule], policy: AlertPolicy, primaryEntity: Int = 0, maxKeys: Int = 1_000_000) {
        precondition(specs.count <= DetectionResult.maxDetectors && rules.count <= 64, "validated by the config loader")
        self.specs = specs
        self.rules = rules
        ruleProgram = RuleProgram(rules.map(\.expression))
        self.policy = policy
        self.primaryEntity = primaryEntity
        self.cooldownIndex = EntityKeyIndex(maxKeys: maxKeys, ttlMs: max(policy.cooldownMs, 1))
        calibrators = specs.indices.map { ScoreCalibrator(warmup: policy.calibrationWarmup, seed: 0x5eed &+ UInt64($0)) }
        combined = ScoreCalibrator(warmup: policy.calibrationWarmup, seed: 0xc0b1)
        for (index, spec) in specs.enumerated() where !spec.runsOnWorkers(primaryEntity: primaryEntity) {
            if let perEntity = spec.perEntity {
                let keyed = EntityForestDetector(kind: spec.kind, entity: perEntity.entity, maxKeys: perEntity.maxKeys, ttlMs: perEntity.ttlMs)
                globals.append(Global(index: index, inputs: keyed.inputs, keyed: keyed, contributions: Array(repeating: 0, count: keyed.inputs.count)))
                continue
            }
            switch spec.kind {
            case .robustZScore(let input, let entity, let window, let minSamples):
                let field = if case .numericField(let f) = input { f } else { -1 }
                globals.append(
                    Global(index: index, inputs: [input], zScore: RobustZScoreDetector(field: field, entity: entity, window: window, minSamples: minSamples, maxKeys: maxKeys))
                )
            case .supervised(let inputs, let alpha, let beta, let l1, let l2, let cacheSize, let minLabels, let warmup):
                globals.append(
                    Global(
                        index: index, inputs: inputs, scaler: InputScaler(dimensions: inputs.count, warmup: warmup, margin: 0.1),
                        model: FTRLProximal(dimensions: inputs.count, alpha: alpha, beta: beta, l1: l1, l2: l2),
                        labels: LabelJoinCache(capacity: cacheSize, dimensions: inputs.count), minLabels: minLabels,
                        contributions: Array(repeating: 0, count: inputs.count)
                    )
                )
            case .randomCutForest(let inputs, let trees, let sampleSize, let shingleSize, let sampling, let warmup, let seed):
                globals.append(
                    Global(
                        index: index, inputs: inputs, scaler: InputScaler(dimensions: inputs.count, warmup: warmup, margin: 0),
                        forest: RandomCutForest(dimensions: inputs.count, trees: trees, sampleSize: sampleSize, shingleSize: shingleSize, sampling: sampling, seed: seed),
                        contributions: Array(repeating: 0, count: inputs.count),
                        lowContributions: Array(repeating: 0, count: inputs.count)
                    )
                )
            case .halfSpaceTrees(let inputs, let trees, let height, let window, let ranges, let warmup, let margin, let seed):
                let scaler = ranges.map { InputScaler(ranges: $0) } ?? InputScaler(dimensions: inputs.count, warmup: warmup, margin: margin)
                globals.append(
                    Global(
                        index: index, inputs: inputs, scaler: scaler,
                        trees: HalfSpaceTrees(dimensions: inputs.count, trees: trees, height: height, window: window, seed: seed),
                        contributions: Array(repeating: 0, count: inputs.count)
                    )
                )
            }
        }
        for g in globals.indices { globals[g].kind = globals[g].modelKind }
        treeWalks = globals.map { $0.trees?.makeWalk(events: Self.preparedCapacity) }
        prepared = PreparedTrees(globals: globals.count, dimensions: globals.map(\.inputs.count).max() ?? 0)
    }

    /// Completes `result` (which holds the per-entity detectors' raw scores) for one event.
    public mutating func process(_ event: borrowing Event, features: UnsafeBufferPointer<Double>, result: inout DetectionResult) {
        withUnsafePointer(to: event) { process($0, features: features, result: &result) }
    }

    /// Completes `result` for the event at `event`, reading it where it lies (a ring slot). Passing the event
    /// itself from a pointer's `pointee` made the caller copy all of it (569 bytes, most of which this stage never
    /// reads) in case the call wrote that memory; on the output thread that copy fetched the slot's every line
    /// from the core whose worker had just written it.
    public mutating func process(_ event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>, result: inout DetectionResult) {
        defer { if prepared.next < prepared.count { prepared.next += 1 } }
        runGlobalDetectors(event, features: features, result: &result)

        // Calibrate every warm detector's raw score against its own history, then learn the score.
        var combinedScore = 0.0
        var weightTotal = 0.0
        var calibratedCount = 0
        for i in specs.indices where result.warmDetectors & (1 << UInt8(i)) != 0 {
            let raw = result.rawScores[i]
            let calibrated = calibrators[i].percentile(of: raw)
            calibrators[i].add(raw)
            result.detectorScores[i] = calibrated
            guard !calibrated.isNaN else { continue }
            // A shadow detector is reported, never combined into the alert decision.
            if specs[i].shadow {
                if calibrated >= policy.threshold.fraction { result.shadowAlerts |= 1 << UInt8(i) }
                continue
            }
            calibratedCount += 1
            switch policy.combination {
            case .max: combinedScore = max(combinedScore, calibrated)
            case .mean: combinedScore += calibrated
            case .weightedMean: combinedScore += calibrated * specs[i].weight
            }
            weightTotal += specs[i].weight
        }
        if calibratedCount > 0 {
            if policy.combination == .mean { combinedScore /= Double(calibratedCount) }
            if policy.combination == .weightedMean, weightTotal > 0 { combinedScore /= weightTotal }
        }

        var ruleScore = 0.0
        for i in rules.indices where ruleProgram.holds(rule: i, features: features, event: event) {
            result.firedRules |= 1 << UInt64(i)
            ruleScore = max(ruleScore, rules[i].score)
        }

        result.score = max(ruleScore, combinedScore)
        var detectorsAlert = false
        if calibratedCount > 0 {
            let percentile = combined.percentile(of: combinedScore)
            combined.add(combinedScore)
            result.percentile = percentile.isNaN ? .nan : 100 * percentile
            switch policy.threshold {
            case .score(let threshold): detectorsAlert = combinedScore >= threshold
            case .percentile(let p): detectorsAlert = !percentile.isNaN && 100 * percentile >= p
            }
        }
        if result.firedRules != 0 { result.percentile = max(result.percentile.isNaN ? 0 : result.percentile, 100 * ruleScore) }

        if result.firedRules != 0 || detectorsAlert {
            result.alert = !inCooldown(event)
            result.suppressedByCooldown = !result.alert
        }
        if result.alert || result.suppressedByCooldown { explain(event, features, &result) }
    }

    private mutating func runGlobalDetectors(_ event: UnsafePointer<Event>, features: UnsafeBufferPointer<Double>, result: inout DetectionResult) {
        for g in globals.indices {
            let index = globals[g].index
            let kind = globals[g].kind
            if kind == .zScore {
                let r = globals[g].zScore!.process(event, value: globals[g].inputs[0].value(event: event, features: features))
                if r.isWarm {
                    result.rawScores[index] = r.score
                    result.details[index] = r.z
                    result.warmDetectors |= 1 << UInt8(index)
                }
                continue
            }
            if kind == .keyed {
                if let score = globals[g].keyed!.process(event, features: features) {
                    result.rawScores[index] = score
                    result.warmDetectors |= 1 << UInt8(index)
                    for k in globals[g].inputs.indices {
                        globals[g].contributions[k] = globals[g].keyed!.contributions[k] + globals[g].keyed!.lowContributions[k]
                    }
                }
                continue
            }
            guard kind == .trees || kind == .forest || kind == .supervised else { continue }
            if kind == .trees, prepared.next < prepared.count {
                // Scored ahead with the events around it (`prepareTrees`).
                let row = Int(prepared.rows[g * Self.preparedCapacity + prepared.next])
                guard row >= 0 else { continue }
                globals[g].walkEvent = row
                if treeWalks[g]!.warm[row] {
                    result.rawScores[index] = prepared.scores[g * Self.preparedCapacity + row]
                    result.warmDetectors |= 1 << UInt8(index)
                }
                continue
            }
            let n = globals[g].inputs.count
            // Inputs, scaled inputs and two rows of per-input shares on the stack; the detector is changed in
            // place in `globals` (moving it out and back cost two copies of the whole entry per event).
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 4 * n) { buffer in
                let x = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
                let scaled = UnsafeMutableBufferPointer(rebasing: buffer[n..<2 * n])
                let high = UnsafeMutableBufferPointer(rebasing: buffer[2 * n..<3 * n])
                let low = UnsafeMutableBufferPointer(rebasing: buffer[3 * n..<4 * n])
                for k in 0..<n { x[k] = globals[g].inputs[k].value(event: event, features: features) }
                let input = UnsafeBufferPointer(x)
                globals[g].scaler!.observe(input)
                guard globals[g].scaler!.isReady else { return }
                let vector = UnsafeBufferPointer(scaled)
                if kind == .supervised {
                    globals[g].scaler!.scale(input, into: scaled)
                    globals[g].labels!.remember(event.pointee.id, vector)
                    if globals[g].positives >= globals[g].minLabels, globals[g].negatives >= globals[g].minLabels {
                        result.rawScores[index] = globals[g].model!.predict(vector)
                        result.warmDetectors |= 1 << UInt8(index)
                        for k in 0..<n { globals[g].contributions[k] = globals[g].model!.weight(k) * vector[k] }
                    }
                    return
                }
                if kind == .forest {
                    globals[g].scaler!.scaleUnclamped(input, into: scaled)
                    let score = globals[g].forest!.scoreAndLearn(vector, high: high, low: low)
                    for k in 0..<n {
                        globals[g].contributions[k] = high[k]
                        globals[g].lowContributions[k] = low[k]
                    }
                    if !score.isNaN {
                        result.rawScores[index] = score
                        result.warmDetectors |= 1 << UInt8(index)
                    }
                    return
                }
                globals[g].scaler!.scale(input, into: scaled)
                let wasWarm = globals[g].trees!.isWarm
                globals[g].walkEvent = 0
                // The inputs' shares are worked out from the recorded walk only if the event alerts (`explain`).
                let score = globals[g].trees!.scoreAndLearn(vector, walk: &treeWalks[g]!)
                if wasWarm {
                    result.rawScores[index] = score
                    result.warmDetectors |= 1 << UInt8(index)
                }
            }
        }
    }

    private mutating func inCooldown(_ event: UnsafePointer<Event>) -> Bool {
        let key = event.pointee.entities[primaryEntity]
        let timeMs = event.pointee.timeMs
        guard key.isPresent, policy.cooldownMs > 0 else { return false }
        let lookup = cooldownIndex.lookup(key, nowMs: timeMs)
        if lastAlertMs.count < cooldownIndex.slotCapacity {
            lastAlertMs.append(contentsOf: repeatElement(.min, count: cooldownIndex.slotCapacity - lastAlertMs.count))
        }
        if lookup.isFresh { lastAlertMs[lookup.slot] = .min }
        let last = lastAlertMs[lookup.slot]
        if last != .min, timeMs >= last, timeMs < last + policy.cooldownMs { return true }
        lastAlertMs[lookup.slot] = timeMs
        return false
    }

    /// The strongest reasons, strongest detector first: a z-score detector's field and z; half-space trees'
    /// two inputs with the largest share of the anomaly.
    /// Runs on alerts only, but allocates nothing (orderings in stack buffers), like the rest of the event path.
    private func explain(_ event: UnsafePointer<Event>, _ features: UnsafeBufferPointer<Double>, _ result: inout DetectionResult) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: specs.count) { order in
            var warm = 0
            for i in specs.indices where result.warmDetectors & (1 << UInt8(i)) != 0 && !specs[i].shadow {
                order[warm] = i
                warm += 1
            }
            let scores = result.detectorScores
            func strength(_ i: Int) -> Double { scores[i].isNaN ? -1 : scores[i] }
            // Strongest first; ties in configuration order.
            let ranked = UnsafeMutableBufferPointer(rebasing: order[..<warm])
            ranked.sortWithoutAllocating { a, b in strength(a) > strength(b) || (strength(a) == strength(b) && a < b) }
            explain(event, features, &result, detectorsInOrder: UnsafeBufferPointer(ranked))
        }
    }

    private func explain(
        _ event: UnsafePointer<Event>, _ features: UnsafeBufferPointer<Double>, _ result: inout DetectionResult, detectorsInOrder order: UnsafeBufferPointer<Int>
    ) {
        var filled = 0
        for i in order where filled < DetectionResult.maxExplanation {
            switch specs[i].kind {
            case .robustZScore(let input, _, _, _):
                let source: ExplanationItem.Source = switch input {
                case .feature(let f): .feature(f)
                case .numericField(let f): .numericField(f)
                }
                result.explanation[filled] = ExplanationItem(source: source, value: input.value(event: event, features: features), contribution: result.details[i], detector: Int8(i))
                filled += 1
            case .halfSpaceTrees(let inputs, _, _, _, _, _, _, _), .randomCutForest(let inputs, _, _, _, _, _, _),
                .supervised(let inputs, _, _, _, _, _, _, _):
                guard let g = globals.firstIndex(where: { $0.index == i }) else {
                    // Kept per key of the primary entity: the worker passed its strongest inputs along.
                    for k in 0..<result.workerReasons.count where filled < DetectionResult.maxExplanation {
                        let reason = result.workerReasons[k]
                        guard reason.detector == Int8(i), reason.source != .none else { continue }
                        result.explanation[filled] = reason
                        filled += 1
                    }
                    continue
                }
                let global = globals[g]
                withUnsafeTemporaryAllocation(of: (input: Int, share: Double).self, capacity: inputs.count) { best in
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: inputs.count) { shares in
                        if let trees = global.trees, let walk = treeWalks[g] {
                            trees.contributions(of: walk, event: global.walkEvent, into: shares)
                        } else {
                            for k in inputs.indices { shares[k] = global.contributions[k] }
                        }
                        for k in inputs.indices {
                            let low = global.lowContributions.isEmpty ? 0 : global.lowContributions[k]
                            best[k] = (k, shares[k] + low)
                        }
                    }
                    // Largest share first; ties in input order.
                    best.sortWithoutAllocating { a, b in a.share > b.share || (a.share == b.share && a.input < b.input) }
                    for (k, share) in best.prefix(2) where filled < DetectionResult.maxExplanation && share > 0 {
                        let source: ExplanationItem.Source
                        let value: Double
                        switch inputs[k] {
                        case .feature(let f):
                            source = .feature(f)
                            value = features[f]
                        case .numericField(let f):
                            source = .numericField(f)
                            value = event.pointee.numeric[f]
                        }
                        result.explanation[filled] = ExplanationItem(source: source, value: value, contribution: share, detector: Int8(i))
                        filled += 1
                    }
                }
            }
        }
    }

    /// Trains the supervised detectors on a delayed label for an event they scored.
    ///
    /// - Returns: how many supervised detectors found the event in their cache (0 when unknown or expired).
    @discardableResult
    public mutating func learnLabel(eventID: EventID, label: Bool) -> Int {
        var joined = 0
        for g in globals.indices where globals[g].kind == .supervised {
            var model = globals[g].model!
            globals[g].model = nil
            let found = globals[g].labels!.take(eventID) { x in model.learn(x, label: label) }
            globals[g].model = model
            if found {
                joined += 1
                if label { globals[g].positives += 1 } else { globals[g].negatives += 1 }
            }
        }
        return joined
    }

    /// Labels joined and labels whose event was unknown or expired, over the supervised detectors.
    public var labelCounts: (joined: Int, unknown: Int) {
        globals.reduce((0, 0)) { ($0.0 + ($1.labels?.joined ?? 0), $0.1 + ($1.labels?.unknown ?? 0)) }
    }

    /// Replaces rules, detector weights and shadow flags, and the policy in place (hot reload); detector and
    /// calibration state is kept, so a shadow detector switched on alerts from the next event with its history.
    public mutating func reconfigure(rules: [Rule], weights: [String: Double], shadow: [String: Bool] = [:], policy: AlertPolicy) {
        self.rules = rules
        ruleProgram = RuleProgram(rules.map(\.expression))
        for i in specs.indices {
            if let w = weights[specs[i].name] { specs[i].weight = w }
            if let s = shadow[specs[i].name] { specs[i].shadow = s }
        }
        self.policy = policy
    }
}
