"""User code runs only when its module is allowed by name."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import nnspec

ROOT = pathlib.Path(__file__).parent.parent.parent
FIXTURES = str(ROOT / "tests" / "fixtures")

SPEC = """nnspec: 1
name: custom
{allow}
inputs: {{x: [4]}}
layers:
  - Dense: {{units: 3, kernel_constraint: {{custom: "nnspec_fixture:Clip01"}}, name: h}}
  - Custom: {{class: "nnspec_fixture:Scale", args: {{factor: 3.0}}, output_shape: [3], name: scaled}}
  - Dense: {{units: 1, name: y}}
outputs:
  y: {{loss: {{custom: "nnspec_fixture:half_mse"}}}}
"""


def _write(tmp_path, allow=""):
    p = tmp_path / "custom.yaml"
    p.write_text(SPEC.format(allow=allow))
    return p


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": FIXTURES, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "nnspec", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)


def test_refused_without_permission_and_nothing_imported(tmp_path):
    path = _write(tmp_path)
    diags = nnspec.validate(path)
    assert [d.code for d in diags] == ["import-not-allowed"] * 3
    assert "--allow-import nnspec_fixture" in diags[0].hint
    assert "nnspec_fixture" not in sys.modules
    r = _cli("compile", str(path), "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "import-not-allowed" in r.stderr and not (tmp_path / "out").exists()


def test_validate_with_permission_does_not_import(tmp_path):
    path = _write(tmp_path)
    assert nnspec.validate(path, allow_import=["nnspec_fixture"]) == []
    assert "nnspec_fixture" not in sys.modules  # validation never imports user code


def test_allowed_on_command_line_compiles(tmp_path):
    path = _write(tmp_path)
    r = _cli("compile", str(path), "-o", str(tmp_path / "out"), "--allow-import", "nnspec_fixture")
    assert r.returncode == 0, r.stderr


def test_allowed_in_spec_builds_and_uses_the_objects(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(FIXTURES)
    path = _write(tmp_path, allow="allow_import: [nnspec_fixture]")
    spec = nnspec.load(path)
    model = nnspec.build(spec)
    x = np.ones((2, 4), "float32")
    h = model.get_layer("h")
    scaled = model.get_layer("scaled")
    assert type(scaled).__name__ == "Scale" and scaled.factor == 3.0
    y = np.asarray(model.get_layer("scaled").output.shape)
    assert list(y) == [None, 3] or y.tolist() == [None, 3]
    loss = model.train_on_batch(x, np.zeros((2, 1), "float32"), return_dict=True)["loss"]
    assert np.isfinite(loss)
    w = h.kernel.numpy()
    assert w.min() >= 0.0 and w.max() <= 1.0  # the custom constraint ran after the update
