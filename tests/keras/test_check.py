"""`nnspec check`: losses per output and penalty, weights without gradient, non-finite losses."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent.parent

HEAD = "nnspec: 1\nname: c\nseed: 1\ninputs: {x: [6]}\nlayers:\n"


def _check(tmp_path, body, *extra):
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + body)
    return subprocess.run([sys.executable, "-m", "nnspec", "check", str(path), "--train-steps", "2", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_reports_losses_and_penalties(tmp_path):
    r = _check(tmp_path, """  - Dense: {units: 4, activation: tanh, name: h}
  - Dense: {units: 1, name: y}
penalties: [{on: h, l2: 0.01}]
outputs: {y: {loss: mse}}
""")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("step 1: total ") and "y " in lines[0] and "penalty_0 " in lines[0]
    assert lines[-1].startswith("ok: 2 training steps")


def test_branch_feeding_only_a_lossless_output_gets_no_gradient(tmp_path):
    body = """  - Dense: {units: 4, name: h}
  - Dense: {units: 1, name: y}
  - Dense: {units: 3, name: side, from: h}
outputs: {y: {loss: mse}, side: null}
"""
    r = _check(tmp_path, body)
    assert r.returncode == 1
    assert "trainable weight side/kernel gets no gradient" in r.stderr
    frozen = _check(tmp_path, body.replace("name: side,", "name: side, trainable: false,"))
    assert frozen.returncode == 0, frozen.stderr


def test_non_finite_loss_fails(tmp_path):
    r = _check(tmp_path, """  - Dense: {units: 1, name: y}
outputs: {y: {loss: {expr: "mean(log(y_pred - y_pred), axis=-1)"}}}
""")
    assert r.returncode == 1 and "not finite" in r.stderr


def test_bad_steps_is_a_usage_error(tmp_path):
    r = _check(tmp_path, "  - Dense: {units: 1, name: y}\noutputs: {y: {loss: mse}}\n", "--train-steps", "0")
    assert r.returncode == 2


# ---------------------------------------------------------------- unknown input sizes (FINDINGS F6)
UNKNOWN = {
    # Conv1D over a time axis of unknown size: the output's time axis is 1 shorter than the
    # input's; a target shaped with 3 for the unknown size fails the loss (Incompatible shapes)
    "conv": """inputs: {x: [null, 4]}
layers:
  - Conv1D: {filters: 2, kernel_size: 2}
outputs: {conv1d: {loss: mse}}
""",
    # Reshape of (?, 7) into (2, -1): 3 * 7 does not divide by 2, Reshape.call() raises
    "reshape": """inputs: {x: [null, 7]}
layers:
  - Dense: {units: 3, name: d}
  - Reshape: {target_shape: [2, -1], from: x}
  - ReLU: {}
