"""Ops of the preprocessing family: Rescaling, Normalization, CategoryEncoding, Hashing."""
from __future__ import annotations

from .. import codes
from .base import (ANY, AXIS, BOOL, INT, LITERT_FLEX, POS_INT, Arg, Op, ShapeError, enum, fixed_broadcast_reuse,
                   fmt_shape, prod)
from .normalization import known_axis_sizes, resolve_axes

NUM_OR_LIST = {
    "anyOf": [{"type": "number"},
              {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 4096}],
    "description": "a number, or a list of numbers (one per channel)",
}


def _rescaling_shape(args, shapes):
    (s,) = shapes
    for name in ("scale", "offset"):
        v = args[name]
        if not isinstance(v, (list, tuple)) or len(v) == 1:
            continue
        # A list broadcasts against the last axis. Keras declares the input shape whatever the
        # list's length and only fails (or, on a last axis of 1, widens it) at run time.
        n = len(v)
        if len(s) < 2 or (s[-1] is not None and s[-1] != n):
            raise ShapeError.found(f"needs (batch, ..., {n}) for its {n} {name} values (one per channel)", s,
                                   f"give {name} {s[-1]} values, or a single number" if len(s) >= 2 else
                                   f"give {name} as a single number", arg=name, code=codes.BAD_ARGUMENT)
    return tuple(s)


RESCALING = Op(
    name="Rescaling",
    family="preprocessing",
    dtypes=ANY, rank_free=True, mask="propagates",
    doc="Multiplies the input by `scale` and adds `offset` (e.g. scale 1/255 maps [0, 255] to [0, 1]).",
    args=(
        Arg("scale", NUM_OR_LIST, doc="the factor (per channel if a list)"),
        Arg("offset", NUM_OR_LIST, 0.0, "added after scaling (per channel if a list)"),
    ),
    shape=_rescaling_shape,
)


# ---------------------------------------------------------------- Normalization
def _stat(minimum=None) -> dict:
    num = {"type": "number"} if minimum is None else {"type": "number", "minimum": minimum}
    what = "number" if minimum is None else "non-negative number"
    return {"anyOf": [num, {"type": "array", "items": num, "minItems": 1, "maxItems": 65536},
                      {"type": "null"}],
            "description": f"a {what}, a list of them (one per entry of the last normalized axis), or null "
                           "(a non-trainable weight, from a weights file)"}


_NORM_AXES = {"anyOf": [AXIS, {"type": "array", "items": AXIS, "maxItems": 64, "uniqueItems": True},
                        {"type": "null"}],
              "description": "an axis, a list of distinct axes, or null (one mean and variance for everything)"}


def _norm_axes(args, shape) -> list[int]:
    axis = args["axis"]
    if axis is None or axis == []:
        return []
    return resolve_axes(axis, shape)


def _norm_validate(args):
    mean, var = args["mean"], args["variance"]
    if (mean is None) != (var is None):
        given, missing = ("mean", "variance") if var is None else ("variance", "mean")
        raise ShapeError(f"has {given} but no {missing}: Keras needs both or neither",
                         f"give {missing} too, or leave both out (they are then non-trainable weights, "
                         "loaded from a weights file)", arg=missing, code=codes.BAD_ARGUMENT)
    if mean is None:
        return
    lengths = [len(v) if isinstance(v, (list, tuple)) else None for v in (mean, var)]
    if lengths[0] != lengths[1]:
        shown = ["a single number" if n is None else f"{n} values" for n in lengths]
        raise ShapeError(f"has mean of {shown[0]} but variance of {shown[1]}: Keras needs them of one shape",
                         "give mean and variance the same number of values", arg="variance", code=codes.BAD_ARGUMENT)
    if lengths[0] is not None and args["axis"] in (None, []):
        raise ShapeError(f"has {lengths[0]} mean values but axis null, which keeps no axis to hold them",
                         "give a single mean and variance, or the axis they run along (e.g. axis: -1)",
                         arg="mean", code=codes.BAD_ARGUMENT)


def _norm_shape(args, shapes):
    (s,) = shapes
    axes = _norm_axes(args, s)
    known_axis_sizes(axes, s)  # Keras builds per-entry statistics over these axes, given or not
    mean = args["mean"]
    if isinstance(mean, (list, tuple)) and len(mean) > 1 and s[axes[-1]] != len(mean):
        raise ShapeError(f"has {len(mean)} mean and variance values, but axis {axes[-1]} of the input "
                         f"{fmt_shape(s)} has {s[axes[-1]]} entries",
                         f"give {s[axes[-1]]} values (or one), or the axis they run along", arg="mean",
                         code=codes.BAD_ARGUMENT)
    return tuple(s)


