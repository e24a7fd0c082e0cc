"""Ops of the reshaping family: Flatten, Reshape, Permute, RepeatVector,
ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, and nnspec's own Slice
(the safe replacement for ``Lambda(lambda x: x[..., :1])``)."""
from __future__ import annotations

import re
from functools import lru_cache

from .. import codes
from .base import (ANY, INT_MAX, POS_INT, Arg, Op, ShapeError, as_tuple, enum, fmt_shape, int_or_tuple,
                   need_rank, prod)
from .conv import FORMAT_ARG, first


# ---------------------------------------------------------------- Flatten
def _flatten_shape(args, shapes):
    (s,) = shapes
    if len(s) == 1:  # (batch,) -> (batch, 1), as Keras does
        return (s[0], 1)
    if None in s[1:]:
        # Keras gives (batch, None) here, but no Dense (or anything with weights)
        # can build on that, so nnspec refuses at the Flatten.
        raise ShapeError.found("needs known sizes on every non-batch axis", s,
                               "give the input fixed sizes, or pool over the variable axis "
                               "(e.g. GlobalAveragePooling1D) instead of flattening it", code=codes.UNKNOWN_DIMENSION)
    return (s[0], prod(s[1:]))


FLATTEN = Op(
    name="Flatten",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, rank_free=True,
    doc="Flattens every non-batch axis into one: (batch, d1, d2, ...) -> (batch, d1*d2*...).",
    shape=_flatten_shape,
    bounds="reshape",
)


# ---------------------------------------------------------------- Reshape
def _reshape_validate(args):
    if list(args["target_shape"]).count(-1) > 1:
        raise ShapeError.found("needs at most one -1 in target_shape", f"{list(args['target_shape'])}",
                               "give every size but one explicitly", arg="target_shape", code=codes.BAD_ARGUMENT)


