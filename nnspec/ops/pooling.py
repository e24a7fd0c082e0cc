"""Ops of the pooling family: Max/AveragePooling1D/2D/3D and their Global variants.

Two generators, ``_pool(mode, rank)`` and ``_global_pool(mode, rank)``, each called
once per mode and rank; the window arithmetic is the conv family's.
"""
from __future__ import annotations

from .base import (ANY, BOOL, LITERT_FLEX, NUMERIC, PADDING, REQUIRED, Arg, ImportHooks, Op, as_tuple,
                   int_or_tuple)
from .conv import FORMAT_ARG, axis_default, first, join, layout, need_spatial, window_dims

_MODES = {"Max": "maximum", "Average": "average"}


def _pool(mode: str, rank: int) -> Op:
    family = mode + "Pooling{}D"
    strides = {"anyOf": [*int_or_tuple(rank)["anyOf"], {"type": "null"}],
               "description": "null (= pool_size), or a positive integer"
                              + ("" if rank == 1 else f" or a list of {rank}")}

    def shape(args, shapes):
        (s,) = shapes
        need_spatial(s, rank, family, data_format=args["data_format"])
        size = as_tuple(args["pool_size"], rank)
        step = size if args["strides"] is None else as_tuple(args["strides"], rank)
        dims = window_dims(s, size, step, args["padding"], what="pool_size", args=args)
        return join(s[0], dims, s[1] if first(args) else s[-1], args)

    # Keras 3 gives MaxPooling a default pool_size of 2 but AveragePooling none.
    default = axis_default(rank, 2) if mode == "Max" else REQUIRED

    def implied(args, shapes):
        """Keras writes strides = pool_size when strides was left out."""
        if "strides" in args and as_tuple(args["strides"], rank) == as_tuple(args.get("pool_size", default), rank):
            args.pop("strides")

    return Op(name=family.format(rank), family="pooling",
              doc=f"{_MODES[mode].capitalize()} over windows of pool_size on {layout(rank)}, stepping by strides.",
              args=(Arg("pool_size", int_or_tuple(rank), default, doc="window size"),
                    Arg("strides", strides, None, doc="step of the window; null means pool_size"),
                    Arg("padding", PADDING, "valid"), FORMAT_ARG),
              shape=shape, import_hooks=ImportHooks(implied=implied),
              bounds=f"{mode.lower()}_pool" if rank < 3 else None,
              unsupported_targets={"litert": LITERT_FLEX} if rank == 3 else {},
              # max pooling of integers (not bool) keeps their dtype; average pooling takes floats only
              **({"dtypes": NUMERIC, "keeps_dtype": True} if mode == "Max" and rank < 3 else {}),
              sequence_input=rank == 1, one_d=family.format(1) if rank == 2 else None)


def _global_pool(mode: str, rank: int) -> Op:
    family = "Global" + mode + "Pooling{}D"

    def shape(args, shapes):
        (s,) = shapes
        need_spatial(s, rank, family, data_format=args["data_format"])
        return join(s[0], (1,) * rank if args["keepdims"] else (), s[1] if first(args) else s[-1], args)

    return Op(name=family.format(rank), family="pooling",
              doc=f"{_MODES[mode].capitalize()} over all spatial axes of {layout(rank)}: (batch, channels).",
              args=(FORMAT_ARG, Arg("keepdims", BOOL, False, doc="keep the spatial axes with size 1")),
              shape=shape, bounds="global_average_pool" if mode == "Average" and rank < 3 else None,
              dtypes=ANY, keeps_dtype=mode == "Max", sequence_input=rank == 1)


OPS: tuple[Op, ...] = (
    *(_pool(mode, r) for mode in _MODES for r in (1, 2, 3)),
    *(_global_pool(mode, r) for mode in _MODES for r in (1, 2, 3)),
)
