"""`nnspec compile` against the same model written by hand in Keras, measured in the same run.

    python bench/compile_speed.py                       # full: every spec in specs/, 7 runs per side
    python bench/compile_speed.py --quick               # 3 runs per side, fewer training steps
    python bench/compile_speed.py --specs lab_quake,siamese
    python bench/compile_speed.py --export-split lab_quake,resnet50   # export + verify stages alone
    python bench/compile_speed.py --only steps --control              # step timings with an A/A noise floor

For each spec, `bench/handwritten/<spec>.py` is what a Keras user would write
without nnspec: the same Functional model (layers, names, arguments, outputs
keyed by name, losses, weights, metrics, optimizer) and Keras's own
`model.export(dir)`. Two comparisons:

  1. whole process, wall time: `nnspec compile specs/X.yaml -o DIR --quiet`
     (parse, validate, build, tf.Module SavedModel, reload and verify) against
     `python bench/handwritten/X.py DIR` (build, model.export), both with
     TF_CPP_MIN_LOG_LEVEL=3, runs interleaved (A B A B ...), medians after a
     warm-up.  Target: nnspec / hand-written <= 1.05 on every spec.
  2. in one process: nnspec.build(spec) and the hand-written make_model(),
     weights copied by layer name, then outputs compared (predict_on_batch),
     losses and metrics compared (test_on_batch), and the median time of
     train_on_batch / predict_on_batch steps (batch 32, 4 for 224x224 inputs;
     synthetic data; interleaved; --control adds an A/A pair for the noise
     floor).  Target: step-time ratio <= 1.05.

For context it also prints where each process spends its time: the stage
lines `nnspec compile` prints without --quiet, and the same split for the
hand-written script (import keras / build+compile / model.export), one run each.
The machine is noisy: read the medians and ratios, not single runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HAND = ROOT / "bench" / "handwritten"
PY = sys.executable
# bytecode cached as for a user (PYTHONDONTWRITEBYTECODE set to anything, "0" too, turns that off)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TF_CPP_MIN_LOG_LEVEL": "3"}
_SCRIPT = pathlib.Path(PY).with_name("nnspec")
NNSPEC = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "nnspec"]

COMPILE_TARGET = 1.05  # issue 12 (was 1.15)
STEP_TARGET = 1.05

# the hand-written script, split into stages (same work as `python X.py DIR`, with clocks around it)
HAND_BREAKDOWN = """
import json, sys, time, importlib.util
t0 = time.perf_counter()
import keras
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("hand", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
model = mod.make_model()
t2 = time.perf_counter()
model.export(sys.argv[2])
t3 = time.perf_counter()
print("BREAKDOWN " + json.dumps({"import keras": t1 - t0, "build": t2 - t1, "export": t3 - t2}))
"""

# --export-split: the export stages alone, in a fresh process per run, on the same model (nnspec's build):
# nnspec's tf.Module SavedModel (trace, save) and its verification (the in-memory model's outputs: an eager
# forward, or a call of the traced serving function, which compile uses unless a Custom layer may be random;
# reload; first call of the reloaded signature) against Keras's model.export
EXPORT_SPLIT = """
import json, sys, tempfile, time
import nnspec
from nnspec.keras.build import build
from nnspec.keras import export as ex
import tensorflow as tf
spec = nnspec.load(sys.argv[1]); model = build(spec); out = {}
d = tempfile.mkdtemp(dir=sys.argv[3])
T = time.perf_counter
if sys.argv[2] == "keras":
    t = T(); model.export(d + "/k"); out["keras model.export"] = T() - t
else:
    t = T(); module = ex.serving_module(model, spec); cf = module.serve.get_concrete_function()
    a = T(); tf.saved_model.save(module, d + "/n", signatures={"serving_default": cf}); b = T()
    out["nnspec trace"], out["nnspec save"] = a - t, b - a
    batch = ex.random_batch(spec)
    t = T(); model(ex.model_inputs(spec, batch), training=False); a = T()
    ex.expected_outputs(model, spec, module, batch); a2 = T()
    loaded = tf.saved_model.load(d + "/n"); b = T()
    loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in batch.items()}); c = T()
    out["verify: eager forward"], out["verify: traced forward"] = a - t, a2 - a
    out["verify: reload"], out["verify: reloaded call"] = b - a2, c - b
