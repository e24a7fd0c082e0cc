"""Deep specs and distribution strategies."""
import os
import pathlib
import subprocess
import sys

import pytest

import nnspec

ROOT = pathlib.Path(__file__).parent.parent.parent


def _chain(n: int) -> str:
    lines = ["nnspec: 1", f"name: chain{n}", "inputs: {x: [8]}", "layers:"]
    lines += [f"  - Dense: {{units: 8, name: d{i}}}" for i in range(n)]
    lines.append(f"outputs: {{d{n - 1}: {{loss: mse}}}}")
    return "\n".join(lines) + "\n"


def test_2000_layer_chain_compiles_and_verifies(tmp_path):
    """Keras 3.15 alone hits RecursionError building a 1,000-layer Functional chain."""
    pytest.importorskip("tensorflow")
    from nnspec.keras.build import build
    from nnspec.keras.export import export
    path = tmp_path / "deep.yaml"
    path.write_text(_chain(2000))
    spec = nnspec.load(path)
    limit = sys.getrecursionlimit()
    model = build(spec)
    assert sys.getrecursionlimit() == limit  # restored
    assert len(model.layers) == 2001
    manifest = export(model, spec, str(tmp_path / "out"), path.read_bytes())
    assert manifest["params"]["total"] == 2000 * 72
    assert manifest["verified_max_abs_diff"] <= 1e-5


MIRRORED = r"""
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import nnspec
from nnspec.keras.check import synthetic_targets
from nnspec.keras.export import random_batch, model_inputs
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
spec = nnspec.load("specs/lab_quake.yaml")
model = nnspec.build(spec, strategy=strategy)
x = model_inputs(spec, random_batch(spec, batch=32))
y = synthetic_targets(spec, 32)
hist = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
loss = hist.history["loss"][0]
assert np.isfinite(loss), loss
print("OK", loss)
"""


def test_fit_one_epoch_under_mirrored_strategy():
    pytest.importorskip("tensorflow")
    r = subprocess.run([sys.executable, "-c", MIRRORED], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]
