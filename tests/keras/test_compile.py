"""`nnspec compile` and `nnspec.build`: models that match their specs, train,
export with the spec's names, verify, and replace directories atomically."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import nnspec

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from nnspec.keras import export as export_mod  # noqa: E402
from nnspec.keras.build import build  # noqa: E402
from nnspec.keras.export import export, model_inputs, random_batch  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def _spec_text(body: str) -> str:
    return "nnspec: 1\nname: t\n" + body


def _load(tmp_path, body, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(_spec_text(body))
    return nnspec.load(path), path


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_example_compiles_verifies_and_keeps_names(path, tmp_path):
    spec = nnspec.load(path)
    model = build(spec)
    out_dir = tmp_path / "model"
    manifest = export(model, spec, str(out_dir), path.read_bytes())
    assert manifest["verified_max_abs_diff"] <= 1e-5
    # weights stored once: variables/ data at most 1.1x the weights themselves
    assert manifest["variables_bytes"] <= 1.1 * manifest["weights_bytes"] + 4096
    loaded = tf.saved_model.load(str(out_dir))
    sig = loaded.signatures["serving_default"]
    assert set(sig.structured_input_signature[1]) == set(spec.inputs)
    assert set(sig.structured_outputs) == set(spec.outputs)
    batch = random_batch(spec, batch=2, seed=5)
    seeds = export_mod.seed_state_indices(model)  # layers that sample (an Expr with normal()): one seed state
    export_mod.fix_seeds(loaded.variables_, seeds)
    got = sig(**{k: tf.constant(v) for k, v in batch.items()})
    export_mod.fix_seeds(model.variables, seeds)
    want = model(model_inputs(spec, batch), training=False)
    for name in spec.outputs:
        np.testing.assert_allclose(got[name].numpy(), np.asarray(want[name]), atol=1e-5)
    assert (out_dir / "assets" / "nnspec" / path.name).read_bytes() == path.read_bytes()
    assert json.loads((out_dir / "assets" / "nnspec" / "manifest.json").read_text())["spec_sha256"] == \
        manifest["spec_sha256"]


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_example_passes_check(path):
    from nnspec.keras.check import run_check
    result = run_check(nnspec.load(path), steps=2, batch=4)
    assert result["finite"] and result["no_gradient"] == []


def test_seed_gives_identical_initial_weights():
    spec = nnspec.load(ROOT / "specs" / "inception.yaml")
    a = [w.numpy() for w in build(spec).weights]
    b = [w.numpy() for w in build(spec).weights]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    spec.seed = spec.seed + 1
    c = [w.numpy() for w in build(spec).weights]
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_loss_after_one_step_equals_weighted_losses_plus_penalties_by_hand(tmp_path):
    spec, _ = _load(tmp_path, """
seed: 3
inputs: {x: [5]}
layers:
  - Dense: {units: 4, activation: tanh, name: h}
  - Dense: {units: 1, name: a}
  - Dense: {units: 2, name: b, from: h}
outputs:
  a: {loss: mse, weight: 3}
  b: {loss: mae, weight: 0.5}
penalties:
  - {on: h, l2: 0.01}
  - {on: [a, b], l1: 0.02, reduce: mean}
  - {expr: "0.5 * mean(square(h))"}
training: {optimizer: {sgd: {learning_rate: 0.1}}}
""")
    model = build(spec)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5)).astype("float32")
    ya, yb = rng.standard_normal((8, 1)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")
    get = keras.Model(model.inputs, [model.get_layer("h").output, model.get_layer("a").output,
                                     model.get_layer("b").output])
    h, a, b = [np.asarray(t) for t in get(x)]
    by_hand = (3 * np.mean((a - ya) ** 2) + 0.5 * np.mean(np.abs(b - yb))
               + 0.01 * np.sum(h ** 2)                                   # not divided by the batch size
               + 0.02 * (np.mean(np.abs(a)) + np.mean(np.abs(b)))
               + 0.5 * np.mean(h ** 2))
    loss = model.train_on_batch(x, {"a": ya, "b": yb}, return_dict=True)["loss"]
    assert loss == pytest.approx(by_hand, rel=1e-5)


def test_activity_regularizer_is_divided_by_batch_size_but_penalty_is_not(tmp_path):
    """Documented difference: Keras 3 divides activity_regularizer by the batch size."""
    spec, _ = _load(tmp_path, """
