"""Catalog op + args -> a Keras layer object.

Vocabulary values in a spec (initializers, regularizers, constraints) are
turned into Keras objects here; everything else passes through by name.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from ..ops import CATALOG  # noqa: E402
from ..ops.base import Op  # noqa: E402

_INITIALIZER_CLASSES = {
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
    "he_normal": "HeNormal", "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal", "orthogonal": "Orthogonal",
    "identity": "Identity", "variance_scaling": "VarianceScaling",
}
_CONSTRAINT_CLASSES = {"max_norm": "MaxNorm", "min_max_norm": "MinMaxNorm", "non_neg": "NonNeg",
                       "unit_norm": "UnitNorm"}


def _one(value):
    """'name' -> ('name', {}); {name: args} -> ('name', args or {})."""
    if isinstance(value, str):
        return value, {}
    (name, args), = value.items()
    return name, args if isinstance(args, dict) else args


def initializer(value):
    if value is None:
        return None
    name, args = _one(value)
    return getattr(keras.initializers, _INITIALIZER_CLASSES[name])(**(args or {}))


def regularizer(value):
    if value is None:
        return None
    name, args = _one(value)
    if name == "l1":
        return keras.regularizers.L1(args if isinstance(args, (int, float)) else 0.01)
    if name == "l2":
        return keras.regularizers.L2(args if isinstance(args, (int, float)) else 0.01)
    if name == "l1_l2":
        args = args or {}
        return keras.regularizers.L1L2(l1=args.get("l1", 0.0), l2=args.get("l2", 0.0))
    if name == "orthogonal_regularizer":
        return keras.regularizers.OrthogonalRegularizer(**(args or {}))
    raise ValueError(f"unknown regularizer {name}")


def constraint(value):
    if value is None:
        return None
    name, args = _one(value)
    if name in _CONSTRAINT_CLASSES:
        return getattr(keras.constraints, _CONSTRAINT_CLASSES[name])(**(args or {}))
    if name == "custom":
        from .custom_objects import custom_object
        return custom_object(args)
    if name == "expr":
        from .expr import ExprConstraint
        return ExprConstraint(args)
    if name == "weight_norm":
        from .objects import WeightNormConstraint
        return WeightNormConstraint(**(args or {}))
    raise NotImplementedError(f"constraint {name!r} is built by `nnspec compile` (not yet implemented)")


_CONVERTERS = (("_initializer", initializer), ("_regularizer", regularizer), ("_constraint", constraint))


def convert_kwargs(kwargs: dict) -> dict:
    out = {}
    for key, value in kwargs.items():
        for suffix, conv in _CONVERTERS:
            if key.endswith(suffix):
                value = conv(value)
                break
        out[key] = value
    return out


def make_layer(op: Op | str, args: dict, name: str | None = None, **base):
    """Construct the Keras layer for ``op`` with filled ``args``."""
    if isinstance(op, str):
        op = CATALOG[op]
    kwargs = op.keras_kwargs(dict(args), make_item) if op.keras_kwargs else dict(args)
    for key in op.call_args:  # given to the call (call_layer), not the constructor
        kwargs.pop(key, None)
    kwargs = convert_kwargs(kwargs)
    cls = keras_class(op)
    # The activity regularizer is set on the built layer, which Layer.__call__ applies for every
    # class alike: SpatialDropout's constructors take no such keyword, and SimpleRNN's takes it and
    # drops it (Keras 3.15; a spec relying on it failed with "No gradients provided", FINDINGS F17).
    activity = base.pop("activity_regularizer", None)
    layer = cls(name=name, **kwargs, **base)
    if activity is not None:
        layer.activity_regularizer = activity
    return layer


def keras_class(op: Op):
    target = op.keras or op.name
    if ":" in target:  # "module:Class" for nnspec's own layers
        import importlib
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)
    return getattr(keras.layers, target)


def make_item(item: dict, name: str | None = None):
    """A nested `{Type: {args}}` item (the `layer:` of Bidirectional / TimeDistributed)."""
    (type_name, args), = item.items()
    op = CATALOG[type_name]
    args = dict(args or {})
    args.pop("name", None)
    return make_layer(op, op.fill(args), name=name)


def call_layer(op: Op, layer, tensors: list, ports: dict | None = None, args: dict | None = None):
    """Call a layer on its input tensors the way its Keras class expects. ``ports``: the op's
    keyword inputs, name -> [tensors] (``initial_state=[h, c]``); ``args``: the layer's args, for
    those its call takes (op.call_args). A layer with several outputs gives a list."""
    kw = {}
    for name, given in (ports or {}).items():
        kw[name] = list(given) if op.port(name).many else given[0]
    for key in op.call_args:
        if args and args.get(key):
            kw[key] = args[key]
    if op.keras_call is not None:
        return op.keras_call(layer, tensors, **kw)
    if op.inputs == (1, 1):
        return layer(tensors[0], **kw)
    return layer(list(tensors), **kw)
