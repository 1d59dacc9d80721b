/// Ranking and threshold metrics of anomaly scores against binary labels.
public struct BinaryClassificationMetrics: Sendable, Equatable {
    public var positives: Int
    public var negatives: Int
    /// Area under the ROC curve: the probability that a random positive scores above a random negative
    /// (ties count half). NaN without both classes.
    public var rocAUC: Double
    /// Area under the precision-recall curve as average precision (scikit-learn's definition): the mean of the
    /// precision at each positive's rank, tied scores taken together. Its baseline is the positive rate.
    public var prAUC: Double

    /// Computes both areas. NaN scores rank lowest.
    public init(scores: [Double], labels: [Bool]) {
        precondition(scores.count == labels.count)
        let cleaned = scores.map { $0.isNaN ? -Double.infinity : $0 }
        let order = cleaned.indices.sorted { cleaned[$0] < cleaned[$1] }
        positives = labels.filter { $0 }.count
        negatives = labels.count - positives
        guard positives > 0, negatives > 0 else {
            rocAUC = .nan
            prAUC = .nan
            return
        }
        // ROC-AUC from average ranks (Mann-Whitney U).
        var rankSumPositives = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, cleaned[order[j + 1]] == cleaned[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for k in i...j where labels[order[k]] { rankSumPositives += averageRank }
            i = j + 1
        }
        let p = Double(positives)
        let n = Double(negatives)
        rocAUC = (rankSumPositives - p * (p + 1) / 2) / (p * n)

        // Average precision, walking thresholds from the highest score down, ties as one step.
        var truePositives = 0.0
        var predicted = 0.0
        var previousRecall = 0.0
        var ap = 0.0
        var k = order.count - 1
        while k >= 0 {
            var m = k
            while m - 1 >= 0, cleaned[order[m - 1]] == cleaned[order[k]] { m -= 1 }
            for idx in m...k {
                predicted += 1
                if labels[order[idx]] { truePositives += 1 }
            }
            let recall = truePositives / p
            let precision = truePositives / predicted
            ap += (recall - previousRecall) * precision
            previousRecall = recall
            k = m - 1
        }
        prAUC = ap
    }
}

/// Precision and recall of yes/no decisions (alerts) against labels.
public struct DecisionMetrics: Sendable, Equatable {
    public var truePositives = 0
    public var falsePositives = 0
    public var falseNegatives = 0
    public var trueNegatives = 0

    public init() {}

    public mutating func add(decision: Bool, label: Bool) {
        switch (decision, label) {
        case (true, true): truePositives += 1
        case (true, false): falsePositives += 1
        case (false, true): falseNegatives += 1
        case (false, false): trueNegatives += 1
        }
    }

    public var precision: Double {
        truePositives + falsePositives == 0 ? .nan : Double(truePositives) / Double(truePositives + falsePositives)
    }

    public var recall: Double {
        truePositives + falseNegatives == 0 ? .nan : Double(truePositives) / Double(truePositives + falseNegatives)
    }
}
