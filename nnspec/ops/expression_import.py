"""Which Keras operations an `Expr` layer writes, for `nnspec import` (the Expr record's ``imports``).

A Keras 3 Functional graph holds plain ``keras.ops`` calls as nodes of their own
(``x + 3.0``, ``x * y``, ``ops.mean(x, axis=-1)``, ``x[:, 0]``): MobileNetV3's
hard sigmoid, ConvNeXt's residual additions. Each becomes one Expr item whose
expression computes what the call computes, with the call's constants written in
(Python floats as ``repr`` gives them: the same float32 when Keras converts
them); its tensors are ``x`` (one) or ``a, b, ...`` (several, from a ``from:``
map). keras.applications' InceptionResNetV2 ``CustomScaleLayer``
(``x + y * scale``) is one too. Everything else is refused with what to write
instead. Called with Keras objects, at import only: nothing here imports Keras.
"""
from __future__ import annotations

import math
import numbers

from .base import Imported, ImportRefused

_NUMPY, _NN, _MATH = "keras.src.ops.numpy.", "keras.src.ops.nn.", "keras.src.ops.math."
# class -> template over the names of the call's tensors and constants ({0} {1}: its positional arguments)
_BINARY = {f"{_NUMPY}{c}": f"{{0}} {sym} {{1}}" for c, sym in
           (("Add", "+"), ("Subtract", "-"), ("Multiply", "*"), ("Divide", "/"), ("TrueDivide", "/"),
            ("Power", "**"))}
_CALLS = {
    **{f"{_NUMPY}{c}": f"{fn}({{0}}, {{1}})" for c, fn in (("Maximum", "maximum"), ("Minimum", "minimum"))},
    **{f"{_NUMPY}{c}": f"{fn}({{0}})" for c, fn in
       (("Abs", "abs"), ("Absolute", "abs"), ("Square", "square"), ("Sqrt", "sqrt"), ("Exp", "exp"),
        ("Log", "log"), ("Log1p", "log1p"), ("Tanh", "tanh"), ("Sign", "sign"), ("Sin", "sin"), ("Cos", "cos"))},
    f"{_NUMPY}Negative": "-{0}",
    **{f"{_NN}{c}": f"{fn}({{0}})" for c, fn in (("Relu", "relu"), ("Sigmoid", "sigmoid"), ("Softplus", "softplus"))},
    f"{_NN}Relu6": "clip({0}, 0.0, 6.0)",
    f"{_NN}Silu": "{0} * sigmoid({0})",
}
_REDUCTIONS = {**{f"{_NUMPY}{c}": c.lower() for c in ("Sum", "Mean", "Max", "Min", "Prod", "Std", "Var")},
               f"{_MATH}Logsumexp": "logsumexp"}
_SCALE_LAYER = "keras.src.applications.inception_resnet_v2.CustomScaleLayer"
_OWN = "nnspec.keras.expr.ExprLayer"  # nnspec's own (a model nnspec built): its names and seed come along

# what to write instead of the keras.ops calls an expression cannot say
_INSTEAD = {
    **dict.fromkeys(("Reshape", "ExpandDims", "Squeeze"), "use the Reshape layer (its target shape leaves out the "
                                                          "batch axis)"),
    "Transpose": "use the Permute layer (it reorders the feature axes, counted from 1)",
    **dict.fromkeys(("Matmul", "Dot", "Einsum", "Tensordot"), "use the Dot layer, or EinsumDense for a product with "
                                                              "a learned weight"),
    **dict.fromkeys(("Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"),
                    "write the comparison and its use as one Expr layer (e.g. where(x > 0, x, 0.0)): nnspec's "
                    "comparisons give 1.0 and 0.0 where Keras's give booleans"),
    **dict.fromkeys(("Softmax", "LogSoftmax"), "use the Softmax layer"),
    **dict.fromkeys(("Gelu", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "HardSilu", "Mish", "Softsign"),
                    "use the Activation layer with that activation's name"),
    "Cast": "give the input the dtype the model needs, or use Rescaling (nnspec's layers compute in float32)",
}
_GENERIC = ("write it as an Expr layer (element-wise math, reductions over feature axes, indexing and slicing; "
            "`nnspec ops Expr`) or as a catalog layer")


