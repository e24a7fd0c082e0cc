"""nnspec bounds (issue 10): tightness and speed, numpy networks (no TensorFlow: its start-up is
not part of the figures).

1. tightness: on random small ReLU networks (3 inputs, two hidden layers of 10, 2 outputs, box
   [-1, 1]^3), the mean over output elements of width(crown) / width(exact) and width(ibp) /
   width(exact) (the exact range is the baseline);
2. crown speed on a 784-256-256-10 ReLU MLP over an L-infinity box of radius 0.01 around a random
   input in [0, 1]^784, median of 7 runs, against interval arithmetic on the same box;
3. exact speed on networks with 50 unstable ReLUs (counted after CROWN): a 784-100-100-10 MLP whose
   box radius is chosen to leave 50 unstable, and a small 3-25-25-1 network whose ReLUs are all
   unstable (the hard case: every activation pattern is possible), against crown on the same network.

    python bench/bounds.py [--nets 30] [--runs 3] [--mnist]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnspec.bounding import net as N  # noqa: E402
from nnspec.bounding.compute import compute  # noqa: E402
from nnspec.bounding.crown import bounds as all_bounds  # noqa: E402


def mlp(rng, sizes, scale=None):
    net = N.Net()
    x = net.input("x", (sizes[0],))
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        s = np.sqrt(2.0 / a) if scale is None else scale
        x = N.dense(net, x, rng.normal(size=(a, b)) * s, rng.normal(size=b) * 0.1 if scale is None else
                    rng.normal(size=b) * 0.5)
        if i < len(sizes) - 2:
            x = net.act(x, "relu")
    net.outputs["y"] = x
    return net


def unstable(net, box):
    b = all_bounds(net, {k: tuple(np.ravel(v) for v in lohi) for k, lohi in box.items()})
    return int(sum(((b[n.inputs[0]][0] < 0) & (b[n.inputs[0]][1] > 0)).sum() for n in net.nodes if n.kind == "act"))


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nets", type=int, default=30)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--mnist", action="store_true", help="also exact on a 784-100-100-10 MLP (minutes)")
    a = p.parse_args()

    rng = np.random.default_rng(0)
    rc, ri = [], []
    for _ in range(a.nets):
        net = mlp(rng, (3, 10, 10, 2), scale=1.0)
        box = {"x": (-np.ones(3), np.ones(3))}
        w = {m: compute(net, box, m)["y"] for m in ("exact", "crown", "ibp")}
        ex = w["exact"]["upper"] - w["exact"]["lower"]
        ok = ex > 1e-9
        rc += list(((w["crown"]["upper"] - w["crown"]["lower"])[ok] / ex[ok]))
        ri += list(((w["ibp"]["upper"] - w["ibp"]["lower"])[ok] / ex[ok]))
    print(f"tightness, {a.nets} random 3-10-10-2 ReLU nets, box [-1, 1]^3: mean width crown/exact "
          f"{np.mean(rc):.2f}x (median {np.median(rc):.2f}x), ibp/exact {np.mean(ri):.2f}x (median {np.median(ri):.2f}x)")

    rng = np.random.default_rng(1)
    big = mlp(rng, (784, 256, 256, 10))
    x0 = rng.uniform(0, 1, size=784)
    box = {"x": (x0 - 0.01, x0 + 0.01)}
    compute(big, box, "crown")  # warm-up (imports)
    tc = timed(lambda: compute(big, box, "crown"), 7)
    ti = timed(lambda: compute(big, box, "ibp"), 7)
    print(f"crown, 784-256-256-10 ReLU MLP, radius 0.01 ({unstable(big, box)} unstable ReLUs): median "
          f"{tc * 1000:.1f} ms (ibp {ti * 1000:.2f} ms: crown/ibp {tc / ti:.0f}x)")

    rng = np.random.default_rng(3)
    small = mlp(rng, (3, 25, 25, 1), scale=1.0)
    box = {"x": (-np.ones(3), np.ones(3))}
    n = unstable(small, box)
    te = timed(lambda: compute(small, box, "exact"), a.runs)
    tc = timed(lambda: compute(small, box, "crown"), a.runs)
    print(f"exact, 3-25-25-1 ReLU net, box [-1, 1]^3 ({n} unstable ReLUs, 2 MILPs): median {te:.2f} s "
          f"(crown {tc * 1000:.1f} ms)")
    if not a.mnist:
        return
    # 784-100-100-10 with a radius leaving 50 unstable ReLUs
    rng = np.random.default_rng(2)
    mid = mlp(rng, (784, 100, 100, 10))
    x0 = rng.uniform(0, 1, size=784)
    lo_r, hi_r = 1e-5, 0.1
    for _ in range(40):
        r = (lo_r * hi_r) ** 0.5
        n = unstable(mid, {"x": (x0 - r, x0 + r)})
        if n == 50:
            break
        lo_r, hi_r = (r, hi_r) if n < 50 else (lo_r, r)
    box = {"x": (x0 - r, x0 + r)}
    n = unstable(mid, box)
    te = timed(lambda: compute(mid, box, "exact"), a.runs)
    tc = timed(lambda: compute(mid, box, "crown"), a.runs)
    print(f"exact, 784-100-100-10 ReLU MLP, radius {r:.4g} ({n} unstable ReLUs, 10 outputs, 20 MILPs): median "
          f"{te:.2f} s (crown {tc * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
