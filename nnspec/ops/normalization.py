"""Ops of the normalization family: BatchNormalization, LayerNormalization,
UnitNormalization."""
from __future__ import annotations

from .. import codes
from .base import (ANY, AXIS, BOOL, CONSTRAINT, INITIALIZER, REGULARIZER, Arg, Op, ShapeError,
                   fmt_shape, prod)

AXES = {"anyOf": [AXIS, {"type": "array", "items": AXIS, "minItems": 1, "maxItems": 64, "uniqueItems": True}],
        "description": "an axis or a list of distinct axes"}
EPSILON = {"type": "number", "exclusiveMinimum": 0, "description": "a small positive number"}
MOMENTUM = {"type": "number", "minimum": 0, "maximum": 1, "description": "a number in [0, 1]"}


def resolve_axes(axis, shape, arg: str = "axis") -> list[int]:
    """Keras axis (int or list, negatives from the end) -> sorted non-negative axes.

    Raises ShapeError (bad-argument) for an axis out of range or an axis given twice.
    """
    rank = len(shape)
    given = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in given:
        if not -rank <= a < rank:
            raise ShapeError(f"has {arg} {a} but the input {fmt_shape(shape)} has only axes "
                             f"{-rank}..{rank - 1} (axis 0 is the batch)",
                             f"use an axis between 1 and {rank - 1}, or -1 for the last" if rank > 1 else
                             "give the input a feature axis", arg=arg, code=codes.BAD_ARGUMENT)
        a = a % rank
        if a in out:
            raise ShapeError(f"names axis {a} twice in {arg} {given} for input {fmt_shape(shape)}",
                             "list each axis once", arg=arg, code=codes.BAD_ARGUMENT)
        out.append(a)
    return sorted(out)


def known_axis_sizes(axes, shape) -> list[int]:
    """Sizes of ``shape`` on ``axes``; they size weights, so they must be known."""
    sizes = []
    for a in axes:
        if shape[a] is None:
            if a == 0:
                raise ShapeError.found("needs a known size on the normalized axis 0, the batch axis,", shape,
                                       "normalize a feature axis (e.g. axis: -1), or fix the batch size",
                                       code=codes.UNKNOWN_DIMENSION)
            raise ShapeError.found(f"needs a known size on the normalized axis {a}", shape,
                                   "give the input a fixed size on that axis", code=codes.UNKNOWN_DIMENSION)
        sizes.append(shape[a])
    return sizes


def _norm_args() -> tuple:
    return (Arg("center", BOOL, True, "add the learned offset beta"),
            Arg("scale", BOOL, True, "multiply by the learned scale gamma"),
            Arg("beta_initializer", INITIALIZER, "zeros"),
            Arg("gamma_initializer", INITIALIZER, "ones"))


_REG_CONSTRAINTS = (Arg("beta_regularizer", REGULARIZER, None),
                    Arg("gamma_regularizer", REGULARIZER, None),
                    Arg("beta_constraint", CONSTRAINT, None),
                    Arg("gamma_constraint", CONSTRAINT, None))


# ---------------------------------------------------------------- BatchNormalization
def _bn_shape(args, shapes):
    (s,) = shapes
    axes = resolve_axes(args["axis"], s)
    known_axis_sizes(axes, s)
    return tuple(s)


def _bn_params(args, shapes):
    (s,) = shapes
    c = s[resolve_axes(args["axis"], s)[0]]
    trainable = c * (int(args["center"]) + int(args["scale"]))
    # moving_mean, moving_variance; renorm adds moving_stddev, renorm_mean, renorm_stddev
    non_trainable = c * (5 if args["renorm"] else 2)
    return trainable, non_trainable


def _bn_validate(args):
    clip = args.get("renorm_clipping")
    if args.get("renorm") and clip and clip.get("rmax") is not None and clip.get("rmin") is not None and clip["rmax"] < clip["rmin"]:
        raise ShapeError(f"has renorm_clipping rmax {clip['rmax']} < rmin {clip['rmin']}",
                         "make rmax >= rmin", arg="renorm_clipping", code=codes.BAD_ARGUMENT)