def _path(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


def _number(v) -> str:
    """A constant of the call as expression text (negative ones in parentheses)."""
    if hasattr(v, "ndim") and getattr(v, "ndim", None) == 0 and hasattr(v, "item"):
        v = v.item()  # a numpy scalar or 0-d array
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        what = f"an array of shape {tuple(v.shape)}" if hasattr(v, "shape") else f"{type(v).__name__} {v!r}"[:80]
        raise ImportRefused(f"takes {what} as a constant, which an expression cannot hold (it holds numbers)",
                            "make the constant a weight of a layer (Scale, Dense), or give it as an input")
    if isinstance(v, numbers.Integral):
        text = str(int(v))
    else:
        v = float(v)
        if not math.isfinite(v):
            raise ImportRefused(f"takes the constant {v}, which an expression cannot write",
                                "compute it from finite numbers (e.g. 1 / 0 is inf, as numpy)")
        text = repr(v)
    return f"({text})" if text.startswith("-") else text


class _Names:
    """The expression names of a call's distinct tensors, in the order they appear."""

    def __init__(self, tensors: list):
        distinct = list({id(t): t for t in tensors}.values())
        for t in distinct:
            dtype = str(getattr(t, "dtype", ""))
            if dtype != "float32":
                raise ImportRefused(f"computes on a {dtype} tensor; nnspec's Expr layer computes in float32",
                                    "make the tensor float32 first (an input of dtype float32, or a layer)")
        labels = ["x"] if len(distinct) == 1 else [chr(ord("a") + i) for i in range(len(distinct))] \
            if len(distinct) <= 26 else [f"x{i}" for i in range(1, len(distinct) + 1)]
        self.by_id = {id(t): n for t, n in zip(distinct, labels)}
        self.tensors = distinct

    def inputs(self):
        """One tensor: a list (written `from: name`); several: a dict by expression name."""
        if len(self.tensors) == 1:
            return self.tensors
        return {self.by_id[id(t)]: t for t in self.tensors}


def _is_tensor(v) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype") and type(v).__name__ == "KerasTensor"


def _term(v, names: _Names) -> str:
    return names.by_id[id(v)] if _is_tensor(v) else _number(v)


def _axis(value, rank: int) -> str:
    """A reduction's or concat's axis (an int or a list) as expression text; refuses the batch axis."""
    axes = list(value) if isinstance(value, (list, tuple)) else [value]
    if value is None or any(not isinstance(a, int) or a % rank == 0 for a in axes):
        raise ImportRefused(f"works along axis {value if value is not None else 'None (every axis)'}, the batch "
                            "axis among them; an nnspec layer keeps one row per sample",
                            "reduce or join over feature axes only (axis=-1, or axis=[1, 2])")
    return str(axes[0]) if len(axes) == 1 else "[" + ", ".join(map(str, axes)) + "]"


def _tensors(args, kwargs) -> list:
    out = []

    def walk(v):
        if _is_tensor(v):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
    walk(list(args))
    walk(kwargs)
    return out


def _index_item(k) -> str:
    if k is Ellipsis:
        return "..."
    if isinstance(k, slice):
        parts = [k.start, k.stop] + ([k.step] if k.step is not None else [])
        if any(p is not None and (isinstance(p, bool) or not isinstance(p, numbers.Integral)) for p in parts):
            raise ImportRefused(f"slices with {k}, whose bounds are not constant integers",
                                "slice with constant integers (x[:, 1:3])")
        return ":".join("" if p is None else str(int(p)) for p in parts)
    if isinstance(k, numbers.Integral) and not isinstance(k, bool):
        return str(int(k))
    if k is None:
        raise ImportRefused("adds an axis (None in an index)", "use the Reshape layer to add an axis")
    raise ImportRefused(f"indexes with {type(k).__name__}", "index with constant integers and slices (x[:, 0])")


def _get_item(op, args, kwargs, names: _Names) -> str:
    x, key = args[0], args[1] if len(args) > 1 else kwargs.get("key")
    items = list(key) if isinstance(key, (tuple, list)) else [key]
    text = [_index_item(k) for k in items]
    if text and text[0] not in (":", "..."):
        raise ImportRefused("indexes the batch axis (its first index is not ':')",
                            "start the index with ':' or '...', e.g. x[:, 0]; an nnspec layer keeps every sample")
    return f"{names.by_id[id(x)]}[{', '.join(text)}]"


def import_keras_op(op, args, kwargs) -> Imported:
    """The Expr item of a keras.ops call (or InceptionResNetV2's CustomScaleLayer)."""
    path = _path(op)
    cls = path.rsplit(".", 1)[1]
    if path == _OWN:
        return _own_layer(op, args, kwargs)
    if path not in _KNOWN:
        raise ImportRefused("is a keras.ops call that nnspec's Expr layer cannot write",
                            _INSTEAD.get(cls, _GENERIC))
    args, kwargs = list(args), dict(kwargs or {})
    tensors = _tensors(args, kwargs)
    if not tensors:
        raise ImportRefused("computes on no tensor of the model")
    names = _Names(tensors)
    if path == _SCALE_LAYER:  # call(inputs): inputs[0] + inputs[1] * scale
        pair = args[0] if len(args) == 1 else args
        if kwargs or not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ImportRefused("is called on other than a pair [x, y]")
        x, y = pair
        return Imported({"expr": f"{_term(x, names)} + {_term(y, names)} * {_number(op.scale)}"}, names.inputs())
    if kwargs:
        raise ImportRefused(f"is called with keyword arguments {sorted(kwargs)}", "call it with positional arguments")
    if path in _BINARY or path in _CALLS:
        template = _BINARY.get(path) or _CALLS[path]
        arity = 2 if "{1}" in template else 1
        if len(args) != arity:
            raise ImportRefused(f"is called with {len(args)} arguments")
        return Imported({"expr": template.format(*(_term(a, names) for a in args))}, names.inputs())
    if path in _REDUCTIONS:
        if len(args) != 1 or not _is_tensor(args[0]):
            raise ImportRefused(f"is called with {len(args)} arguments")
        for attr, default in (("initial", None), ("dtype", None)):
            if getattr(op, attr, default) is not default:
                raise ImportRefused(f"has {attr}={getattr(op, attr)!r}, which an expression cannot write")
        rank = len(args[0].shape)
        text = f"{_REDUCTIONS[path]}({names.by_id[id(args[0])]}, axis={_axis(op.axis, rank)}"
        return Imported({"expr": text + (", keepdims=true)" if op.keepdims else ")")}, names.inputs())
    if path == f"{_NUMPY}Clip":
        if len(args) != 1:
            raise ImportRefused(f"is called with {len(args)} arguments")
        return Imported({"expr": f"clip({_term(args[0], names)}, {_number(op.x_min)}, {_number(op.x_max)})"},
                        names.inputs())
    if path == f"{_NUMPY}Concatenate":
        parts = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not all(_is_tensor(p) for p in parts):
            raise ImportRefused("joins constants with tensors", "join tensors only (the Concatenate layer)")
        rank = len(parts[0].shape)
        return Imported({"expr": f"concat({', '.join(_term(p, names) for p in parts)}, axis={_axis(op.axis, rank)})"},
                        names.inputs())
    return Imported({"expr": _get_item(op, args, kwargs, names)}, names.inputs())  # GetItem


def _own_layer(layer, args, kwargs) -> Imported:
    """nnspec's ExprLayer: its expression, its names bound to the call's tensors, its seed if it draws."""
    given = args[0] if len(args) == 1 else args
    tensors = list(given) if isinstance(given, (list, tuple)) else [given]
    if kwargs or len(tensors) != len(layer.names) or not all(_is_tensor(t) for t in tensors):
        raise ImportRefused(f"is called on other than its {len(layer.names)} tensor(s) ({', '.join(layer.names)})")
    out = {"expr": layer.expr, **({"seed": layer.seed} if layer.random and layer.seed is not None else {})}
    if list(layer.names) == ["x"]:
        return Imported(out, tensors)
    return Imported(out, dict(zip(layer.names, tensors)))


_KNOWN = frozenset({*_BINARY, *_CALLS, *_REDUCTIONS, _SCALE_LAYER,
                    *(f"{_NUMPY}{c}" for c in ("Clip", "Concatenate", "GetItem"))})
KERAS_CLASSES = ("keras.src.ops.", _SCALE_LAYER, _OWN)
