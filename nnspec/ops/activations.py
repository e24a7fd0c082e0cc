"""Ops of the activations family: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax."""
from __future__ import annotations

from .. import codes
from .base import (ACTIVATION, CONSTRAINT, INITIALIZER, NUM, NUMERIC, REGULARIZER, Arg, Op,
                   ShapeError, fmt_shape, prod)
from .normalization import AXES, resolve_axes

NONNEG_NUM = {"type": "number", "minimum": 0, "description": "a non-negative number"}


def _same_shape(args, shapes):
    return tuple(shapes[0])


# ---------------------------------------------------------------- Activation
ACTIVATION_OP = Op(
    name="Activation",
    family="activations",
    rank_free=True, mask="propagates",
    # glu and threshold are refused here as everywhere (base.REFUSED_ACTIVATIONS)
    doc="Applies an activation function element-wise.",
    args=(Arg("activation", ACTIVATION, doc="the activation function"),),
    shape=_same_shape,
    bounds="activation",
)


# ---------------------------------------------------------------- ReLU family
RELU = Op(
    name="ReLU",
    family="activations",
    dtypes=NUMERIC, rank_free=True, mask="propagates",
    keeps_dtype=lambda args: not args.get("negative_slope"),  # a negative_slope makes it float32
    doc="Rectified linear unit with optional cap (max_value), leak (negative_slope) and threshold.",
    args=(
        Arg("max_value", {"anyOf": [NONNEG_NUM, {"type": "null"}],
                          "description": "a non-negative number, or null for no cap"}, None,
            "the largest output value"),
        Arg("negative_slope", NONNEG_NUM, 0.0, "slope below the threshold"),
        Arg("threshold", NONNEG_NUM, 0.0, "values below it are zeroed (or leaked)"),
    ),
    shape=_same_shape,
    # measured on int32 (tests/keras/test_valid_promise_keras.py): negative_slope alone gives float32
    # output; with threshold or max_value too, Keras mixes the float and the integer tensor and fails
    float_only=lambda args: (
        f"with negative_slope and {'threshold' if args.get('threshold') else 'max_value'}, Keras adds float "
        "values to the integer tensor and fails on the first batch"
        if args.get("negative_slope") and (args.get("threshold") or args.get("max_value") is not None) else None),
    bounds="relu",
)

LEAKY_RELU = Op(
    name="LeakyReLU",
    family="activations",
    dtypes=NUMERIC, rank_free=True, mask="propagates",
    doc="Leaky ReLU: x if x > 0 else negative_slope * x.",
    args=(Arg("negative_slope", NONNEG_NUM, 0.3, "slope for negative inputs"),),
    shape=_same_shape,
    bounds="leaky_relu",
)

ELU = Op(
    name="ELU",
    family="activations",
    rank_free=True, mask="propagates",
    doc="Exponential linear unit: x if x > 0 else alpha * (exp(x) - 1).",
    args=(Arg("alpha", NUM, 1.0, "scale of the negative part"),),
    shape=_same_shape,
    bounds="elu",
)


# ---------------------------------------------------------------- PReLU
_SHARED_AXIS = {"type": "integer", "minimum": 1, "maximum": 64, "description": "a non-batch axis (1 or more)"}
SHARED_AXES = {
    "anyOf": [{"type": "null"}, _SHARED_AXIS,
              {"type": "array", "items": _SHARED_AXIS, "minItems": 1, "maxItems": 64, "uniqueItems": True}],
    "description": "null, an axis, or a list of axes (1 = the first non-batch axis) sharing one alpha",
}


def _shared(args) -> list:
    v = args["shared_axes"]
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _alpha_shape(args, s) -> list:
    """The shape of PReLU's alpha: the input shape without batch, 1 on the shared axes."""
    shared = _shared(args)
    for a in shared:
        if a >= len(s):
            raise ShapeError(f"has shared_axes {a} but the input {fmt_shape(s)} has axes 1..{len(s) - 1}",
                             f"use axes between 1 and {len(s) - 1} (axis 0 is the batch)" if len(s) > 1 else
                             "drop shared_axes: the input has no axis besides the batch",
                             arg="shared_axes", code=codes.BAD_ARGUMENT)
    dims = []
    for i in range(1, len(s)):
        if i in shared:
            dims.append(1)
            continue
        if s[i] is None:
            raise ShapeError.found(f"needs a known size on axis {i} (alpha has one value per entry)", s,
                                   f"add {i} to shared_axes, or give the input a fixed size on that axis",
                                   code=codes.UNKNOWN_DIMENSION)
        dims.append(s[i])
    return dims


def _prelu_shape(args, shapes):
    (s,) = shapes
    _alpha_shape(args, s)
    return tuple(s)


def _prelu_params(args, shapes):
    return prod(_alpha_shape(args, shapes[0]))


PRELU = Op(
    name="PReLU",
    family="activations",
    mask="propagates",
    doc="Parametric ReLU: x if x > 0 else alpha * x, with a learned alpha per entry (or shared over axes).",
    args=(
        # Keras's default is "Zeros" (the class name); "zeros" is the same initializer.
        Arg("alpha_initializer", INITIALIZER, "zeros"),
        Arg("alpha_regularizer", REGULARIZER, None),
        Arg("alpha_constraint", CONSTRAINT, None),
        Arg("shared_axes", SHARED_AXES, None, "axes along which alpha is shared, e.g. [1, 2] for images"),
    ),
    shape=_prelu_shape,
    params=_prelu_params,
    weights=lambda args, shapes: {"alpha": (len(shapes[0]) - 1,)},  # alpha: the input's shape without batch
)


# ---------------------------------------------------------------- Softmax
def _softmax_shape(args, shapes):
    (s,) = shapes
    resolve_axes(args["axis"], s)  # Keras only fails at run time; refuse here
    return tuple(s)


SOFTMAX = Op(
    name="Softmax",
    family="activations",
    # Keras passes a mask on, and fails when it runs on one: the shapes pass refuses a masked Softmax
    rank_free=True, mask="propagates",
    doc="Softmax over the given axis (or axes).",
    args=(Arg("axis", AXES, -1, "the axis or axes to normalize over"),),
    shape=_softmax_shape,
)

OPS: tuple[Op, ...] = (ACTIVATION_OP, RELU, LEAKY_RELU, PRELU, ELU, SOFTMAX)
