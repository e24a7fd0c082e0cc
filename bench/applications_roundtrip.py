"""Every keras.applications constructor through `nnspec import` and back (issue 8, item 6).

    python bench/applications_roundtrip.py                     # all 40 constructors
    python bench/applications_roundtrip.py --family ConvNeXt   # one family (substring of its name)
    python bench/applications_roundtrip.py --models ResNet50,VGG16 --json out.json

For each constructor, built with weights=None at a small input size it accepts
(32x32, or the family's minimum: 75 for InceptionV3 and InceptionResNetV2, 71
for Xception), the stages are those a user runs:

  keras     build the model, save it as model.keras
  load      read the file back as `nnspec import` does (load_model_ref)
  import    the spec (import_model), written as YAML (spec_to_yaml)
  validate  the YAML through nnspec's validator (no diagnostics at all)
  params    nnspec's static count (no TensorFlow) == Keras's model.count_params()
  build     nnspec's Keras model (what `nnspec compile` exports); its count_params() == Keras's
  weights   every weight of the original copied into it by layer name (nested models flattened)
  outputs   the same random batch (values 0..255) through both, training=False: max |diff| <= 1e-5 * max |y|
  export    (with --export) `nnspec compile`'s export and verification into a temporary directory

One line per model: `ok` or the stage that failed and the first line of its
error, with the seconds it took; then a per-family summary. Keras's own
building time is measured apart from nnspec's (import + validate + build).
Run it niced: the big ones (ConvNeXtXLarge, 350M parameters) take a minute
and several GB each.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the kernels every CPU has (as the tests)

# family -> constructors; input side per family (the smallest Keras accepts or 32)
FAMILIES = {
    "ConvNeXt": ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge"],
    "DenseNet": ["DenseNet121", "DenseNet169", "DenseNet201"],
    "EfficientNet": [f"EfficientNetB{i}" for i in range(8)],
    "EfficientNetV2": [f"EfficientNetV2B{i}" for i in range(4)] + ["EfficientNetV2S", "EfficientNetV2M",
                                                                   "EfficientNetV2L"],
    "InceptionResNetV2": ["InceptionResNetV2"],
    "InceptionV3": ["InceptionV3"],
    "MobileNet": ["MobileNet"],
    "MobileNetV2": ["MobileNetV2"],
    "MobileNetV3": ["MobileNetV3Small", "MobileNetV3Large"],
    "NASNet": ["NASNetMobile", "NASNetLarge"],
    "ResNet": ["ResNet50", "ResNet101", "ResNet152"],
    "ResNetV2": ["ResNet50V2", "ResNet101V2", "ResNet152V2"],
    "VGG": ["VGG16", "VGG19"],
    "Xception": ["Xception"],
}
SIDE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
STAGES = ("keras", "load", "import", "validate", "params", "build", "weights", "outputs", "export")


def family_of(name: str) -> str:
    return next(f for f, names in FAMILIES.items() if name in names)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


class Failed(Exception):
    def __init__(self, stage, message):
        super().__init__(message)
        self.stage, self.message = stage, message


def leaf_layers(model) -> list:
    """The model's layers, nested models flattened (as `nnspec import` flattens them: ConvNeXt's stem)."""
    out = []
    for layer in model.layers:
        out += leaf_layers(layer) if hasattr(layer, "layers") else [layer]
    return out


def run_one(name: str, export: bool, side: int | None, tmp: str) -> dict:
    import keras
    import numpy as np

    import nnspec
    from nnspec.api import check_text
    from nnspec.summary import totals

    result = {"model": name, "family": family_of(name), "stage": None, "error": None}
    stage = "keras"
    try:
        s = side or SIDE.get(family_of(name), 32)
        t = time.perf_counter()
        model = getattr(keras.applications, name)(weights=None, input_shape=(s, s, 3))
        path = os.path.join(tmp, f"{name}.keras")
        model.save(path)
        result.update(side=s, keras_params=model.count_params(), keras_s=time.perf_counter() - t)

        timings = result["timings"] = {}

        def lap(name):
            nonlocal t
            now = time.perf_counter()
            timings[name] = round(now - t, 3)
            t = now

        t = time.perf_counter()
        stage = "load"
        from nnspec.keras.importer import import_model, load_model_ref, spec_to_yaml
        loaded = load_model_ref(path)
        lap("load")
        stage = "import"
        imported = import_model(loaded)
        text = spec_to_yaml(imported.data, imported.notes, source=os.path.basename(path))
        lap("import")
        stage = "validate"
        spec, diags = check_text(text, f"{name}.yaml")
        lap("validate")
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise Failed(stage, f"{len(errors)} error(s), first: {errors[0].span.line}: {errors[0].message}")
        result["warnings"] = sorted({d.code for d in diags})
        stage = "params"
        static = sum(totals(spec))
        if static != result["keras_params"]:
            raise Failed(stage, f"nnspec counts {static:,}, Keras {result['keras_params']:,}")
        stage = "build"
        built = nnspec.build(spec, compile=False)
        lap("build")
        if built.count_params() != result["keras_params"]:
            raise Failed(stage, f"built model has {built.count_params():,} params, Keras {result['keras_params']:,}")

        stage = "weights"
        copied = 0
        ours = {layer.name: layer for layer in built.layers}
        for layer in leaf_layers(model):
            if not layer.weights:
                continue
            if layer.name not in ours:
                raise Failed(stage, f"layer '{layer.name}' with weights is not in nnspec's model")
            ours[layer.name].set_weights(layer.get_weights())
            copied += len(layer.weights)
        result["weights_copied"] = copied

        stage = "outputs"
        x = np.random.default_rng(0).uniform(0, 255, size=(2, s, s, 3)).astype("float32")
        want = np.asarray(model(x, training=False))
        got = built(x, training=False)
        got = np.asarray(got[imported.outputs[0]] if isinstance(got, dict) else got)
        diff = float(np.max(np.abs(want - got)))
        result["max_abs_diff"] = diff
        tol = 1e-5 * float(np.max(np.abs(want)))
        if not diff <= tol:
            raise Failed(stage, f"max |diff| {diff:.3g} > {tol:.3g}")

        if export:
            stage = "export"
            from nnspec.keras.export import export as export_model
            t = time.perf_counter()
            out_dir = os.path.join(tmp, f"{name}_savedmodel")
            compiled = nnspec.build(spec)
            for layer in compiled.layers:
                if layer.name in ours and layer.weights:
                    layer.set_weights(ours[layer.name].get_weights())
            export_model(compiled, spec, out_dir, text.encode())
            lap("export")
        result["stage"] = "ok"
    except Failed as e:
        result.update(stage=e.stage, error=e.message)
    except Exception as e:  # noqa: BLE001 - any failure is a row of the table
        result.update(stage=stage, error=_first_line(e))
        if os.environ.get("NNSPEC_BENCH_TRACE"):
            traceback.print_exc()
    finally:
        for f in os.listdir(tmp):
            p = os.path.join(tmp, f)
            if os.path.isfile(p):
                os.remove(p)
        import keras
        keras.backend.clear_session()
        gc.collect()
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", help="only families whose name contains this (case-insensitive)")
    ap.add_argument("--models", help="comma-separated constructor names")
    ap.add_argument("--side", type=int, help="input height and width for every model (default per family)")
    ap.add_argument("--export", action="store_true", help="also run nnspec compile's export and verification")
    ap.add_argument("--json", metavar="FILE", help="append the results as JSON lines to FILE")
    args = ap.parse_args(argv)
    names = [n for f, ns in FAMILIES.items() for n in ns
             if not args.family or args.family.lower() in f.lower()]
    if args.family and any(f.lower() == args.family.lower() for f in FAMILIES):  # exact family given
        names = [n for n in names if family_of(n).lower() == args.family.lower()]
    if args.models:
        want = args.models.split(",")
        unknown = [m for m in want if not any(m in ns for ns in FAMILIES.values())]
        if unknown:
            ap.error(f"not a keras.applications constructor: {', '.join(unknown)}")
        names = [n for n in names if n in want]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = run_one(name, args.export, args.side, tmp)
            results.append(r)
            times = f"keras {r['keras_s']:.1f}s" if "keras_s" in r else ""
            times += "".join(f", {k} {v:.1f}s" for k, v in r.get("timings", {}).items())
            params = f"{r['keras_params']:,} params" if "keras_params" in r else ""
            status = "ok" if r["stage"] == "ok" else f"FAILED at {r['stage']}: {r['error']}"
            if r.get("warnings"):
                status += f" (warnings: {', '.join(r['warnings'])})"
            print(f"{name:18s} {status}  [{params}; {times}]", flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps(r) + "\n")
    print()
    by_family: dict = {}
    for r in results:
        by_family.setdefault(r["family"], []).append(r)
    for fam, rs in by_family.items():
        ok = sum(r["stage"] == "ok" for r in rs)
        stages = sorted({r["stage"] for r in rs if r["stage"] != "ok"})
        print(f"{fam:18s} {ok}/{len(rs)} ok" + (f" (failing at: {', '.join(stages)})" if stages else ""))
    ok = sum(r["stage"] == "ok" for r in results)
    print(f"\n{ok}/{len(results)} round-trip")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
