"""Whole-process `nnspec validate` timings, with baselines measured in the same run.

    python bench/validate_speed.py            # full: sizes 1k/3k/10k, all example specs vs Keras
    python bench/validate_speed.py --quick    # fewer repeats
    python bench/validate_speed.py --startup  # only the start-up cost of validating one spec
    python bench/validate_speed.py --startup --before DIR  # and of a checkout of another revision

Prints medians over repeated runs and the ratios the targets are stated in:
  * 1,000-layer spec: <= 0.5 s (YAML and .nns);  10,000 layers: <= 3 s;  10x layers within 12x time
  * every example spec: >= 15x faster than importing Keras and building the model
  * validating one spec (CI and editors call validate once per file): <= 1.5x the floor,
    `python -c "import yaml"`, both measured interleaved in the same run (issue 13)
The machine is noisy: read the medians and ratios, not single runs.
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

PY = sys.executable
# bytecode is cached as for a user (PYTHONDONTWRITEBYTECODE set to anything, "0" too, turns that off
# and makes every process compile the modules changed since their .pyc)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TF_CPP_MIN_LOG_LEVEL": "3"}

KERAS_BUILD = """
import sys
import keras
import nnspec
from nnspec.keras.build import build_graph
build_graph(nnspec.load(sys.argv[1]))
"""


def timed(cmd, repeats: int) -> float:
    """Median wall time of a whole process, after one warm-up run."""
    subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, check=False)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True)
        times.append(time.perf_counter() - t)
        if r.returncode not in (0,):
            raise SystemExit(f"{cmd} failed ({r.returncode}):\n{r.stdout.decode()}{r.stderr.decode()}")
    return statistics.median(times)


def startup(n: int, before: str | None = None) -> None:
    """Whole-process time of validating one small spec against the floor (the interpreter and
    PyYAML), run interleaved so that a noisy neighbour slows both alike. ``before``: a checkout of
    another revision (git worktree add DIR REV), whose validate runs in the same rounds."""
    here = {"cwd": ROOT, "env": ENV}
    cmds = {"floor     python -c 'import yaml'": ([PY, "-c", "import yaml"], here),
            "import    python -c 'import nnspec.api'": ([PY, "-c", "import nnspec.api"], here),
            "validate  specs/lab_quake.yaml": ([PY, "-m", "nnspec", "validate", "-q", "specs/lab_quake.yaml"], here),
            "validate  specs/resnet50.yaml": ([PY, "-m", "nnspec", "validate", "-q", "specs/resnet50.yaml"], here),
            "validate  specs/lab_quake.nns": ([PY, "-m", "nnspec", "validate", "-q", "specs/lab_quake.nns"], here)}
    if before:
        there = {"cwd": before, "env": {**ENV, "PYTHONPATH": os.path.abspath(before)}}
        # (not the .nns: both checkouts would take turns rewriting the one cached DSL parser)
        for spec in ("lab_quake.yaml", "resnet50.yaml"):
            cmds[f"before    specs/{spec}"] = ([PY, "-m", "nnspec", "validate", "-q", f"specs/{spec}"], there)
    times = {k: [] for k in cmds}
    for cmd, where in cmds.values():  # warm-up: byte-code written, caches filled
        subprocess.run(cmd, **where, capture_output=True, check=True)
    for _ in range(n * 3):
        for k, (cmd, where) in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, **where, capture_output=True, check=True)
            times[k].append(time.perf_counter() - t)
    floor = statistics.median(times["floor     python -c 'import yaml'"])
    print(f"start-up: medians of {n * 3} interleaved runs")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"{k:42} {m:7.3f} s  {m / floor:5.2f}x the floor")
    yaml_ratio = statistics.median(times["validate  specs/lab_quake.yaml"]) / floor
    print(f"validate one YAML spec: {yaml_ratio:.2f}x the floor, target <= 1.5x: "
          + ("ok" if yaml_ratio <= 1.5 else "MISSED") + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--startup", action="store_true", help="only the start-up cost of validating one spec")
    ap.add_argument("--before", metavar="DIR", help="with --startup: also time a checkout of another revision "
                    "(git worktree add DIR REV), interleaved")
    args = ap.parse_args()
    n = 3 if args.quick else 7
    startup(n, args.before)
    if args.startup:
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nnspec-bench-"))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; medians of {n} runs\n")
    base_py = timed([PY, "-c", "pass"], n)
    base_imports = timed([PY, "-c", "import yaml, jsonschema, lark"], n)
    print(f"baseline  python -c pass                         {base_py:7.3f} s")
    print(f"baseline  import yaml, jsonschema, lark          {base_imports:7.3f} s\n")

    sizes = {}
    for layers in (1000, 3000, 10000):
        path = tmp / f"chain_{layers}.yaml"
        path.write_text(gen_spec(layers))
        sizes[layers] = timed([PY, "-m", "nnspec", "validate", "-q", str(path)], n)
        target = {1000: 0.5, 10000: 3.0}.get(layers)
        verdict = "" if target is None else (f"target <= {target} s: " + ("ok" if sizes[layers] <= target else "MISSED"))
        print(f"validate  {layers:6,} layers                       {sizes[layers]:7.3f} s   {verdict}")
    nns = tmp / "chain_1000.nns"
    subprocess.run([PY, "-m", "nnspec", "convert", str(tmp / "chain_1000.yaml"), "--to", "nns", "-o", str(nns)],
                   cwd=ROOT, env=ENV, check=True, capture_output=True)
    t_nns = timed([PY, "-m", "nnspec", "validate", "-q", str(nns)], n)
    print(f"validate   1,000 layers, text form (.nns)        {t_nns:7.3f} s   target <= 0.5 s: "
          + ("ok" if t_nns <= 0.5 else "MISSED"))
    growth = sizes[10000] / sizes[1000]
    print(f"growth    10k / 1k                               {growth:7.2f}x   target <= 12x: "
          + ("ok" if growth <= 12 else "MISSED"))

    print("\nexample spec                    validate   keras build   speed-up (target >= 15x)")
    worst = None
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        v = timed([PY, "-m", "nnspec", "validate", "-q", str(spec)], n)
        k = timed([PY, "-c", KERAS_BUILD, str(spec)], max(3, n // 2))
        ratio = k / v
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{spec.stem:30}  {v:7.3f} s  {k:9.3f} s   {ratio:6.1f}x")
    print(f"\nslowest ratio: {worst:.1f}x  " + ("ok" if worst >= 15 else "MISSED"))


if __name__ == "__main__":
    main()
