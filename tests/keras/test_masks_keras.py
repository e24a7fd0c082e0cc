"""Op.mask, each op record's mask rule, against Keras: does the layer's output carry a Keras mask,
given inputs that carry one (after Masking) or none? The shapes pass follows masks with these rules
to refuse a masked Softmax, which Keras fails on when it runs."""
import warnings

import numpy as np
import pytest

import nnspec
from nnspec.keras import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from nnspec.keras.layers import call_layer, make_layer  # noqa: E402
from nnspec.ops import CATALOG  # noqa: E402
from test_valid_promise_keras import OP_CASES  # noqa: E402 (every op, with args and input shapes)

# the arguments a mask rule reads, and wrapped layers of either kind
MORE_CASES = [
    ("SimpleRNN", {"units": 2, "return_sequences": True}, [[8, 3]]),
    ("LSTM", {"units": 2, "return_sequences": True}, [[8, 3]]),
    ("GRU", {"units": 2, "return_sequences": True}, [[8, 3]]),
    ("Bidirectional", {"layer": {"LSTM": {"units": 2, "return_sequences": True}}}, [[8, 3]]),
    ("Embedding", {"input_dim": 10, "output_dim": 2, "mask_zero": True}, [[8]]),
    ("WeightNorm", {"layer": {"Conv1D": {"filters": 2, "kernel_size": 3}}}, [[8, 3]]),
    ("TimeDistributed", {"layer": {"Conv1D": {"filters": 2, "kernel_size": 3}}}, [[4, 8, 3]]),
]
CASES = [(op, args, shapes) for op, (args, shapes) in sorted(OP_CASES.items())] + MORE_CASES
# (batch, steps, features) where the op takes it: a (batch, features) case gets 5 steps in front
KEEP_SHAPE = {"RepeatVector", "Reshape", "EinsumDense"}  # these take the case's own shape only


def _keras_masks(op_name, args, shapes, masked):
    op = CATALOG[op_name]
    if op_name not in KEEP_SHAPE:
        shapes = [[5, *s] if len(s) == 1 else s for s in shapes]
    inputs = [keras.Input(tuple(s)) for s in shapes]
    tensors = [keras.layers.Masking()(x) for x in inputs] if masked else inputs
    assert all((getattr(t, "_keras_mask", None) is not None) == masked for t in tensors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "... does not support masking and will therefore destroy the mask"
        out = call_layer(op, make_layer(op, op.fill(args)), tensors)
    out = out[0] if isinstance(out, (list, tuple)) else out
    return getattr(out, "_keras_mask", None) is not None, len(shapes)


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("op_name,args,shapes", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_mask_rule_is_keras(op_name, args, shapes, masked):
    keras_masks, n = _keras_masks(op_name, args, shapes, masked)
    assert CATALOG[op_name].output_masked(args, [masked] * n) == keras_masks



def test_a_mask_through_spatial_dropout_2d_reaches_softmax():
    """TimeDistributed(Reshape) makes images of a masked sequence, keeping its (batch, steps) mask;
    SpatialDropout2D passes it on, and Softmax fails on it when it runs: refused, as a masked Softmax
    is (nnspec took SpatialDropout2D for dropping the mask and let it through)."""
    spec = b"""nnspec: 1
name: m
inputs:
  x: [5, 6]
layers:
  - Masking: {}
  - TimeDistributed: {layer: {Reshape: {target_shape: [3, 2]}}}
  - SpatialDropout2D: {rate: 0.5}
  - Softmax: {name: out}
outputs:
  out: {loss: mse}
"""
    _, diags = nnspec.check_text(spec, "m.yaml")
    assert [(d.code, d.span.line) for d in diags] == [("masked-softmax", 9)]
    x = keras.Input((5, 6))
    h = keras.layers.TimeDistributed(keras.layers.Reshape((3, 2)))(keras.layers.Masking()(x))
    h = keras.layers.SpatialDropout2D(0.5)(h)
    with pytest.raises(Exception, match="mask"):
        keras.Model(x, keras.layers.Softmax()(h))(np.ones((2, 5, 6), "float32"))