inputs: {x: [3]}
layers:
  - Dense: {units: 2, name: h, use_bias: false, kernel_initializer: ones, activity_regularizer: {l2: 1.0}}
  - Dense: {units: 1, name: y, use_bias: false, kernel_initializer: zeros, trainable: false}
outputs: {y: {loss: mse}}
penalties: [{on: h, l2: 1.0}]
training: {optimizer: {sgd: {learning_rate: 1.0e-9}}}
""")
    model = build(spec)
    x = np.ones((4, 3), "float32")
    loss = model.train_on_batch(x, np.zeros((4, 1), "float32"), return_dict=True)["loss"]
    h_sq = np.sum((x @ np.ones((3, 2))) ** 2)  # 4 * 2 * 9 = 72
    assert loss == pytest.approx(h_sq + h_sq / 4)


def test_keras_file_round_trip_and_trains(tmp_path):
    path = ROOT / "specs" / "sparse_autoencoder.yaml"
    spec = nnspec.load(path)
    model = build(spec)
    kfile = tmp_path / "m.keras"
    export(model, spec, str(tmp_path / "sm"), path.read_bytes(), keras_file=str(kfile))
    code = f"""
import numpy as np, keras, nnspec.keras.registry
m = keras.models.load_model({str(kfile)!r})
assert m.loss is not None and m.optimizer is not None
x = np.random.default_rng(0).random((8, 784)).astype("float32")
before = float(m.train_on_batch(x, {{"reconstruction": x}}, return_dict=True)["loss"])
after = float(m.train_on_batch(x, {{"reconstruction": x}}, return_dict=True)["loss"])
print("LOSS", before, after)
assert np.isfinite(before) and after < before
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-3000:]


def _compile_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "nnspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_cli_compile_progress_and_inspect(tmp_path):
    out = tmp_path / "lab"
    r = _compile_cli("compile", "specs/lab_quake.yaml", "-o", str(out))
    assert r.returncode == 0, r.stderr
    stages = [line.split()[0] for line in r.stderr.splitlines()]
    assert stages == ["parse", "validate", "load", "build", "export", "verify"], r.stderr
    assert "I0000" not in r.stderr and "oneDNN" not in r.stderr  # TensorFlow's start-up noise stays out
    i = _compile_cli("inspect", str(out), "--format", "json")
    manifest = json.loads(i.stdout)
    assert manifest["model"] == "lab_quake" and manifest["params"]["total"] == 136195
    q = _compile_cli("compile", "specs/lab_quake.yaml", "-o", str(out), "--quiet")
    assert q.returncode == 0 and q.stderr == "" and q.stdout == ""


def test_failed_verification_leaves_existing_dir_untouched(tmp_path, monkeypatch):
    path = ROOT / "specs" / "weight_norm.yaml"
    spec = nnspec.load(path)
    out = tmp_path / "model"
    # an earlier nnspec output (a directory of the user's own is now refused before any work:
    # tests/test_cli_files.py, tests/keras/test_output_safety.py)
    export(build(nnspec.load(ROOT / "specs" / "siamese.yaml")), nnspec.load(ROOT / "specs" / "siamese.yaml"),
           str(out), (ROOT / "specs" / "siamese.yaml").read_bytes())
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(export_mod, "TOLERANCE", -1.0)  # any difference fails verification
    with pytest.raises(export_mod.ExportError):
        export(build(spec), spec, str(out), path.read_bytes())
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p for p in os.listdir(tmp_path) if p not in ("model", ".model.lock")] == []  # no temp leftovers


