"""The random cut forest peer for `vigil bench forest`: rrcf (PyPI; a community Python implementation of Guha et
al.'s robust random cut forest, Amazon's algorithm) on the same workload: 10-dimensional normal mixture, sample size
256 per tree, each point inserted into every tree (the oldest forgotten once a tree holds the sample) and scored by
its collusive displacement, as rrcf's own streaming example does. Prints one JSON line with the rate.

    PYTHONPATH=.deps/python python3 scripts/peers/rrcf_peer.py --trees 50 --points 2000
"""
import argparse
import json
import time

import numpy as np
import rrcf


def normal_mixture(count, dimensions, seed):
    """Two unit-variance Gaussian clusters five apart on every axis and one point in a hundred uniform in a wide box."""
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random(count) < 0.5, 0.0, 5.0)[:, None]
    points = centres + rng.standard_normal((count, dimensions))
    outliers = rng.random(count) < 0.01
    points[outliers] = rng.random((outliers.sum(), dimensions)) * 30 - 10
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--sample", type=int, default=256)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--dimensions", type=int, default=10)
    args = parser.parse_args()

    points = normal_mixture(args.points, args.dimensions, seed=11)
    forest = [rrcf.RCTree() for _ in range(args.trees)]
    checksum = 0.0
    start = time.perf_counter()
    for index, point in enumerate(points):
        for tree in forest:
            if len(tree.leaves) >= args.sample:
                tree.forget_point(index - args.sample)
            tree.insert_point(point, index=index)
            checksum += tree.codisp(index)
    seconds = time.perf_counter() - start
    assert checksum > 0
    print(json.dumps({
        "name": f"rrcf 0.4.4 (Python), {args.trees} trees, sample {args.sample}",
        "trees": args.trees, "events": args.points, "seconds": seconds, "events_per_second": args.points / seconds,
    }))


if __name__ == "__main__":
    main()
