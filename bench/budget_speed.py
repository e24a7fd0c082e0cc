"""What budgets add to validation: `api.check_text` with no budget (the baseline, in the same run)
against every limit set and met (the figures only) and every limit exceeded (figures and the
"largest" hint, which builds summary's collapsed table).

    python bench/budget_speed.py [--repeats N]

In-process CPU time (time.process_time: less sensitive to a loaded machine than wall time),
medians, and the ratio to the baseline. Specs: resnet50 (block calls), bench/gen_spec.py's
10,000-layer chain, and 9,000 calls of a two-layer block (the hint's table groups block members).
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import spec as gen_spec  # noqa: E402

from nnspec import api  # noqa: E402

MET = {"params": "1T", "macs": "1T", "activation_memory": "1TiB", "batch_size": 8}
OVER = {"params": 0, "macs": 0, "activation_memory": 0, "batch_size": 8}


def calls(n: int) -> str:
    lines = ["nnspec: 1", "name: calls", "inputs: {x: [8]}", "blocks:", "  b:", "    layers:",
             "      - Dense: {units: 8}", "      - ReLU: {}", "layers:"]
    lines += [f"  - b: {{name: c{i}}}" for i in range(n)]
    return "\n".join(lines + ["outputs:", f"  c{n - 1}: {{loss: mse}}", ""])


def cpu(text, name, budget) -> float:
    t = time.process_time()
    spec, diags = api.check_text(text, name, budget=budget)
    took = time.process_time() - t
    want = 3 if budget is OVER else 0
    assert spec is not None and sum(d.code == "over-budget" for d in diags) == want, [d.format() for d in diags]
    return took


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    specs = [("resnet50.yaml", (ROOT / "specs/resnet50.yaml").read_text()),
             ("gen_spec 10,000 layers", gen_spec(10_000)),
             ("9,000 block calls", calls(9_000))]
    print(f"CPU seconds of api.check_text, medians of {args.repeats} runs (alternating)\n")
    print("| spec | no budget (baseline) | limits met | limits over (with hints) | ratios |")
    print("|---|---:|---:|---:|---:|")
    for name, text in specs:
        cpu(text, name, False)  # warm-up: the schema, the lark parsers, caches
        runs: dict = {False: [], "met": [], "over": []}
        for _ in range(args.repeats):
            runs[False].append(cpu(text, name, False))
            runs["met"].append(cpu(text, name, MET))
            runs["over"].append(cpu(text, name, OVER))
        base, met, over = (statistics.median(runs[k]) for k in (False, "met", "over"))
        print(f"| {name} | {base:.3f} | {met:.3f} | {over:.3f} | {met / base:.2f}x, {over / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
