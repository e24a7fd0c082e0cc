"""Shared layers that fix, when they build, the shape their constants or weights broadcast from
(Normalization's mean and variance, Scale's gamma): validate's reuse rule (Op.reuse,
nnspec.ops.base.fixed_broadcast_reuse) against what Keras computes when the layer is called again
on another shape. Accepted: Keras runs the call and computes the shape it declares. Refused: it
fails, or computes another shape than it declares."""
import numpy as np
import pytest

import nnspec

keras = pytest.importorskip("keras")

from nnspec.keras.custom import Scale  # noqa: E402

CASES = [  # (op, args, first call's shape, second call's shape)
    ("Normalization", {"mean": 0.5, "variance": 2.0}, (3,), (5,)),
    ("Normalization", {"mean": [0.5, 1, 2], "variance": [1, 2, 3]}, (5, 3), (2, 7, 3)),
    ("Normalization", {"mean": [0.9], "variance": [1.0]}, (5, 3, 6, 1), (7, 3)),
    ("Normalization", {"mean": [0.5, 1, 2], "variance": [1, 2, 3], "axis": -2}, (3, 4), (5, 3, 4)),
    ("Normalization", {"mean": [0.5, 1, 2], "variance": [1, 2, 3], "axis": -2}, (3, 4), (3, 5)),
    ("Scale", {}, (6, 4, 3), (2, 6, 4, 3)),
    ("Scale", {}, (6, 4, 3), (4, 3)),
    ("Scale", {}, (6, 4, 3), (3,)),
    ("Scale", {"axis": -2}, (3, 4), (2, 3, 4)),
]
# Keras runs these alike, but the constants apply along another axis than the spec's non-negative
# `axis` says (axis 1 of the first call is axis 2 of the second): nnspec refuses them deliberately
SHIFTED = [
    ("Normalization", {"mean": [0.5, 1, 2], "variance": [1, 2, 3], "axis": 1}, (3, 4), (2, 3, 4)),
    ("Scale", {"axis": 1}, (3, 4), (2, 3, 4)),
]


def _keras_runs_alike(op, args, first, second) -> bool:
    layer = keras.layers.Normalization(**args) if op == "Normalization" else Scale(**args)
    a, b = keras.Input(first), keras.Input(second)
    ya, yb = layer(a), layer(b)
    model = keras.Model([a, b], [ya, yb])
    try:
        outs = model([np.ones((2, *first), "float32"), np.ones((2, *second), "float32")])
    except Exception:
        return False
    return tuple(outs[1].shape) == (2, *second) and tuple(yb.shape) == (None, *second)


def _validate(op, args, first, second):
    flow = ", ".join(f"{k}: {v}" for k, v in args.items())
    text = f"""nnspec: 1
name: r
inputs: {{a: {list(first)}, b: {list(second)}}}
layers:
  - {op}: {{name: n, from: a{', ' + flow if flow else ''}}}
  - reuse: {{layer: n, from: b, name: n2}}
outputs: {{n: {{loss: mse}}, n2: {{loss: mse}}}}
"""
    _, diags = nnspec.check_text(text, "r.yaml")
    return [d.code for d in diags if d.severity == "error"]


@pytest.mark.parametrize("op, args, first, second", CASES)
def test_reuse_accepted_exactly_where_keras_runs_it_alike(op, args, first, second):
    runs = _keras_runs_alike(op, args, first, second)
    assert _validate(op, args, first, second) == ([] if runs else ["shared-layer-mismatch"]), runs


@pytest.mark.parametrize("op, args, first, second", SHIFTED)
def test_reuse_that_moves_the_axis_is_refused_deliberately(op, args, first, second):
    assert _keras_runs_alike(op, args, first, second)
    assert _validate(op, args, first, second) != []
