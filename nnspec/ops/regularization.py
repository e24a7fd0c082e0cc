"""Ops of the regularization family: Dropout, SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout. All are the identity outside training and have no weights."""
from __future__ import annotations

from .base import RATE, Arg, Op, need_rank

SEED = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, {"type": "null"}],
        "description": "a non-negative integer seed, or null for a random one"}
# Keras accepts rate 1 for Dropout (drops everything) and GaussianDropout (divides by
# zero in training); nnspec wants rate < 1.
RATE_ARG = Arg("rate", RATE, doc="fraction of the input units to drop")
SEED_ARG = Arg("seed", SEED, None, "random seed")


def _same_shape(args, shapes):
    return tuple(shapes[0])


DROPOUT = Op(
    name="Dropout",
    family="regularization",
    doc="Randomly sets a fraction `rate` of inputs to 0 during training, scaling the rest by 1/(1-rate).",
    # noise_shape is left out: a per-axis mask shape with the batch as null; use SpatialDropout*.
    args=(RATE_ARG, SEED_ARG),
    shape=_same_shape,
)


def _spatial(n: int, layout: str, example: str):
    def shape(args, shapes):
        (s,) = shapes
        need_rank(s, n + 2, f"(batch, {layout}, channels)",
                  f"SpatialDropout{n}D drops whole channels of {example}; use "
                  + ", ".join(f"SpatialDropout{k}D for {k + 2}-D" for k in (1, 2, 3) if k != n)
                  + " inputs, or Dropout")
        return tuple(s)

    return Op(
        name=f"SpatialDropout{n}D",
        family="regularization",
        doc=f"Dropout of whole feature maps (channels) of {example} during training.",
        args=(RATE_ARG, SEED_ARG),
        shape=shape,
    )


SPATIAL_DROPOUT_1D = _spatial(1, "time", "sequences")
SPATIAL_DROPOUT_2D = _spatial(2, "rows, cols", "images")
SPATIAL_DROPOUT_3D = _spatial(3, "dim1, dim2, dim3", "volumes")

GAUSSIAN_NOISE = Op(
    name="GaussianNoise",
    family="regularization",
    doc="Adds zero-centred Gaussian noise with standard deviation `stddev` during training.",
    args=(Arg("stddev", {"type": "number", "minimum": 0, "maximum": 1, "description": "a number in [0, 1]"},
              doc="standard deviation of the noise"),
          SEED_ARG),
    shape=_same_shape,
)

GAUSSIAN_DROPOUT = Op(
    name="GaussianDropout",
    family="regularization",
    doc="Multiplies inputs by 1-centred Gaussian noise of stddev sqrt(rate / (1 - rate)) during training.",
    args=(RATE_ARG, SEED_ARG),
    shape=_same_shape,
)

OPS: tuple[Op, ...] = (DROPOUT, SPATIAL_DROPOUT_1D, SPATIAL_DROPOUT_2D, SPATIAL_DROPOUT_3D,
                       GAUSSIAN_NOISE, GAUSSIAN_DROPOUT)
