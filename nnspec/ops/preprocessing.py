"""Ops of the preprocessing family: Rescaling."""
from __future__ import annotations

from .base import Arg, Op, ShapeError, fmt_shape

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
            raise ShapeError(f"needs (batch, ..., {n}) for its {n} {name} values (one per channel) "
                             f"but gets {fmt_shape(s)}",
                             f"give {name} {s[-1]} values, or a single number" if len(s) >= 2 else
                             f"give {name} as a single number", arg=name, code="arg")
    return tuple(s)


RESCALING = Op(
    name="Rescaling",
    family="preprocessing",
    doc="Multiplies the input by `scale` and adds `offset` (e.g. scale 1/255 maps [0, 255] to [0, 1]).",
    args=(
        Arg("scale", NUM_OR_LIST, doc="the factor (per channel if a list)"),
        Arg("offset", NUM_OR_LIST, 0.0, "added after scaling (per channel if a list)"),
    ),
    shape=_rescaling_shape,
)

OPS: tuple[Op, ...] = (RESCALING,)