def test_replaces_an_earlier_output_completely(tmp_path):
    out = tmp_path / "model"
    for name in ("siamese", "weight_norm"):
        path = ROOT / "specs" / f"{name}.yaml"
        spec = nnspec.load(path)
        export(build(spec), spec, str(out), path.read_bytes())
    assert "siamese.yaml" not in os.listdir(out / "assets" / "nnspec")
    assert "weight_norm.yaml" in os.listdir(out / "assets" / "nnspec") and "saved_model.pb" in os.listdir(out)


def test_refuses_a_directory_it_did_not_write(tmp_path):
    """Before: a directory holding stale.txt was replaced whole. Now it is the user's, and refused."""
    path = ROOT / "specs" / "weight_norm.yaml"
    spec = nnspec.load(path)
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(export_mod.fsutil.Refused, match="stale.txt"):
        export(build(spec), spec, str(out), path.read_bytes())
    assert os.listdir(out) == ["stale.txt"] and (out / "stale.txt").read_text() == "old"


def test_two_concurrent_compiles_never_mix(tmp_path):
    out = tmp_path / "model"
    procs = [subprocess.Popen([sys.executable, "-m", "nnspec", "compile", f"specs/{s}.yaml", "-o", str(out),
                               "--quiet"], cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
             for s in ("weight_norm", "siamese")]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    manifest = json.loads((out / "assets" / "nnspec" / "manifest.json").read_text())
    spec_files = sorted(os.listdir(out / "assets" / "nnspec"))
    assert spec_files == sorted(["manifest.json", manifest["spec_file"]])
    loaded = tf.saved_model.load(str(out))
    assert set(loaded.signatures["serving_default"].structured_outputs) == \
        set(nnspec.load(ROOT / "specs" / manifest["spec_file"]).outputs)
    assert [p for p in os.listdir(tmp_path) if p not in ("model", ".model.lock")] == []


def test_python_api_compiles_as_the_command_does(tmp_path):
    """nnspec.compile is what `nnspec compile` runs: the CLI is a shell over it."""
    src = tmp_path / "spec.yaml"
    src.write_text(_spec_text("inputs: {x: [4]}\nlayers:\n  - Dense: {units: 3, name: out}\n"
                              "outputs: {out: {loss: mse}}\nseed: 3\n"))
    lines, timings = [], {}
    manifest = nnspec.compile(src, tmp_path / "m", progress=lines.append, timings=timings)
    assert [ln.split()[0] for ln in lines] == ["load", "build"] and {"export", "verify"} <= set(timings)
    assert json.loads((tmp_path / "m" / "assets" / "nnspec" / "manifest.json").read_text()) == manifest
    sig = tf.saved_model.load(str(tmp_path / "m")).signatures["serving_default"]
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    want = nnspec.build(src)(x, training=False)  # the same seed: the same initial weights
    np.testing.assert_allclose(sig(x=tf.constant(x))["out"].numpy(), np.asarray(want["out"]), atol=1e-5)
    # a directory nnspec did not write is refused and left as it was; so is a bad request
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(nnspec.CompileError) as e:
        nnspec.compile(src, mine)
    assert not e.value.usage and str(mine) in str(e.value) and (mine / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    with pytest.raises(nnspec.CompileError, match="does not end in .keras") as e:
        nnspec.compile(src, tmp_path / "m2", keras_file=tmp_path / "m.h5")
    assert e.value.usage and not (tmp_path / "m2").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(_spec_text("inputs: {x: [4]}\nlayers:\n  - LSTM: {units: 3, name: out}\noutputs: {out: {}}\n"))
    with pytest.raises(nnspec.SpecError) as e:
        nnspec.compile(bad, tmp_path / "m3")
    assert [d.code for d in e.value.diagnostics] == ["rank-mismatch"] and not (tmp_path / "m3").exists()
