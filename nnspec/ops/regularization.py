"""Ops of the regularization family: Dropout, SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout. All are the identity outside training and have no weights."""
from __future__ import annotations

from .. import codes
from .base import INT_MAX, RATE, Arg, Op, ShapeError, fmt_shape, need_rank
from .conv import FORMAT_ARG

SEED = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, {"type": "null"}],
        "description": "a non-negative integer seed, or null for a random one"}
# Keras accepts rate 1 for Dropout (drops everything) and GaussianDropout (divides by
# zero in training); nnspec wants rate < 1.
RATE_ARG = Arg("rate", RATE, doc="fraction of the input units to drop")
SEED_ARG = Arg("seed", SEED, None, "random seed")


def _same_shape(args, shapes):
    return tuple(shapes[0])


NOISE_SHAPE = {
    "anyOf": [{"type": "array", "minItems": 1, "maxItems": 64,
               "items": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": INT_MAX}, {"type": "null"}]}},
              {"type": "null"}],
    "description": "null, or the dropout mask's shape, batch axis included: per axis null (the input's size), "
                   "1 (one draw shared along it) or the input's size, e.g. [null, 1, 1, null]",
}


def _dropout_shape(args, shapes):
    (s,) = shapes
    noise = args["noise_shape"]
    if noise is None:
        return tuple(s)
    shown = "[" + ", ".join("null" if d is None else str(d) for d in noise) + "]"
    if len(noise) != len(s):
        raise ShapeError(f"has noise_shape {shown} of {len(noise)} axes but its input {fmt_shape(s)} has {len(s)} "
                         "(Keras broadcasts the mask against the input: another rank fails, or changes the "
                         "output's shape)", f"give noise_shape {len(s)} entries, the first (the batch) null",
                         arg="noise_shape", code=codes.BAD_ARGUMENT)
    for axis, (n, d) in enumerate(zip(noise, s)):
        if n is None or n == 1 or (axis > 0 and n == d):
            continue
        what = "the batch axis" if axis == 0 else f"axis {axis} (size {'unknown' if d is None else d})"
        raise ShapeError(f"has noise_shape {shown} with {n} on {what} of {fmt_shape(s)}: each entry must be null, "
                         "1 or the input's size there, or the mask fails to broadcast when it runs",
                         "use null (a draw per entry) or 1 (one draw shared along the axis)",
                         arg="noise_shape", code=codes.BAD_ARGUMENT)
    return tuple(s)


DROPOUT = Op(
    name="Dropout",
    family="regularization",
    rank_free=True, mask="propagates",
    doc="Randomly sets a fraction `rate` of inputs to 0 during training, scaling the rest by 1/(1-rate).",
    args=(RATE_ARG, Arg("noise_shape", NOISE_SHAPE, None, "the mask's shape (1 on an axis shares a draw along it)"),
          SEED_ARG),
    shape=_dropout_shape,
    bounds="reshape",
)


def _spatial(n: int, layout: str, example: str):
    def shape(args, shapes):
        (s,) = shapes
        need_rank(s, n + 2, f"(batch, channels, {layout})" if args.get("data_format") == "channels_first" else
                  f"(batch, {layout}, channels)",
                  f"SpatialDropout{n}D drops whole channels of {example}; use "
                  + ", ".join(f"SpatialDropout{k}D for {k + 2}-D" for k in (1, 2, 3) if k != n)
                  + " inputs, or Dropout")
        return tuple(s)

    return Op(
        name=f"SpatialDropout{n}D",
        family="regularization",
        doc=f"Dropout of whole feature maps (channels) of {example} during training.",
        args=(RATE_ARG, *((FORMAT_ARG,) if n > 1 else ()), SEED_ARG),  # Keras's 1-D one has no data_format
        shape=shape,
        sequence_input=n == 1,
        mask="propagates",  # a mask of (batch, rows, cols) too (tests/keras/test_masks_keras.py)
    )


SPATIAL_DROPOUT_1D = _spatial(1, "time", "sequences")
SPATIAL_DROPOUT_2D = _spatial(2, "rows, cols", "images")
SPATIAL_DROPOUT_3D = _spatial(3, "dim1, dim2, dim3", "volumes")

GAUSSIAN_NOISE = Op(
    name="GaussianNoise",
    family="regularization",
    rank_free=True, mask="propagates",
    doc="Adds zero-centred Gaussian noise with standard deviation `stddev` during training.",
    args=(Arg("stddev", {"type": "number", "minimum": 0, "maximum": 1, "description": "a number in [0, 1]"},
              doc="standard deviation of the noise"),
          SEED_ARG),
    shape=_same_shape,
)

GAUSSIAN_DROPOUT = Op(
    name="GaussianDropout",
    family="regularization",
    rank_free=True, mask="propagates",
    doc="Multiplies inputs by 1-centred Gaussian noise of stddev sqrt(rate / (1 - rate)) during training.",
    args=(RATE_ARG, SEED_ARG),
    shape=_same_shape,
)

OPS: tuple[Op, ...] = (DROPOUT, SPATIAL_DROPOUT_1D, SPATIAL_DROPOUT_2D, SPATIAL_DROPOUT_3D,
                       GAUSSIAN_NOISE, GAUSSIAN_DROPOUT)
