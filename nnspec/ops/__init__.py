"""The op catalog: every layer type nnspec knows, one ``Op`` record each.

Where does layer type X live?  ``python -m nnspec ops X`` prints its module, or
look in the family modules below (one small module per Keras layer family).
The registry is an explicit dict built from each module's ``OPS`` tuple.
"""
from __future__ import annotations

from . import (activations, attention, conv, core, custom, dtypes, expression, merging, normalization, pooling,
               preprocessing, ranks, recurrent, regularization, reshaping, wrappers)
from .base import Op

_MODULES = (core, activations, conv, pooling, reshaping, merging, normalization,
            regularization, recurrent, attention, preprocessing, wrappers, expression, custom)

CATALOG: dict[str, Op] = {}
for _module in _MODULES:
    for _op in _module.OPS:
        if _op.name in CATALOG:
            raise RuntimeError(f"op {_op.name} defined twice")
        # the input dtypes Keras takes (ops/dtypes.py), set on the frozen record as its __post_init__ does
        if _op.name in dtypes.ACCEPTS:
            object.__setattr__(_op, "dtypes", dtypes.ACCEPTS[_op.name])
        if _op.name in dtypes.KEEPS_DTYPE:
            object.__setattr__(_op, "keeps_dtype", True)
        # what it asks of its input's rank (ops/ranks.py)
        object.__setattr__(_op, "rank_free", _op.name in ranks.RANK_FREE)
        object.__setattr__(_op, "sequence_input", _op.name in ranks.SEQUENCE_INPUT)
        CATALOG[_op.name] = _op


def get(name: str) -> Op | None:
    return CATALOG.get(name)


def layered(op_name: str, args: dict):
    """(op name, args) of a layer and of each layer it wraps (TimeDistributed's Embedding,
    Bidirectional's LSTM), outermost first."""
    while True:
        yield op_name, args
        inner = args.get("layer") if isinstance(args, dict) else None
        if not (isinstance(inner, dict) and len(inner) == 1):
            return
        (op_name, args), = inner.items()
        args = args if isinstance(args, dict) else {}