def _reshape_shape(args, shapes):
    (s,) = shapes
    target = tuple(args["target_shape"])
    shown = f"({', '.join(map(str, target))}{',' if len(target) == 1 else ''})"
    known = prod(d for d in target if d != -1)
    dims = s[1:]
    if None in dims:
        # The element count is k * N for some unknown N >= 1.  With a -1 in
        # target_shape any k*N works out; without one, target's count must be a
        # multiple of k (Keras accepts this symbolically but fails when called).
        k = prod(d for d in dims if d is not None)
        if -1 not in target and known % k:
            raise ShapeError.found(
                f"needs a target_shape whose element count is a multiple of {k} to match {fmt_shape(s)}", shown,
                f"make the product of target_shape a multiple of {k}, or put -1 on one axis to infer it",
                after=f" with {known} elements", arg="target_shape", code=codes.RESHAPE_SIZE)
        return (s[0], *(None if d == -1 else d for d in target))
    n = prod(dims)
    if -1 in target:
        if n % known:
            raise ShapeError.found(
                f"needs a target_shape whose known sizes divide the {n} elements of {fmt_shape(s)}", shown,
                f"choose sizes whose product divides {n}", after=f", whose known sizes make {known}",
                arg="target_shape", code=codes.RESHAPE_SIZE)
        return (s[0], *(n // known if d == -1 else d for d in target))
    if known != n:
        raise ShapeError.found(
            f"needs a target_shape with the {n} elements of {fmt_shape(s)}", shown,
            f"make the product of target_shape equal {n}, or put -1 on one axis to infer it",
            after=f" with {known} elements", arg="target_shape", code=codes.RESHAPE_SIZE)
    return (s[0], *target)


RESHAPE = Op(
    name="Reshape",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, rank_free=True,
    doc="Reshapes the non-batch axes to `target_shape` (one entry may be -1: inferred).",
    args=(Arg("target_shape", {
        "type": "array", "maxItems": 64,
        "items": {"anyOf": [{"const": -1}, {"type": "integer", "minimum": 1, "maximum": INT_MAX}],
                  "description": "a positive size, or -1 to infer it"},
        "description": "the new shape without the batch axis: positive sizes, at most one -1"},
        doc="the output shape, batch excluded"),),
    shape=_reshape_shape,
    validate=_reshape_validate,
    bounds="reshape",
)


# ---------------------------------------------------------------- Permute
def _permute_validate(args):
    dims = list(args["dims"])
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ShapeError.found(f"needs dims to be a permutation of 1..{len(dims)}", f"{dims}",
                               "number the non-batch axes from 1 and list each once, e.g. [2, 1]",
                               arg="dims", code=codes.BAD_ARGUMENT)


def _permute_shape(args, shapes):
    (s,) = shapes
    dims = tuple(args["dims"])
    need_rank(s, len(dims) + 1, f"{len(dims)} non-batch axes (one per entry of dims)",
              "give dims one entry per non-batch axis")
    return (s[0], *(s[d] for d in dims))


PERMUTE = Op(
    name="Permute",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True,
    doc="Reorders the non-batch axes: `dims` lists them (numbered from 1) in their new order.",
    args=(Arg("dims", {"type": "array", "minItems": 1, "maxItems": 64, "uniqueItems": True,
                       "items": {"type": "integer", "minimum": 1, "maximum": 64},
                       "description": "a permutation of 1..rank-1, e.g. [2, 1]"},
              doc="the new order of the non-batch axes, numbered from 1"),),
    shape=_permute_shape,
    validate=_permute_validate,
)


# ---------------------------------------------------------------- RepeatVector
def _repeat_shape(args, shapes):
    (s,) = shapes
    need_rank(s, 2, "(batch, features)", "Flatten or pool the input first")
    return (s[0], args["n"], s[1])


REPEAT_VECTOR = Op(
    name="RepeatVector",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True,
    doc="Repeats a (batch, features) input n times: -> (batch, n, features).",
    args=(Arg("n", POS_INT, doc="the number of repetitions"),),
    shape=_repeat_shape,
)


# ---------------------------------------------------------------- padding, cropping, upsampling
_NONNEG = {"type": "integer", "minimum": 0, "maximum": INT_MAX}
_PAIRS_2D = {
    "anyOf": [_NONNEG, {"type": "array", "minItems": 2, "maxItems": 2, "items": {
        "anyOf": [_NONNEG, {"type": "array", "items": _NONNEG, "minItems": 2, "maxItems": 2}],
        "description": "a non-negative integer, or a pair (before, after)"}}],
    "description": "a non-negative integer, a list of 2 (rows, cols), "
                   "or a list of 2 pairs [[top, bottom], [left, right]]",
}
_SPATIAL = {1: "(batch, steps, features)", 2: "(batch, rows, cols, channels)"}
_SPATIAL_FIRST = {1: "(batch, features, steps)", 2: "(batch, channels, rows, cols)"}


def _need_layout(s, n, args):
    need_rank(s, n + 2, (_SPATIAL_FIRST if first(args) else _SPATIAL)[n])
    return 2 if first(args) else 1  # the first spatial axis


def _pairs(value, n: int) -> tuple:
    """padding/cropping -> ((before, after),) per spatial axis."""
    if n == 1:
        return (as_tuple(value, 2),)
    if isinstance(value, int):
        return ((value, value),) * n
    return tuple(as_tuple(v, 2) for v in value)


def _padding_shape(n):
    def shape(args, shapes):
        (s,) = shapes
        start = _need_layout(s, n, args)
        out = list(s)
        for axis, (a, b) in enumerate(_pairs(args["padding"], n), start=start):
            if out[axis] is not None:
                out[axis] += a + b
        return tuple(out)
    return shape


def _cropping_shape(n):
    def shape(args, shapes):
        (s,) = shapes
        start = _need_layout(s, n, args)
        out = list(s)
        for axis, (a, b) in enumerate(_pairs(args["cropping"], n), start=start):
            if out[axis] is None:
                continue
            if a + b >= out[axis]:
                raise ShapeError(
                    f"needs cropping smaller than the input but crops {a} + {b} from axis {axis} "
                    f"(size {out[axis]}) of {fmt_shape(s)}",
                    "crop less, or give the layer a larger input", arg="cropping", code=codes.DIMENSION_TOO_SMALL)
            out[axis] -= a + b
        return tuple(out)
    return shape


def _upsampling_shape(n):
    def shape(args, shapes):
        (s,) = shapes
        start = _need_layout(s, n, args)
        out = list(s)
        for axis, k in enumerate(as_tuple(args["size"], n), start=start):
            if out[axis] is not None:
                out[axis] *= k
        return tuple(out)
    return shape


ZERO_PADDING_1D = Op(
    name="ZeroPadding1D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, sequence_input=True,
    doc="Pads the steps axis of (batch, steps, features) with zeros.",
    args=(Arg("padding", int_or_tuple(2, minimum=0), 1,
              doc="zeros to add at both ends, or [before, after]"), FORMAT_ARG),
    shape=_padding_shape(1),
    bounds="zero_padding",
)

ZERO_PADDING_2D = Op(
    name="ZeroPadding2D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True,
    doc="Pads the rows and cols of (batch, rows, cols, channels) with zeros.",
    args=(Arg("padding", _PAIRS_2D, (1, 1), doc="zeros to add around the image"), FORMAT_ARG),
    shape=_padding_shape(2),
    bounds="zero_padding",
)

CROPPING_1D = Op(
    name="Cropping1D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, sequence_input=True,
    doc="Crops the steps axis of (batch, steps, features).",
    args=(Arg("cropping", int_or_tuple(2, minimum=0), (1, 1),
              doc="steps to remove at both ends, or [start, end]"),),
    shape=_cropping_shape(1),
)

CROPPING_2D = Op(
    name="Cropping2D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True,
    doc="Crops the rows and cols of (batch, rows, cols, channels).",
    args=(Arg("cropping", _PAIRS_2D, ((0, 0), (0, 0)), doc="rows/cols to remove around the image"), FORMAT_ARG),
    shape=_cropping_shape(2),
)

UP_SAMPLING_1D = Op(
    name="UpSampling1D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, sequence_input=True,
    doc="Repeats each step of (batch, steps, features) `size` times.",
    args=(Arg("size", POS_INT, 2, doc="the repetition factor"),),
    shape=_upsampling_shape(1),
)

UP_SAMPLING_2D = Op(
    name="UpSampling2D",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True,
    doc="Upsamples the rows and cols of (batch, rows, cols, channels) by `size`.",
    args=(Arg("size", int_or_tuple(2), (2, 2), doc="the upsampling factors for rows and cols"), FORMAT_ARG,
          Arg("interpolation", enum("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"),
              "nearest")),
    shape=_upsampling_shape(2),
    no_gradient=lambda args: ("TensorFlow has no gradient for its area resize (ResizeArea)"
                              if args.get("interpolation") == "area" else None),
)


# ---------------------------------------------------------------- Slice
_INT = re.compile(r"-?\d+")
_KEY_HINT = ("pieces are '...', ':', start:stop:step with optional integers, or an integer, "
             "separated by commas; the first piece covers the batch axis")


def _key_error(key, problem):
    return ShapeError.found("needs a key in numpy index syntax (e.g. '..., :1' or ':, 2:5, ::2')", f"{key!r}",
                            _KEY_HINT, after=f": {problem}", arg="key", code=codes.BAD_ARGUMENT)


def parse_key(key: str) -> tuple:
    """'..., 2:5, 0' -> (Ellipsis, slice(2, 5, None), 0). Raises ShapeError (code 'arg')."""
    if not isinstance(key, str):
        raise _key_error(key, "it is not a string")
    return _parse_key(key)


@lru_cache(maxsize=256)
def _parse_key(key: str) -> tuple:
    if not key.strip():
        raise _key_error(key, "it is empty")
    items = []
    for piece in key.split(","):
        piece = piece.strip()
        if piece == "...":
            if Ellipsis in items:
                raise _key_error(key, "'...' appears more than once")
            items.append(Ellipsis)
        elif ":" in piece:
            parts = [p.strip() for p in piece.split(":")]
            if len(parts) > 3 or any(p and not _INT.fullmatch(p) for p in parts):
                raise _key_error(key, f"cannot read the slice {piece!r}")
            start, stop, step = (int(p) if p else None for p in parts + [""] * (3 - len(parts)))
            if step == 0:
                raise _key_error(key, f"the slice {piece!r} has step 0")
            items.append(slice(start, stop, step))
        elif _INT.fullmatch(piece):
            items.append(int(piece))
        else:
            raise _key_error(key, f"cannot read {piece!r}" if piece else "a piece is empty")
    return tuple(items)


def _fmt_item(item) -> str:
    if item is Ellipsis:
        return "..."
    if isinstance(item, int):
        return str(item)
    text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
    return text if item.step is None else f"{text}:{item.step}"


def _length(s: slice, d: int) -> int:
    return len(range(*s.indices(d)))


def _unknown_length(s: slice):
    """The length of ``s`` over an axis of unknown size d >= 1 when it is the same
    for every d, else None.

    Between the sizes where start or stop clamp (|start|, |stop| +-1) the length
    is a clipped ceil of an affine function of d, so monotone; probing the ends
    of every such piece, and two sizes far beyond them, decides it exactly.
    """
    k = abs(s.step or 1)
    ends = [abs(v) for v in (s.start, s.stop) if v is not None]
    far = 4 * (max(ends, default=0) + k) + 8
    probes = {1, far, far + k} | {v + j for v in ends for j in range(-2, 3) if v + j >= 1}
    lengths = {_length(s, d) for d in probes}
    return lengths.pop() if len(lengths) == 1 else None


def slice_shape(key: str, shape: tuple) -> tuple:
    """The shape of ``x[key]`` for x of ``shape`` (batch included)."""
    items = parse_key(key)
    explicit = [i for i in items if i is not Ellipsis]
    if len(explicit) > len(shape):
        raise ShapeError.found(f"needs at least {len(explicit)} axes (batch included) for key {key!r}", shape,
                               "index fewer axes, or use '...'", code=codes.RANK_MISMATCH)
    fill = [slice(None)] * (len(shape) - len(explicit))
    if Ellipsis in items:
        at = items.index(Ellipsis)
        per_axis = list(items[:at]) + fill + list(items[at + 1:])
    else:
        per_axis = list(items) + fill
    first = per_axis[0]
    if not (isinstance(first, slice) and first.start in (None, 0) and first.stop is None
            and first.step in (None, 1)):
        raise ShapeError(f"needs the batch axis taken whole (':' or '...') but key {key!r} "
                         f"gives it {_fmt_item(first)!r} on {fmt_shape(shape)}",
                         "start the key with ':, ' or '..., '", arg="key", code=codes.BAD_ARGUMENT)
    out = [shape[0]]
    for axis, (item, d) in enumerate(zip(per_axis[1:], shape[1:]), start=1):
        if isinstance(item, int):
            if d is not None and not -d <= item < d:
                raise ShapeError.found(f"needs index {item} within axis {axis} (size {d})", shape,
                                       f"use an index from {-d} to {d - 1}",
                                       arg="key", code=codes.BAD_ARGUMENT)
            continue  # an integer index drops the axis
        n = _unknown_length(item) if d is None else _length(item, d)
        if n == 0:
            size = "any size" if d is None else f"size {d}"
            raise ShapeError(f"needs a non-empty result but {_fmt_item(item)!r} leaves axis {axis} "
                             f"({size}) of {fmt_shape(shape)} empty",
                             "check start, stop and step: with a positive step start must come "
                             "before stop (and after it with a negative step)", arg="key",
                             code=codes.DIMENSION_TOO_SMALL)
        out.append(n)
    return tuple(out)


def _slice_shape(args, shapes):
    return slice_shape(args["key"], shapes[0])


def _slice_validate(args):
    parse_key(args["key"])


SLICE = Op(
    name="Slice",
    family="reshaping",
    dtypes=ANY, keeps_dtype=True, rank_free=True,
    doc="Takes part of a tensor by a numpy-style key, e.g. '..., :1' (nnspec's safe "
        "replacement for `Lambda(lambda x: x[..., :1])`).",
    args=(Arg("key", {"type": "string", "minLength": 1, "maxLength": 256,
                      "pattern": r"^[\s\d:,.-]+$",
                      "description": "a numpy index over the whole tensor, batch axis included, "
                                     "e.g. '..., :1', ':, 2:5, ::2' or ':, 0'"},
              doc="numpy index syntax: '...', ':', start:stop:step, integers; the batch axis "
                  "must be taken whole"),),
    shape=_slice_shape,
    validate=_slice_validate,
    keras="nnspec.keras.custom:Slice",
)

OPS: tuple[Op, ...] = (FLATTEN, RESHAPE, PERMUTE, REPEAT_VECTOR, ZERO_PADDING_1D, ZERO_PADDING_2D,
                       CROPPING_1D, CROPPING_2D, UP_SAMPLING_1D, UP_SAMPLING_2D, SLICE)
