"""A compiled random cut forest peer for `vigil bench forest`: rcf3 (PyPI; a Rust implementation of Random Cut Forest
with Amazon's design and defaults — one point store shared by the trees, a time-decay sampler with rate
1 / (10 x sample), output after a quarter of the sample) called from Python on the same workload as the rrcf peer:
10-dimensional normal mixture, sample size 256 per tree, each point scored by its displacement (the counterpart of
the collusive displacement Vigil's forest reports) and then offered to the samplers. The Python loop adds well under
a microsecond per call to the forest's tens. Prints one JSON line per forest size with the rate.

    PYTHONPATH=.deps/python python3 scripts/peers/rcf3_peer.py --trees 50 100 --points 50000
"""
import argparse
import importlib.metadata
import json
import time

import rcf3

from rrcf_peer import normal_mixture


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, nargs="+", default=[50])
    parser.add_argument("--sample", type=int, default=256)
    parser.add_argument("--points", type=int, default=50000)
    parser.add_argument("--dimensions", type=int, default=10)
    args = parser.parse_args()

    points = [[float(v) for v in point] for point in normal_mixture(args.points, args.dimensions, seed=11)]
    for trees in args.trees:
        forest = rcf3.Forest(args.dimensions, num_trees=trees, capacity=args.sample, seed=99)
        checksum = 0.0
        start = time.perf_counter()
        for point in points:
            checksum += forest.displacement_score(point)
            forest.update(point)
        seconds = time.perf_counter() - start
        assert checksum > 0
        print(json.dumps({
            "name": f"rcf3 {importlib.metadata.version('rcf3')} (Rust, from Python), {trees} trees, "
                    f"sample {args.sample}: displacement score, then update",
            "trees": trees, "events": args.points, "seconds": seconds, "events_per_second": args.points / seconds,
        }), flush=True)


if __name__ == "__main__":
    main()
