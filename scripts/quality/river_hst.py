"""River's HalfSpaceTrees on the same inputs, with the same parameters and the same scaling as Vigil's
half-space trees, read from a `vigil replay --features-out` CSV; prints both detectors' ROC-AUC and PR-AUC on
the same rows as JSON.

Scaling follows Vigil's InputScaler: min and max of each input over the first `warmup` rows, widened by
`margin` of the span on each side; values are clamped to [0, 1] and a missing value is 0.5. Both models
learn from row `warmup` on and are evaluated from row `warmup + window` on, where both have a reference window.
"""
import argparse
import csv
import json
import math
import time

from river import anomaly


def rank_metrics(scores, labels):
    """ROC-AUC by average ranks (ties count half) and average precision (ties taken together)."""
    pairs = sorted(zip(scores, labels), key=lambda p: p[0])
    n = len(pairs)
    positives = sum(labels)
    negatives = n - positives
    rank_sum = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        average = (i + j) / 2 + 1
        rank_sum += average * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    roc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    ap = 0.0
    tp = 0
    predicted = 0
    previous_recall = 0.0
    k = n - 1
    while k >= 0:
        m = k
        while m - 1 >= 0 and pairs[m - 1][0] == pairs[k][0]:
            m -= 1
        for idx in range(m, k + 1):
            predicted += 1
            tp += pairs[idx][1]
        recall = tp / positives
        ap += (recall - previous_recall) * (tp / predicted)
        previous_recall = recall
        k = m - 1
    return roc, ap


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--inputs", required=True, help="comma-separated column names")
    parser.add_argument("--vigil-column", default="raw:hst")
    parser.add_argument("--trees", type=int, default=25)
    parser.add_argument("--height", type=int, default=15)
    parser.add_argument("--window", type=int, default=250)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rows", type=int, default=0, help="use only the first N rows (0: all)")
    args = parser.parse_args()

    inputs = args.inputs.split(",")
    rows = []
    with open(args.csv) as f:
        for i, row in enumerate(csv.DictReader(f)):
            if args.rows and i >= args.rows:
                break
            rows.append(row)

    def value(text):
        return float(text) if text != "" else math.nan

    low = {k: math.inf for k in inputs}
    high = {k: -math.inf for k in inputs}
    for row in rows[: args.warmup]:
        for k in inputs:
            v = value(row[k])
            if not math.isnan(v):
                low[k] = min(low[k], v)
                high[k] = max(high[k], v)
    for k in inputs:
        if not math.isfinite(low[k]) or not math.isfinite(high[k]):
            low[k], high[k] = 0.0, 1.0
        span = max(high[k] - low[k], 1e-9)
        low[k] -= args.margin * span
        high[k] += args.margin * span

    def scaled(row):
        x = {}
        for k in inputs:
            v = value(row[k])
            x[k] = 0.5 if math.isnan(v) else min(1.0, max(0.0, (v - low[k]) / (high[k] - low[k])))
        return x

    model = anomaly.HalfSpaceTrees(n_trees=args.trees, height=args.height, window_size=args.window, seed=args.seed)
    river_scores, vigil_scores, labels = [], [], []
    start = time.perf_counter()
    for i, row in enumerate(rows[args.warmup :], start=args.warmup):
        x = scaled(row)
        score = model.score_one(x)
        model.learn_one(x)
        if i >= args.warmup + args.window:
            river_scores.append(score)
            v = value(row[args.vigil_column])
            vigil_scores.append(-math.inf if math.isnan(v) else v)
            labels.append(int(row["label"]))
    seconds = time.perf_counter() - start
    river_roc, river_ap = rank_metrics(river_scores, labels)
    vigil_roc, vigil_ap = rank_metrics(vigil_scores, labels)
    print(json.dumps({
        "rows": len(labels), "positives": sum(labels), "inputs": inputs,
        "river": {"roc_auc": river_roc, "pr_auc": river_ap, "events_per_second": (len(rows) - args.warmup) / seconds},
        "vigil": {"roc_auc": vigil_roc, "pr_auc": vigil_ap},
    }))


if __name__ == "__main__":
    main()
