"""Parity: the static shape rule and parameter count of a catalog op must
equal what Keras itself computes, and a static refusal must match a Keras
failure. Every parity test calls ``check``.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from nnspec.keras.layers import call_layer, make_layer  # noqa: E402
from nnspec.ops import CATALOG  # noqa: E402
from nnspec.ops.base import ShapeError  # noqa: E402

keras.config.disable_interactive_logging()

CHECKED: set = set()  # op names that went through check() in this session (tests/parity/test_zz_coverage.py)


def static(op_name: str, args: dict, shapes: list):
    op = CATALOG[op_name]
    filled = op.fill(args)
    if op.validate:
        op.validate(filled)
    out = op.shape(filled, [tuple(s) for s in shapes])
    return out, op.count_params(filled, [tuple(s) for s in shapes])


def keras_result(op_name: str, args: dict, shapes: list):
    op = CATALOG[op_name]
    layer = make_layer(op, op.fill(args))
    inputs = [keras.Input(batch_shape=tuple(s), dtype=_dtype(op_name)) for s in shapes]
    out = call_layer(op, layer, inputs)
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return tuple(out.shape), (trainable, non_trainable)


def _dtype(op_name):
    return "int32" if op_name == "Embedding" else "float32"


def check(op_name: str, args: dict, shapes: list, strict_ok: bool = False):
    """Assert static == Keras. Returns the static output shape (None if refused).

    If the static rule refuses (ShapeError), Keras must fail too, unless
    ``strict_ok``: nnspec is deliberately stricter there (say why at the call).
    """
    CHECKED.add(op_name)
    try:
        out, params = static(op_name, args, shapes)
    except ShapeError as e:
        if strict_ok:
            return None
        try:
            kshape, _ = keras_result(op_name, args, shapes)
        except Exception:
            return None
        raise AssertionError(f"{op_name}{args} on {shapes}: nnspec refused ({e.message}) "
                             f"but Keras gives {kshape}") from None
    kshape, kparams = keras_result(op_name, args, shapes)
    assert out == kshape, f"{op_name}{args} on {shapes}: static {out} != keras {kshape}"
    assert params == kparams, f"{op_name}{args} on {shapes}: params {params} != keras {kparams}"
    return out