_NONNEG = {"type": "number", "minimum": 0, "description": "a non-negative number"}
RENORM_CLIPPING = {
    "anyOf": [{"type": "object", "properties": {"rmax": _NONNEG, "rmin": _NONNEG, "dmax": _NONNEG},
               "additionalProperties": False},
              {"type": "null"}],
    "description": "null, or a mapping with rmax, rmin, dmax (the renorm correction bounds)",
}

BATCH_NORMALIZATION = Op(
    name="BatchNormalization",
    family="normalization",
    dtypes=ANY, mask="propagates",
    doc="Normalizes over the batch with learned scale/offset; keeps moving mean/variance for inference.",
    args=(
        Arg("axis", AXIS, -1, "the features axis (normalized per entry of this axis)"),
        Arg("momentum", MOMENTUM, 0.99, "momentum of the moving averages"),
        Arg("epsilon", EPSILON, 1e-3, "added to the variance to avoid dividing by zero"),
        *_norm_args(),
        Arg("moving_mean_initializer", INITIALIZER, "zeros"),
        Arg("moving_variance_initializer", INITIALIZER, "ones"),
        *_REG_CONSTRAINTS,
        Arg("renorm", BOOL, False, "use Batch Renormalization (adds 3 non-trainable vectors)"),
        Arg("renorm_clipping", RENORM_CLIPPING, None),
        Arg("renorm_momentum", MOMENTUM, 0.99, "momentum of the renorm moving averages"),
    ),
    shape=_bn_shape,
    params=_bn_params,
    weights=lambda args, shapes: {"moving_mean": (1,), "moving_variance": (1,),
                                  **({"gamma": (1,)} if args["scale"] else {}),
                                  **({"beta": (1,)} if args["center"] else {})},
    validate=_bn_validate,
    bounds="batchnorm",
)


# ---------------------------------------------------------------- LayerNormalization
def _ln_shape(args, shapes):
    (s,) = shapes
    axes = resolve_axes(args["axis"], s)
    if args["center"] or args["scale"]:  # beta / gamma span the normalized axes
        known_axis_sizes(axes, s)
    return tuple(s)


def _ln_params(args, shapes):
    (s,) = shapes
    if not (args["center"] or args["scale"]):
        return 0
    n = prod(s[a] for a in resolve_axes(args["axis"], s))
    return n * (int(args["center"]) + int(args["scale"]))


LAYER_NORMALIZATION = Op(
    name="LayerNormalization",
    family="normalization",
    dtypes=ANY, rank_free=True, mask="propagates",
    doc="Normalizes each example over the given axes, with learned scale/offset spanning those axes.",
    args=(
        Arg("axis", AXES, -1, "the axis or axes to normalize over"),
        Arg("epsilon", EPSILON, 1e-3, "added to the variance to avoid dividing by zero"),
        *_norm_args(),
        *_REG_CONSTRAINTS,
    ),
    shape=_ln_shape,
    params=_ln_params,
    # gamma and beta span the normalized axes (Keras: one axis when `axis` is an int)
    weights=lambda args, shapes: dict.fromkeys(
        [k for k, on in (("gamma", args["scale"]), ("beta", args["center"])) if on],
        (len(args["axis"]) if isinstance(args["axis"], (list, tuple)) else 1,)),
    # measured: on an int or bool input Keras computes it without a gradient to gamma or beta
    float_only=lambda args: ("Keras normalises it with no gradient to gamma and beta (fit fails: \"No gradients "
                             "provided\")" if args["scale"] or args["center"] else None),
)


# ---------------------------------------------------------------- UnitNormalization
def _unit_shape(args, shapes):
    (s,) = shapes
    resolve_axes(args["axis"], s)
    return tuple(s)


UNIT_NORMALIZATION = Op(
    name="UnitNormalization",
    family="normalization",
    rank_free=True, mask="propagates",
    doc="Scales each example to unit L2 norm over the given axes.",
    args=(Arg("axis", AXES, -1, "the axis or axes to normalize over"),),
    shape=_unit_shape,
)

OPS: tuple[Op, ...] = (BATCH_NORMALIZATION, LAYER_NORMALIZATION, UNIT_NORMALIZATION)