def _norm_params(args, shapes):
    if args["mean"] is not None:
        return 0, 0  # constants, not weights
    (s,) = shapes
    n = prod(s[a] for a in _norm_axes(args, s))
    return 0, 2 * n + 1  # mean, variance and the adapt() count, none trainable


def _norm_reuse(args, first_shapes, shapes):
    """Measured: a lower rank gives another shape than Keras declares (seed 34 graph 2742), another
    size fails when it runs, a higher rank with the kept axes last runs (test_reuse in
    tests/keras/test_reuse_broadcast.py)."""
    (first,), (s,) = first_shapes, shapes
    axis = args["axis"]
    return fixed_broadcast_reuse(first, s, set(_norm_axes(args, first)), "mean and variance",
                                 "use a separate Normalization for this input (with its own mean and variance)",
                                 axes=axis if isinstance(axis, (list, tuple)) else () if axis is None else (axis,))


NORMALIZATION = Op(
    name="Normalization",
    family="preprocessing",
    dtypes=ANY, mask="propagates",
    doc="Computes (x - mean) / sqrt(variance) per entry of `axis` (or the inverse with invert); mean and "
        "variance given, or left out as non-trainable weights to load (nnspec has no adapt()).",
    args=(
        Arg("axis", _NORM_AXES, -1, "the axis (or axes) with their own mean and variance; null: one for all"),
        Arg("mean", _stat(), None, "the mean (per entry of the last kept axis if a list); null: a weight"),
        Arg("variance", _stat(0), None, "the variance, like mean; null: a weight"),
        Arg("invert", BOOL, False, "undo the normalization: x * sqrt(variance) + mean"),
    ),
    shape=_norm_shape,
    params=_norm_params,
    validate=_norm_validate,
    reuse=_norm_reuse,
    unsupported_targets={"onnx": "tf2onnx turns its mean and variance (tensors Keras computes when it builds the "
                                 "layer) into extra inputs of the ONNX graph; apply them before the model, or "
                                 "with Rescaling"},
)


# ---------------------------------------------------------------- CategoryEncoding, Hashing
def _category_shape(args, shapes):
    (s,) = shapes
    n = args["num_tokens"]
    if args["output_mode"] == "one_hot":
        if len(s) > 1 and s[-1] == 1:
            return (*s[:-1], n)
        return (*s, n)
    if len(s) != 2:
        raise ShapeError.found(f"needs (batch, values) for output_mode {args['output_mode']}", s,
                               "add an axis with Reshape: {target_shape: [1]}" if len(s) == 1 else
                               "Reshape to (batch, values) first, or use output_mode: one_hot",
                               after=": Keras encodes the last axis and takes no other rank"
                               + (" (on (batch,) it counts the whole batch as one sample)" if len(s) == 1 else
                                  " (on more axes its output is not the shape it declares)"),
                               code=codes.RANK_MISMATCH)
    return (s[0], n)


CATEGORY_ENCODING = Op(
    name="CategoryEncoding",
    family="preprocessing",
    dtypes=frozenset({"int", "bool"}),  # indices: Keras casts a float to int, and a negative value fails when it runs
    rank_free=True,
    doc="Encodes integer indices in [0, num_tokens) as one-hot, multi-hot or count vectors (float32).",
    args=(
        Arg("num_tokens", POS_INT, doc="the number of categories: indices go from 0 to num_tokens - 1"),
        Arg("output_mode", enum("multi_hot", "one_hot", "count"), "multi_hot",
            "one_hot: a vector per index; multi_hot / count: one per sample, over its last axis"),
    ),
    shape=_category_shape,
    unsupported_targets={"litert": LITERT_FLEX},
)

_SALT = {"anyOf": [INT, {"type": "array", "items": INT, "minItems": 2, "maxItems": 2}, {"type": "null"}],
         "description": "null (a fast, unsalted hash), an integer, or a list of 2 integers (a keyed SipHash)"}

HASHING = Op(
    name="Hashing",
    family="preprocessing",
    dtypes=ANY, rank_free=True,
    doc="Hashes each value into one of num_bins bins: an int64 index (strings are not an nnspec dtype: "
        "integer, bool or float inputs).",
    args=(
        Arg("num_bins", POS_INT, doc="the number of bins, counting the mask bin when mask_value is set"),
        Arg("mask_value", {"anyOf": [INT, {"type": "null"}], "description": "an integer, or null"}, None,
            "values equal to it go to bin 0, the others to bins 1..num_bins-1"),
        Arg("salt", _SALT, None, "a key for a salted (SipHash) hash"),
    ),
    shape=lambda args, shapes: tuple(shapes[0]),
    out_dtype="int64",
    unsupported_targets={"onnx": "ONNX has no operator for TensorFlow's string-bucket hash", "litert": LITERT_FLEX},
)

OPS: tuple[Op, ...] = (RESCALING, NORMALIZATION, CATEGORY_ENCODING, HASHING)
