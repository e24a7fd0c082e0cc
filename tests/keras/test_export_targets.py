"""Every op against every export target, through the real converter and runtime: an op whose
record (Op.unsupported_targets) lists the target must fail there, one that does not list it must
convert, run through ONNX Runtime / the LiteRT interpreter with the spec's names, and agree with
Keras within 1e-4. The cases are tests/keras/target_cases.py (one small model per op, unknown time
axes where the op takes them). Then every spec in specs/ compiles to every target that takes its
ops, and the artifacts, loaded here through their runtimes, agree with the SavedModel on a batch of
another size."""
import json
import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx", reason="pip install 'nnspec[onnx]'")
pytest.importorskip("onnxruntime", reason="pip install 'nnspec[onnx]'")
pytest.importorskip("ai_edge_litert", reason="pip install 'nnspec[litert]'")

import nnspec  # noqa: E402
from nnspec import targets  # noqa: E402
from nnspec.api import check_text  # noqa: E402
from nnspec.cli import main  # noqa: E402
from nnspec.keras import export as ex  # noqa: E402
from nnspec.keras import targets as kt  # noqa: E402
from nnspec.keras.build import build  # noqa: E402
from nnspec.ops import CATALOG  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from target_cases import CASES, spec_text  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))

# the cases whose verdict depends on arguments or input shapes, the other way round
VARIANTS = {
    "TimeDistributed/known-time": ("TimeDistributed", "{x: [5, 4]}", None),
    "Normalization/weights": ("Normalization", "{x: [3]}", "Normalization: {}"),
    "Bidirectional/GRU-known-time": ("Bidirectional", "{x: [5, 4]}", "Bidirectional: {layer: {GRU: {units: 3}}}"),
    "Expr/random": ("Expr", "{a: [6]}", "Expr: {expr: 'a + normal(shape_of(a))', from: {a: a}}"),
}


def _case_text(case: str) -> str:
    if case in CASES:
        return spec_text(case)
    op, inputs, layer = VARIANTS[case]
    saved = CASES[op]
    CASES[op] = (inputs, layer or saved[1])
    try:
        return spec_text(op)
    finally:
        CASES[op] = saved


def test_every_op_has_a_case():
    assert sorted(CASES) == sorted(n for n in CATALOG if n != "Custom")


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
@pytest.mark.parametrize("case", sorted(CASES) + sorted(VARIANTS))
def test_op_against_target(case, target, tmp_path):
    spec, diags = check_text(_case_text(case), f"{case.replace('/', '_')}.yaml")
    assert spec is not None and not [d for d in diags if d.severity == "error"], diags
    listed = [why for _, _, why in targets.unsupported(spec, target)]
    model = build(spec, compile=False)
    module = ex.serving_module(model, spec)
    batch = ex.random_batch(spec)
    ex.fix_seeds(model.variables, ex.seed_state_indices(model))
    expected = model(ex.model_inputs(spec, batch), training=False)
    path = str(tmp_path / targets.TARGETS[target].file)
    try:
        kt.write(target, model, spec, module, path, str(tmp_path / "scratch"))
        checked = kt.verify(target, path, spec, batch, expected)
    except kt.TargetError as e:
        assert listed, f"{case} fails on {target} but its record does not say so: {e}"
        return
    assert not listed, f"{case} is listed as unsupported on {target} ({listed[0]}) but converts and runs"
    assert checked["verified_max_abs_diff"] <= 1e-4
    unknown = {n: [i for i, d in enumerate(inp.shape) if d is None] for n, inp in spec.inputs.items()}
    assert checked["dynamic_axes"] == {n: a for n, a in unknown.items() if a}  # every unknown axis kept


def _supported(path):
    spec = nnspec.load(path)
    return spec, [t for t in sorted(targets.TARGETS) if not list(targets.unsupported(spec, t))]


def _other_batch(spec):
    """A batch of 3, with unknown time axes of another length than compile's check used."""
    rng = np.random.default_rng(7)
    size = 5 if any(None in inp.shape[1:] for inp in spec.inputs.values()) else None
    out = {}
    for name, inp in spec.inputs.items():
        shape = (3,) + tuple(size if d is None else d for d in inp.shape[1:])
        out[name] = (rng.integers(0, 2, size=shape) if inp.dtype.startswith("int") else
                     rng.standard_normal(shape)).astype(inp.dtype)
    return out


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_compiles_to_every_target_that_takes_its_ops(path, tmp_path):
    import onnxruntime as ort
    import tensorflow as tf
    spec, chosen = _supported(path)
    if not chosen:
        pytest.skip("no target takes its ops")
    out = tmp_path / "model"
    assert main(["compile", str(path), "-o", str(out), "-q"] + [f"--{t}" for t in chosen]) == 0
    manifest = json.loads((out / "assets" / "nnspec" / "manifest.json").read_text())
    assert sorted(manifest["targets"]) == chosen
    assert {targets.TARGETS[t].file for t in chosen} <= set(manifest["files"])
    batch = _other_batch(spec)
    want = tf.saved_model.load(str(out)).signatures["serving_default"](**{k: tf.constant(v) for k, v in batch.items()})
    if "onnx" in chosen:
        session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        assert sorted(i.name for i in session.get_inputs()) == sorted(spec.inputs)
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, batch)))
        for name in spec.outputs:
            np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0)
    if "litert" in chosen:
        runner = kt.litert_interpreter(str(out / "model.tflite")).get_signature_runner()
        got = runner(**batch)
        for name in spec.outputs:
            np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0)


def test_readme_snippet_loads_every_target(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("Loading each with its runtime")
    snippet = readme[readme.index("```python\n", start) + 10:]
    snippet = snippet[:snippet.index("```")]
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(ROOT / "specs" / "siamese.yaml"), "-o", "build/siamese", "-q",
                 "--keras", "build/siamese.keras", "--onnx", "--litert"]) == 0
    capsys.readouterr()
    exec(compile(snippet, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    numbers = [float(x) for x in __import__("re").findall(r"-?\d+\.\d+(?:e-?\d+)?", printed)]
    assert len(numbers) == 8  # 2 rows from each of the 4 runtimes
    for i in range(0, 8, 2):  # each agrees with the SavedModel, row by row
        assert abs(numbers[i] - numbers[0]) < 1e-4 and abs(numbers[i + 1] - numbers[1]) < 1e-4


def test_kill_during_the_litert_export_leaves_only_debris_the_next_compile_removes(tmp_path):
    """Keras's LiteRT export writes a temporary SavedModel; it goes inside nnspec's own temporary
    directory, so SIGKILL in the middle leaves nothing a later compile does not clean."""
    import os
    import signal
    import subprocess
    import time
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    out = tmp_path / "model"
    env = {**os.environ, "TMPDIR": str(systmp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "nnspec", "compile", str(ROOT / "specs" / "siamese.yaml"),
                             "-o", str(out), "-q", "--litert"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while not list(tmp_path.glob(".model.nnspec-tmp-*/.nnspec-stage/tmp/*")):
            assert proc.poll() is None, "compile ended before its LiteRT export was seen"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[-1] == "systmp" and all(n.startswith(".model.nnspec-tmp-") for n in left[:-1]) and left[:-1], left
    assert not out.exists()
    assert main(["compile", str(ROOT / "specs" / "siamese.yaml"), "-o", str(out), "-q", "--litert"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["model", "systmp"]
    assert (out / "model.tflite").is_file()
