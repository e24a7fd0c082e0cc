"""`nnspec check`: losses per output and penalty, weights without gradient, non-finite losses."""
import os
import pathlib
import subprocess
import sys

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
