"""Whole-process `nnspec diff` of two 1,000-layer specs, with a baseline measured in the same run.

    python bench/diff_speed.py [--repeats N]

Target: under 1 s. The machine is noisy, so the figure is a median, and the ratio to
`python -c "import yaml"` (measured alternately with it) says how much is nnspec's own.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import spec as gen_spec  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


CPU: list = []


def wall(cmd) -> float:
    """Wall time of the whole process; its CPU time (user + system, less sensitive to a loaded machine) goes to CPU."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, check=False)
    wall_s = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return wall_s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--layers", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        old, new = os.path.join(d, "old.yaml"), os.path.join(d, "new.yaml")
        text = gen_spec(args.layers)
        with open(old, "w") as f:
            f.write(text)
        with open(new, "w") as f:  # a few real changes: wider layers (shapes ripple), a new rate
            f.write(text.replace("units: 64, activation: relu, name: d7}", "units: 96, activation: relu, name: d7}")
                    .replace("{units: 64, kernel_regularizer: {l2: 0.001}, name: e7}",
                             "{units: 96, kernel_regularizer: {l2: 0.001}, name: e7}")
                    .replace("{rate: 0.1, name: drop100}", "{rate: 0.3, name: drop100}"))
        diff = [sys.executable, "-m", "nnspec", "diff", old, new]
        out = subprocess.run(diff, cwd=ROOT, env=ENV, capture_output=True, text=True)
        assert out.returncode == 1, out.stderr
        base_cmd = [sys.executable, "-c", "import yaml"]
        wall(diff), wall(base_cmd)  # warm-up (bytecode, lark cache, page cache)
        ds, bs, dc, bc = [], [], [], []
        for _ in range(args.repeats):
            ds.append(wall(diff))
            dc.append(CPU[-1])
            bs.append(wall(base_cmd))
            bc.append(CPU[-1])
    md, mb = statistics.median(ds), statistics.median(bs)
    print(f"nnspec diff, {args.layers:,}-layer specs: median {md:.3f} s over {args.repeats} runs "
          f"(min {min(ds):.3f} s); target < 1 s: {'ok' if md < 1 else 'MISSED'}")
    print(f"python -c 'import yaml' (baseline): median {mb:.3f} s; ratio {md / mb:.1f}x")
    print(f"CPU time (user + system), medians: diff {statistics.median(dc):.3f} s, baseline "
          f"{statistics.median(bc):.3f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"changes found: {out.stdout.splitlines()[2]}")
    return 0 if md < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