outputs: {d: {loss: mse}, re_lu: {loss: mse}}
""",
}


def test_unknown_input_sizes_use_one_that_fits():
    """`nnspec check` and compile's verification make data for unknown input axes: a size every
    shape rule fits, and targets shaped like what the model gives on it."""
    import nnspec
    from nnspec.passes.shapes import runtime_size
    for key, size, shape in [("conv", 3, (None, 2, 2)), ("reshape", 4, (None, 2, 14))]:
        spec, diags = nnspec.check_text("nnspec: 1\nname: u\n" + UNKNOWN[key], "u.yaml")
        assert [d for d in diags if d.severity == "error"] == []
        got, shapes = runtime_size(spec)
        assert (got, shapes[list(spec.outputs)[-1]]) == (size, shape)


def _unknown_spec(tmp_path, key):
    import nnspec
    path = tmp_path / f"{key}.yaml"
    path.write_text("nnspec: 1\nname: u\nseed: 1\n" + UNKNOWN[key])
    return nnspec.load(path), path


@pytest.mark.parametrize("key", sorted(UNKNOWN))
def test_check_and_compile_run_on_unknown_input_sizes(key, tmp_path):
    from nnspec.keras.build import build
    from nnspec.keras.check import run_check
    from nnspec.keras.export import export
    spec, path = _unknown_spec(tmp_path, key)
    report = run_check(spec, steps=1, batch=2)
    assert report["finite"] and report["no_gradient"] == []
    manifest = export(build(spec), spec, str(tmp_path / "out"), path.read_bytes())
    assert manifest["verified_max_abs_diff"] <= 1e-5


@pytest.mark.parametrize("key", sorted(UNKNOWN))
def test_size_three_fails_in_keras(key, tmp_path):
    """What the data of size 3 did before: Keras fails on the forward pass or the loss."""
    import numpy as np
    from nnspec.keras.build import build
    spec, _ = _unknown_spec(tmp_path, key)
    model = build(spec)
    x = np.ones((2, 3, spec.inputs["x"].shape[2]), "float32")
    y = {n: np.ones((2,) + tuple(3 if d is None else d for d in spec.shapes[n][1:]), "float32") for n in spec.outputs}
    with pytest.raises(Exception, match="Incompatible shapes|Dimensions must be equal|total size of the tensor must be unchanged"):
        model.train_on_batch(x, y)


@pytest.mark.parametrize("wrap", [False, True])
def test_check_and_compile_draw_indices_below_every_embeddings_input_dim(wrap, tmp_path):
    """Integer inputs drew from [0, 2): an Embedding with input_dim 1 failed in `check` with
    "indices[0,0] = 1 is not in [0, 1)" (exit 3; fuzzer, seed 31 graph 188)."""
    from nnspec.api import check_text
    from nnspec.keras.build import build
    from nnspec.keras.check import run_check
    from nnspec.keras.export import export, random_batch
    emb = "{input_dim: 1, output_dim: 3}"
    layer = f"TimeDistributed: {{layer: {{Embedding: {emb}}}}}" if wrap else f"Embedding: {emb}"
    text = f"""nnspec: 1
name: e
inputs:
  x: {{shape: [2, 4], dtype: int32}}
layers:
  - {layer}
  - Flatten: {{}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""
    spec, diags = check_text(text)
    assert spec is not None and diags == []
    assert random_batch(spec, batch=64)["x"].max() == 0
    report = run_check(spec, steps=1, batch=2)
    assert report["finite"] and report["no_gradient"] == []
    path = tmp_path / "e.yaml"
    path.write_text(text)
    manifest = export(build(spec), spec, str(tmp_path / "out"), path.read_bytes())
    assert manifest["verified_max_abs_diff"] <= 1e-5


FLOAT_INDICES = """nnspec: 1
name: f
seed: 1
inputs:
  x: [2, 4]
layers:
  - {before}
  - Embedding: {{input_dim: 3, output_dim: 2}}
  - Flatten: {{}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


def test_float_values_as_embedding_indices_get_whole_numbers_in_range(tmp_path):
    """An Embedding fed float values (validate warns: float-indices; Keras truncates them) failed
    `check` with exit 3 on standard-normal data (fuzzer, seed 31 graph 653)."""
    import numpy as np
    from nnspec.api import check_text
    from nnspec.keras.check import run_check
    from nnspec.keras.export import random_batch
    spec, diags = check_text(FLOAT_INDICES.format(before="Reshape: {target_shape: [8]}"))
    assert [d.code for d in diags] == ["float-indices"]
    x = random_batch(spec, batch=64)["x"]
    assert x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}  # whole numbers below min(2, input_dim)
    report = run_check(spec, steps=1, batch=2)
    assert report["finite"] and report["no_gradient"] == []


def test_float_indices_out_of_range_on_random_data_is_an_error_not_a_bug(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(FLOAT_INDICES.format(before="Rescaling: {scale: -5.0}"))  # indices 0, -5, -10
    r = subprocess.run([sys.executable, "-m", "nnspec", "check", str(path), "--train-steps", "1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 1, r.stderr
    assert re.search(r"the model fails on nnspec's random input data: an Embedding got index -\d+, outside \[0, 3\)",
                     r.stderr), r.stderr
    assert "internal error" not in r.stderr and "hint: feed each Embedding integer indices" in r.stderr
