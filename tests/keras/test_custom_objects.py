"""User code runs only when the person running nnspec allows its module by name (never the spec);
loaders are refused whoever allows them."""
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
    assert "requires_import: [nnspec_fixture]" in diags[0].hint
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


def test_declared_in_spec_is_not_allowed(tmp_path):
    path = _write(tmp_path, allow="requires_import: [nnspec_fixture]")
    r = _cli("compile", str(path), "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "import-not-allowed" in r.stderr and not (tmp_path / "out").exists()
    assert "--allow-import nnspec_fixture" in r.stderr


def test_allowed_in_pyproject_of_the_working_directory_compiles(tmp_path):
    path = _write(tmp_path, allow="requires_import: [nnspec_fixture]")
    work = tmp_path / "work"
    work.mkdir()
    (work / "pyproject.toml").write_text('[tool.nnspec]\nallow_import = ["nnspec_fixture"]\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), FIXTURES)), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-m", "nnspec", "check", str(path), "--train-steps", "1"], cwd=work,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr


def test_allowed_by_caller_builds_and_uses_the_objects(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(FIXTURES)
    path = _write(tmp_path, allow="requires_import: [nnspec_fixture]")
    spec = nnspec.load(path, allow_import=["nnspec_fixture"])
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


@pytest.mark.parametrize("ref", ["nnspec_fixture:TFSMAlias", "nnspec_fixture:MyLambda", "nnspec_fixture:run",
                                 "nnspec_fixture:partial_run"])
def test_aliases_of_loaders_are_refused_at_import(ref):
    """The static check cannot see through a re-export; the check on the imported object does."""
    from nnspec.keras.custom_objects import ImportNotAllowed, allowing, import_object, make_custom_layer
    sys.path.insert(0, FIXTURES)
    try:
        with allowing(["nnspec_fixture"]), pytest.raises(ImportNotAllowed, match="refused whatever is allowed"):
            import_object(ref)
        with allowing(["nnspec_fixture", "keras"]), pytest.raises(ImportNotAllowed, match="refused"):
            make_custom_layer(name="x", **{"class": "keras.layers:Masking",
                                           "args": {"mask_value": {"class_name": "TFSMLayer", "config": {}}}})
    finally:
        sys.path.remove(FIXTURES)


def test_compile_refuses_a_tfsm_layer_and_runs_nothing(tmp_path):
    """The finding: with only Keras allowed, a TFSMLayer would load a SavedModel shipped beside the spec."""
    spec = tmp_path / "s.yaml"
    spec.write_text('nnspec: 1\nname: s\nrequires_import: [keras]\ninputs: {x: [4]}\nlayers:\n'
                    '  - Custom: {class: "keras.layers:TFSMLayer", args: {filepath: saved}, output_shape: [4]}\n'
                    'outputs:\n  custom: {}\n')
    r = _cli("compile", str(spec), "-o", str(tmp_path / "out"), "--allow-import", "keras")
    assert r.returncode == 1 and "import-refused" in r.stderr and not (tmp_path / "out").exists()
    assert "Traceback" not in r.stderr