print("SPLIT " + json.dumps(out))
"""


def export_split(name: str, runs: int, tmp: pathlib.Path) -> dict:
    spec = str(ROOT / "specs" / f"{name}.yaml")
    acc: dict = {}
    for i in range(runs):
        for mode in (("nnspec", "keras") if i % 2 == 0 else ("keras", "nnspec")):
            _, out, _ = run([PY, "-c", EXPORT_SPLIT, spec, mode, str(tmp)])
            line = next(l for l in out.splitlines() if l.startswith("SPLIT "))
            for k, v in json.loads(line[len("SPLIT "):]).items():
                acc.setdefault(k, []).append(v)
        for p in tmp.iterdir():
            shutil.rmtree(p, ignore_errors=True)
    return {k: statistics.median(v) for k, v in acc.items()}


def run(cmd) -> tuple[float, str, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                         f"{r.stdout.decode()[-3000:]}{r.stderr.decode()[-3000:]}")
    return dt, r.stdout.decode(), r.stderr.decode()


def _seconds(text: str) -> float:
    value, unit = text.split()
    return float(value) / 1000 if unit == "ms" else float(value)


def stage_times(stderr: str) -> dict:
    """The `stage 123 ms` / `stage 4.1 s` lines nnspec compile prints."""
    out = {}
    for line in stderr.splitlines():
        m = re.fullmatch(r"(parse|validate|load tensorflow|build|export|verify) ([\d.]+ m?s)", line.strip())
        if m:
            out[m.group(1)] = _seconds(m.group(2))
    return out


def compile_compare(name: str, runs: int, tmp: pathlib.Path) -> dict:
    spec = ROOT / "specs" / f"{name}.yaml"
    hand = HAND / f"{name}.py"
    counter = iter(range(10 ** 6))

    def nnspec_cmd(quiet=True):
        return NNSPEC + ["compile", str(spec), "-o", str(tmp / f"n{next(counter)}")] + (["--quiet"] if quiet else [])

    def hand_cmd():
        return [PY, str(hand), str(tmp / f"h{next(counter)}")]

    def clean():
        for p in tmp.iterdir():
            shutil.rmtree(p, ignore_errors=True)

    # warm-up, one run each, doubling as the per-stage breakdown (single runs: context only)
    wall_n, _, err = run(nnspec_cmd(quiet=False))
    stages = stage_times(err)
    stages["other (python start, import nnspec, exit)"] = wall_n - sum(stages.values())
    wall_h, out, _ = run([PY, "-c", HAND_BREAKDOWN, str(hand), str(tmp / f"h{next(counter)}")])
    line = next(l for l in out.splitlines() if l.startswith("BREAKDOWN "))
    hstages = json.loads(line[len("BREAKDOWN "):])
    hstages["other (python start, exit)"] = wall_h - sum(hstages.values())
    clean()

    a, b = [], []
    for i in range(runs):  # A B A B ..., alternating which goes first
        pair = [("n", nnspec_cmd()), ("h", hand_cmd())]
        for who, cmd in (pair if i % 2 == 0 else pair[::-1]):
            (a if who == "n" else b).append(run(cmd)[0])
        clean()
    na, hb = statistics.median(a), statistics.median(b)
    return {"nnspec": na, "hand": hb, "ratio": na / hb, "nnspec_runs": a, "hand_runs": b,
            "nnspec_stages": stages, "nnspec_stage_wall": wall_n, "hand_stages": hstages, "hand_stage_wall": wall_h}


# ------------------------------------------------------------------ in-process: same model, same speed?
def _load_hand(name: str):
    spec = importlib.util.spec_from_file_location(f"handwritten_{name}", HAND / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _copy_weights(src, dst) -> None:
    """By variable name within the layer ('kernel', 'bias', 'g') when both layers name their
    variables uniquely (a hand-written layer may create them in another order), else by order."""
    base = lambda layer: [w.path.rsplit("/", 1)[-1] for w in layer.weights]  # noqa: E731
    bs, bd = base(src), base(dst)
    if len(set(bs)) == len(bs) and sorted(bs) == sorted(bd):
        by_name = dict(zip(bs, src.get_weights()))
        dst.set_weights([by_name[n] for n in bd])
    else:
        dst.set_weights(src.get_weights())


def _median_steps(fa, fb, steps: int) -> tuple[float, float]:
    ta, tb = [], []
    for i in range(steps):
        order = ((fa, ta), (fb, tb)) if i % 2 == 0 else ((fb, tb), (fa, ta))
        for f, acc in order:
            t = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def _step_batch(name: str) -> int:
    """32, or 4 for ImageNet-sized inputs (a ResNet50 step at batch 32 takes ~15 s on 2 cores)."""
    import nnspec
    spec = nnspec.load(ROOT / "specs" / f"{name}.yaml")
    per_sample = max(_prod(d or 3 for d in i.shape[1:]) for i in spec.inputs.values())
    return 4 if per_sample >= 100_000 else 32


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def train_compare(name: str, steps: int, warmup: int, batch: int = 32, control: bool = False) -> dict:
    import keras
    import numpy as np

    import nnspec
    from nnspec.keras.check import synthetic_targets
    from nnspec.keras.export import model_inputs, random_batch

    keras.backend.clear_session()
    spec = nnspec.load(ROOT / "specs" / f"{name}.yaml")
    a = nnspec.build(spec)
    b = _load_hand(name).make_model()
    res = {"batch": batch, "params": (a.count_params(), b.count_params()),
           "trainable": (sum(int(np.prod(w.shape)) for w in a.trainable_weights),
                         sum(int(np.prod(w.shape)) for w in b.trainable_weights))}
    weighted_a = {l.name for l in a.layers if l.weights}
    weighted_b = {l.name for l in b.layers if l.weights}
    res["layers_match"] = weighted_a == weighted_b
    for layer in a.layers:
        if layer.weights and layer.name in weighted_b:
            _copy_weights(layer, b.get_layer(layer.name))

    x = model_inputs(spec, random_batch(spec, batch=batch))
    y = synthetic_targets(spec, batch)
    pa, pb = a.predict_on_batch(x), b.predict_on_batch(x)
    for k in pa:  # Keras wants a target for every output of a dict model with metrics; no loss reads these
        y.setdefault(k, np.zeros_like(pa[k]))
    res["outputs_equal"] = sorted(pa) == sorted(pb) and all(np.array_equal(pa[k], pb[k]) for k in pa)
    res["outputs_max_diff"] = max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa) if sorted(pa) == sorted(pb) else None
    ea, eb = a.test_on_batch(x, y, return_dict=True), b.test_on_batch(x, y, return_dict=True)
    res["eval_keys"] = sorted(ea)
    res["eval_equal"] = sorted(ea) == sorted(eb) and all(np.isclose(ea[k], eb[k], rtol=1e-5, atol=1e-7) for k in ea)
    res["eval"] = (ea, eb)

    for _ in range(warmup):
        a.train_on_batch(x, y)
        b.train_on_batch(x, y)
        a.predict_on_batch(x)
        b.predict_on_batch(x)
    ta, tb = _median_steps(lambda: a.train_on_batch(x, y), lambda: b.train_on_batch(x, y), steps)
    qa, qb = _median_steps(lambda: a.predict_on_batch(x), lambda: b.predict_on_batch(x), steps)
    res.update(train=(ta, tb), train_ratio=ta / tb, predict=(qa, qb), predict_ratio=qa / qb)
    if control:  # A/A: the hand-written model against a second copy of itself, the noise floor
        c = _load_hand(name).make_model()
        for layer in b.layers:
            if layer.weights:
                _copy_weights(layer, c.get_layer(layer.name))
        for _ in range(warmup):
            c.train_on_batch(x, y)
            c.predict_on_batch(x)
        tb2, tc = _median_steps(lambda: b.train_on_batch(x, y), lambda: c.train_on_batch(x, y), steps)
        qb2, qc = _median_steps(lambda: b.predict_on_batch(x), lambda: c.predict_on_batch(x), steps)
        res.update(control_train_ratio=tb2 / tc, control_predict_ratio=qb2 / qc)
    return res


# ------------------------------------------------------------------ main
def _ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 runs per side, 15 training steps")
    ap.add_argument("--specs", help="comma-separated spec names (default: every spec in specs/)")
    ap.add_argument("--runs", type=int, help="whole-process runs per side (default 7, --quick 3)")
    ap.add_argument("--steps", type=int, help="timed training / prediction steps (default 30, --quick 15)")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    ap.add_argument("--only", choices=["compile", "steps"], help="run one of the two comparisons")
    ap.add_argument("--control", action="store_true", help="also time the hand-written model against a second "
                    "copy of itself (A/A), to show the step-timing noise floor")
    ap.add_argument("--export-split", metavar="SPECS", help="only this: nnspec's export + verify stages against "
                    "Keras's model.export on the same model, fresh process per run (comma-separated spec names)")
    args = ap.parse_args()
    if args.export_split:
        runs = args.runs or 3
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="nnspec-export-split-"))
        print(f"export stages alone, same model (nnspec's build), fresh process per run, medians of {runs}, seconds")
        try:
            for n in args.export_split.split(","):
                r = export_split(n, runs, tmp)
                nn = sum(v for k, v in r.items() if k.startswith("nnspec"))
                ver = sum(v for k, v in r.items() if k.startswith("verify"))
                print(f"{n:26} " + "  ".join(f"{k} {v:.2f}" for k, v in r.items()))
                print(f"{'':26} nnspec export {nn:.2f} + verify {ver:.2f} = {nn + ver:.2f}  vs  Keras model.export "
                      f"{r['keras model.export']:.2f}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    runs = args.runs or (3 if args.quick else 7)
    steps = args.steps or (15 if args.quick else 30)
    names = args.specs.split(",") if args.specs else sorted(  # the specs that have a hand-written twin
        p.stem for p in (ROOT / "specs").glob("*.yaml") if (HAND / f"{p.stem}.py").exists())
    for n in names:
        if not (ROOT / "specs" / f"{n}.yaml").exists() or not (HAND / f"{n}.py").exists():
            raise SystemExit(f"no specs/{n}.yaml or bench/handwritten/{n}.py")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nnspec-compile-bench-"))
    results: dict = {"runs": runs, "steps": steps, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                     "compile": {}, "train": {}}
    started = time.time()
    print(f"python {results['python']}, {os.cpu_count()} cores"
          + (f"; whole-process medians of {runs} interleaved runs per side after a warm-up" if args.only != "steps"
             else ""))

    if args.only != "steps":
        worst, ratios = compile_section(names, runs, tmp, results)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.only != "compile":
        tr, pr, same_params, same_out, same_eval = steps_section(names, steps, args, results)
    print(f"\nverdicts ({(time.time() - started) / 60:.1f} min):")
    if args.only != "steps":
        print(f"  whole-process compile, worst ratio {worst:.2f}x (median {statistics.median(ratios):.2f}x), "
              f"target <= {COMPILE_TARGET}: {_ok(worst <= COMPILE_TARGET)}")
    if args.only != "compile":
        print(f"  train_on_batch step, worst ratio {max(tr):.2f}x (median {statistics.median(tr):.2f}x), "
              f"target <= {STEP_TARGET}: {_ok(max(tr) <= STEP_TARGET)}")
        print(f"  predict_on_batch step, worst ratio {max(pr):.2f}x (median {statistics.median(pr):.2f}x), "
              f"target <= {STEP_TARGET}: {_ok(max(pr) <= STEP_TARGET)}")
        print(f"  same parameter counts and weighted layers: {'yes' if same_params else 'NO'}; "
              f"outputs equal after copying weights: {'yes' if same_out else 'NO'}; "
              f"losses and metrics equal: {'yes' if same_eval else 'NO'}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2, default=str))


def compile_section(names, runs, tmp, results):
    print(f"\n{'spec':26} {'nnspec compile':>14} {'hand-written':>13} {'ratio':>7}   target <= {COMPILE_TARGET}")
    try:
        for n in names:
            r = compile_compare(n, runs, tmp)
            results["compile"][n] = r
            print(f"{n:26} {r['nnspec']:12.2f} s {r['hand']:11.2f} s {r['ratio']:6.2f}x   {_ok(r['ratio'] <= COMPILE_TARGET)}",
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = [r["ratio"] for r in results["compile"].values()]
    worst = max(ratios)
    print(f"{'median ratio':26} {statistics.median(ratios):37.2f}x")
    print(f"{'worst ratio':26} {worst:37.2f}x   {_ok(worst <= COMPILE_TARGET)}")

    print("\nwhere the time goes (one run each, seconds; context, not a measurement to compare):")
    print(f"  nnspec compile {'':11}" + "".join(f"{c:>10}" for c in ["parse+val", "load tf", "build", "export",
                                                                       "verify", "other", "wall"]))
    for n, r in results["compile"].items():
        s = r["nnspec_stages"]
        vals = [s.get("parse", 0) + s.get("validate", 0), s.get("load tensorflow", 0), s.get("build", 0),
                s.get("export", 0), s.get("verify", 0), s["other (python start, import nnspec, exit)"],
                r["nnspec_stage_wall"]]
        print(f"  {n:26}" + "".join(f"{v:10.2f}" for v in vals))
    print(f"  hand-written {'':13}" + "".join(f"{c:>10}" for c in ["", "import", "build", "export", "", "other",
                                                                     "wall"]))
    for n, r in results["compile"].items():
        s = r["hand_stages"]
        vals = [s["import keras"], s["build"], s["export"], s["other (python start, exit)"], r["hand_stage_wall"]]
        print(f"  {n:26}{'':10}" + f"{vals[0]:10.2f}{vals[1]:10.2f}{vals[2]:10.2f}{'':10}{vals[3]:10.2f}{vals[4]:10.2f}")
    return worst, ratios


def steps_section(names, steps, args, results):
    print(f"\nsame model, same speed? (one process; weights copied by layer name; synthetic batch; "
          f"median of {steps} interleaved steps, half as many at batch 4)")
    print(f"{'spec':26} {'params':>11} {'batch':>5} {'outputs':>8} {'losses':>7} {'train nnspec':>13} {'hand':>8} {'ratio':>6} "
          f"{'predict nnspec':>15} {'hand':>8} {'ratio':>6}")
    for n in names:
        batch = _step_batch(n)
        r = train_compare(n, steps if batch == 32 else max(5, steps // 2), warmup=3 if args.quick else 5, batch=batch,
                          control=args.control)
        results["train"][n] = r
        pa, pb = r["params"]
        params = f"{pa:,}" if pa == pb else f"{pa}!={pb}"
        print(f"{n:26} {params:>11} {batch:5} {'equal' if r['outputs_equal'] else 'DIFFER':>8} "
              f"{'equal' if r['eval_equal'] else 'DIFFER':>7} "
              f"{r['train'][0] * 1000:10.1f} ms {r['train'][1] * 1000:5.1f} ms {r['train_ratio']:5.2f}x "
              f"{r['predict'][0] * 1000:12.1f} ms {r['predict'][1] * 1000:5.1f} ms {r['predict_ratio']:5.2f}x"
              + (f"   A/A {r['control_train_ratio']:.2f}x {r['control_predict_ratio']:.2f}x" if args.control else ""),
              flush=True)
    same_params = all(r["params"][0] == r["params"][1] and r["layers_match"] for r in results["train"].values())
    same_out = all(r["outputs_equal"] for r in results["train"].values())
    same_eval = all(r["eval_equal"] for r in results["train"].values())
    tr = [r["train_ratio"] for r in results["train"].values()]
    pr = [r["predict_ratio"] for r in results["train"].values()]
    return tr, pr, same_params, same_out, same_eval


if __name__ == "__main__":
    main()
