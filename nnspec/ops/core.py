"""Core ops: Dense and friends."""
from __future__ import annotations

from .base import (ACTIVATION, POS_INT, Arg, Op, ShapeError, fmt_shape, need_known,
                   weight_args)


def _dense_shape(args, shapes):
    (s,) = shapes
    if len(s) < 2:
        raise ShapeError(f"needs at least (batch, features) but gets {fmt_shape(s)}", code="rank")
    need_known(s, -1, "last (features) dimension")
    return s[:-1] + (args["units"],)


def _dense_params(args, shapes):
    fan_in = shapes[0][-1]
    return fan_in * args["units"] + (args["units"] if args["use_bias"] else 0)


DENSE = Op(
    name="Dense",
    family="core",
    doc="Densely connected layer: `activation(dot(x, kernel) + bias)` over the last axis.",
    args=(
        Arg("units", POS_INT, doc="dimensionality of the output"),
        Arg("activation", ACTIVATION, None),
        *weight_args(),
    ),
    shape=_dense_shape,
    params=_dense_params,
)

OPS: tuple[Op, ...] = (DENSE,)
