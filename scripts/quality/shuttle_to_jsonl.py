"""Converts River's bundled Shuttle dataset (shuttle.csv.gz) to JSON lines for `vigil replay`, in file order,
with a synthetic id and a time one millisecond apart."""
import csv
import gzip
import json
import sys

source, target = sys.argv[1], sys.argv[2]
with gzip.open(source, "rt") as f, open(target, "w") as out:
    for i, row in enumerate(csv.DictReader(f)):
        record = {"id": f"s{i}", "ts": 1_767_225_600_000 + i}
        for k in range(1, 10):
            record[f"f{k}"] = float(row[f"f{k}"])
        record["anomaly"] = int(row["anomaly"])
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
