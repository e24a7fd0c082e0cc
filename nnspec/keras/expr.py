"""nnspec expressions compiled to ``keras.ops``, and the Keras objects built on them.

``compile_expr(tree)`` walks a tree from ``nnspec.expr.parse`` into a function
``env -> tensor`` where ``env`` maps names to tensors. Only ``keras.ops`` is
used (no backend-specific ops, no Python ``eval``), so the result runs under
any Keras backend, eagerly or traced.

Semantics:

* names look ``env`` up; numbers stay Python floats (weakly typed, so they
  take the tensor's dtype and ``1 / 2`` is 0.5); parts without names are
  folded to a Python float at compile time (so ``exp(1) * x`` keeps x's
  dtype and precision), except where that gives inf or nan (``1 / 0``),
  which keras.ops then computes as NumPy would.
* reductions ``sum mean max min prod std var logsumexp norm`` reduce over ALL
  axes, the batch axis included, unless ``axis=`` (an int or a list; axis 0 is
  the batch) is given; ``keepdims=true`` keeps the reduced axes. ``std`` and
  ``var`` are population statistics (ddof 0); ``norm`` is the l2 norm,
  ``sqrt(sum(square(x)))`` (its gradient is undefined at exactly 0).
* elementwise ``abs square sqrt exp log log1p tanh sigmoid relu softplus sign
  sin cos``; ``maximum(a, b)``, ``minimum(a, b)`` and ``clip(x, lo, hi)``
  (``minimum(maximum(x, lo), hi)``, bounds may be tensors) broadcast.

The serializable objects keep the expression *text* in their config and parse
it again on load, so ``.keras`` files that use them load with the default
``safe_mode=True``:

* ``Penalty``: an identity layer that adds a term to the training loss
  (``add_loss``; not divided by the batch size).
* ``ExprLoss``: a loss over ``y_true`` and ``y_pred``.
* ``ExprMetric``: a metric over ``y_true`` and ``y_pred`` (the running mean of its values).
* ``ExprConstraint``: a weight constraint over ``w``; its value replaces ``w``.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import keras
from keras import ops

from ..expr.expr import ELEMENTWISE, REDUCTIONS, ExprError, names as expr_names, parse

__all__ = ["compile_expr", "Penalty", "ExprLoss", "ExprMetric", "ExprConstraint"]

_ELEMENTWISE_OPS = {
    "abs": ops.abs, "square": ops.square, "sqrt": ops.sqrt, "exp": ops.exp, "log": ops.log,
    "log1p": ops.log1p, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu,
    "softplus": ops.softplus, "sign": ops.sign, "sin": ops.sin, "cos": ops.cos,
}
assert set(_ELEMENTWISE_OPS) == set(ELEMENTWISE)


def _norm(x, axis=None, keepdims=False):
    return ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=keepdims))


_REDUCTION_OPS = {
    "sum": ops.sum, "mean": ops.mean, "max": ops.max, "min": ops.min, "prod": ops.prod,
    "std": ops.std, "var": ops.var, "logsumexp": ops.logsumexp, "norm": _norm,
}
assert set(_REDUCTION_OPS) == set(REDUCTIONS)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


class _NoFold(Exception):
    pass


def _finite(r):
    if isinstance(r, complex) or math.isnan(r) or math.isinf(r):
        raise _NoFold
    return float(r)


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


_MATH = {
    "abs": abs, "square": lambda x: x * x, "sqrt": math.sqrt, "exp": math.exp, "log": math.log,
    "log1p": math.log1p, "tanh": math.tanh, "sigmoid": _sigmoid, "relu": lambda x: max(x, 0.0),
    "softplus": _softplus, "sign": lambda x: float((x > 0) - (x < 0)), "sin": math.sin, "cos": math.cos,
    # reductions of a number (no axis): the number itself, or 0 for the spread
    "sum": lambda x: x, "mean": lambda x: x, "max": lambda x: x, "min": lambda x: x,
    "prod": lambda x: x, "logsumexp": lambda x: x, "norm": abs, "std": lambda x: 0.0, "var": lambda x: 0.0,
}
assert set(_MATH) == set(ELEMENTWISE) | set(REDUCTIONS)


def _const(node) -> float:
    """The value of a subtree without names, in Python float64 arithmetic (so
    constants stay weakly typed and exact); _NoFold where Python would raise or
    leave the finite reals (keras.ops then gives inf/nan like NumPy)."""
    kind = node[0]
    try:
        if kind == "num":
            return float(node[1])
        if kind == "neg":
            return -_const(node[1])
        if kind == "bin":
            a, b = _const(node[2]), _const(node[3])
            op = node[1]
            r = (a + b if op == "+" else a - b if op == "-" else a * b if op == "*"
                 else a / b if op == "/" else a ** b)
            return _finite(r)
        if kind == "call":
            _, fn, pos, kw, _col = node
            if kw.get("axis") is not None or set(kw) - {"axis", "keepdims"}:
                raise _NoFold
            args = [_const(a) for a in pos]
            if fn in _MATH and len(args) == 1:
                return _finite(_MATH[fn](args[0]))
            if fn in ("maximum", "minimum") and len(args) == 2:
                return max(args) if fn == "maximum" else min(args)
            if fn == "clip" and len(args) == 3:
                return min(max(args[0], args[1]), args[2])
    except (ArithmeticError, ValueError, TypeError):
        raise _NoFold from None
    raise _NoFold


_BIN_OPS = {"+": ops.add, "-": ops.subtract, "*": ops.multiply, "/": ops.divide, "**": ops.power}


def _axis_int(node):
    if node[0] == "num" and isinstance(node[1], int) and not isinstance(node[1], bool):
        return node[1]
    if node[0] == "neg" and node[1][0] == "num" and isinstance(node[1][1], int):
        return -node[1][1]
    raise ValueError("axis must be an integer or a list of integers")


def _axis(node):
    if node[0] == "list":
        if not node[1]:
            raise ValueError("axis list is empty")
        return tuple(_axis_int(a) for a in node[1])
    return _axis_int(node)


def _compile(node) -> Callable[[dict], object]:
    kind = node[0]
    if kind in ("num", "neg", "bin", "call") and not expr_names(node):
        try:
            value = _const(node)
            return lambda env: value
        except _NoFold:
            pass
    if kind == "name":
        name = node[1]

        def lookup(env):
            try:
                return env[name]
            except KeyError:
                raise ValueError(f"expression uses '{name}' but no tensor of that name was given "
                                 f"(given: {', '.join(sorted(env)) or 'none'})") from None
        return lookup
    if kind == "neg":
        inner = _compile(node[1])

        def neg(env):
            v = inner(env)
            return -v if _is_number(v) else ops.negative(v)
        return neg
    if kind == "bin":
        _, op, a, b = node
        if op not in _BIN_OPS:
            raise ValueError(f"unknown operator {op!r}")
        fa, fb, fop = _compile(a), _compile(b), _BIN_OPS[op]

        def binary(env):
            x, y = fa(env), fb(env)
            if _is_number(x) and _is_number(y):  # not foldable (1 / 0): like NumPy
                x = _tensor(x)
            return fop(x, y)
        return binary
    if kind == "call":
        _, fn, pos, kw, _col = node
        args = [_compile(a) for a in pos]
        if fn in _REDUCTION_OPS:
            if len(args) != 1 or set(kw) - {"axis", "keepdims"}:
                raise ValueError(f"{fn}() takes one tensor and the keywords axis, keepdims")
            axis = _axis(kw["axis"]) if "axis" in kw else None
            keep = kw.get("keepdims", ("bool", False))
            if keep[0] != "bool":
                raise ValueError(f"{fn}(): keepdims must be true or false")
            keepdims, red, (arg,) = keep[1], _REDUCTION_OPS[fn], args
            return lambda env: red(_tensor(arg(env)), axis=axis, keepdims=keepdims)
        if kw:
            raise ValueError(f"{fn}() takes no keywords")
        if fn in _ELEMENTWISE_OPS:
            if len(args) != 1:
                raise ValueError(f"{fn}() takes 1 argument, got {len(args)}")
            f, (arg,) = _ELEMENTWISE_OPS[fn], args
            return lambda env: f(_tensor(arg(env)))
        if fn in ("maximum", "minimum"):
            if len(args) != 2:
                raise ValueError(f"{fn}() takes 2 arguments, got {len(args)}")
            f, (fa, fb) = getattr(ops, fn), args
            return lambda env: f(*_tensors(fa(env), fb(env)))
        if fn == "clip":
            if len(args) != 3:
                raise ValueError(f"clip() takes 3 arguments, got {len(args)}")
            fx, flo, fhi = args

            def clip(env):
                x, lo, hi = _tensors(fx(env), flo(env), fhi(env))
                return ops.minimum(ops.maximum(x, lo), hi)
            return clip
        raise ValueError(f"unknown function '{fn}'")
    if kind in ("bool", "list"):
        raise ValueError("booleans and lists are only allowed as keyword values (axis=[0, 1], keepdims=true)")
    raise ValueError(f"unsupported expression part {kind!r}")


def _tensor(v):
    return ops.convert_to_tensor(v, dtype=keras.config.floatx()) if _is_number(v) else v


def _tensors(*vs):
    # keep Python numbers weakly typed when a tensor is present; all numbers -> floatx
    if all(_is_number(v) for v in vs):
        return [_tensor(v) for v in vs]
    return list(vs)


def compile_expr(tree) -> Callable[[dict], object]:
    """A function ``env -> value`` computing the expression with ``keras.ops``.

    ``tree`` is what ``nnspec.expr.parse`` returns (a string is parsed first).
    Structural problems (unknown function, bad axis) raise ValueError now; a
    missing name raises ValueError when the function is called. The value is
    a tensor, or a Python float for an expression without names.
    """
    if isinstance(tree, str):
        tree = _parse(tree)
    return _compile(tree)


def _parse(text):
    try:
        return parse(text)
    except ExprError as e:
        where = f" at column {e.col}" if e.col else ""
        hint = f" ({e.hint})" if e.hint else ""
        raise ValueError(f"bad expression {text!r}: {e.message}{where}{hint}") from None


def _compile_text(text, allowed, what):
    tree = _parse(text)
    used = [n for n, _ in expr_names(tree)]
    unknown = [n for n in dict.fromkeys(used) if n not in allowed]
    if unknown:
        raise ValueError(f"{what} expression {text!r} uses unknown name(s) {', '.join(unknown)}; "
                         f"it may use {', '.join(allowed)}")
    return tree, used, _compile(tree)


def _as_float(x):
    """Tensors as floats of at least 32 bits (penalties are computed like losses)."""
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not keras.backend.is_float_dtype(dtype) or dtype in ("float16", "bfloat16"):
        x = ops.cast(x, "float32")
    return x


_KINDS = ("l1", "l2", "l1_l2", "expr")


@keras.saving.register_keras_serializable(package="nnspec")
class Penalty(keras.layers.Layer):
    """An identity layer that adds a term to the training loss with ``add_loss``.

    ``call(inputs)`` takes a list of tensors and returns ``inputs[0]``
    unchanged. The term, not divided by the batch size, is

    * ``l1``: ``coef * reduce(abs(x))`` summed over the inputs,
    * ``l2``: ``coef * reduce(square(x))`` summed over the inputs,
    * ``l1_l2``: ``coef = {"l1": a, "l2": b}``: ``a * reduce(abs(x)) + b * reduce(square(x))``,
    * ``expr``: the expression ``expr`` with ``names[i]`` bound to ``inputs[i]``
      (``names`` defaults to the names the expression uses, in order of first use);
      it must reduce to a scalar.

    ``reduce`` is ``"sum"`` (over every axis, batch included) or ``"mean"``
    (over every element). Terms are computed in float32 at least.
    ``value(inputs)`` computes the term without adding it (for reports).
    """

    def __init__(self, kind, coef=None, reduce="sum", expr=None, names=None, **kwargs):
        kwargs.setdefault("autocast", False)  # identity: keep the input dtype (mixed precision)
        super().__init__(**kwargs)
        if kind not in _KINDS:
            raise ValueError(f"Penalty kind must be one of {', '.join(_KINDS)}, got {kind!r}")
        if reduce not in ("sum", "mean"):
            raise ValueError(f"Penalty reduce must be 'sum' or 'mean', got {reduce!r}")
        self.kind, self.reduce, self.expr = kind, reduce, expr
        self.supports_masking = True
        if kind == "expr":
            if not isinstance(expr, str):
                raise ValueError("Penalty(kind='expr') needs expr, the expression text")
            if coef is not None:
                raise ValueError("Penalty(kind='expr') takes no coef; write it into the expression")
            tree = _parse(expr)
            used = list(dict.fromkeys(n for n, _ in expr_names(tree)))
            if names is None:
                names = used
            names = [str(n) for n in names]
            if not names:
                raise ValueError(f"penalty expression {expr!r} uses no tensor")
            _, _, self._fn = _compile_text(expr, names, "penalty")
            self.names, self.coef = names, None
        else:
            if expr is not None:
                raise ValueError(f"Penalty(kind={kind!r}) takes no expr")
            if kind == "l1_l2":
                if not isinstance(coef, dict) or not coef or set(coef) - {"l1", "l2"}:
                    raise ValueError(f"Penalty(kind='l1_l2') needs coef={{'l1': a, 'l2': b}}, got {coef!r}")
                coef = {k: float(coef.get(k, 0.0)) for k in ("l1", "l2")}
            else:
                if not _is_number(coef):
                    raise ValueError(f"Penalty(kind={kind!r}) needs a number coef, got {coef!r}")
                coef = float(coef)
            self.coef, self.names = coef, (list(names) if names is not None else None)

    # -- the term -----------------------------------------------------------
    def _reduce(self, x):
        return ops.sum(x) if self.reduce == "sum" else ops.mean(x)

    def value(self, inputs):
        """The penalty term for ``inputs`` (a tensor or a list), a float32+ scalar."""
        xs = [_as_float(x) for x in _as_list(inputs)]
        if self.kind == "expr":
            if len(xs) != len(self.names):
                raise ValueError(f"penalty expression {self.expr!r} takes {len(self.names)} tensor(s) "
                                 f"({', '.join(self.names)}), got {len(xs)}")
            out = self._fn(dict(zip(self.names, xs)))
            if _is_number(out):
                return ops.convert_to_tensor(out, dtype="float32")
            if len(out.shape) != 0:
                raise ValueError(f"penalty expression {self.expr!r} must reduce to a number; "
                                 f"its value has shape {tuple(out.shape)}")
            return out
        a = self.coef["l1"] if self.kind == "l1_l2" else self.coef if self.kind == "l1" else 0.0
        b = self.coef["l2"] if self.kind == "l1_l2" else self.coef if self.kind == "l2" else 0.0
        total = None
        for x in xs:
            terms = []
            if self.kind in ("l1", "l1_l2"):
                terms.append(a * self._reduce(ops.abs(x)))
            if self.kind in ("l2", "l1_l2"):
                terms.append(b * self._reduce(ops.square(x)))
            for t in terms:
                total = t if total is None else total + t
        if total is None:
            raise ValueError("Penalty needs at least one input tensor")
        return total

    # -- layer API ----------------------------------------------------------
    def call(self, inputs):
        self.add_loss(self.value(inputs))
        return _as_list(inputs)[0]

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "coef": self.coef, "reduce": self.reduce,
                       "expr": self.expr, "names": self.names})
        return config


def _as_list(inputs):
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


@keras.saving.register_keras_serializable(package="nnspec")
class ExprLoss(keras.losses.Loss):
    """A loss written as an expression over ``y_true`` and ``y_pred``.

    ``y_true`` is cast to ``y_pred``'s dtype. The expression may return one
    value per sample (e.g. ``mean(square(y_true - y_pred), axis=-1)``) or a
    scalar; ``reduction`` then applies as for any Keras loss.
    """

    def __init__(self, expr, name="expr_loss", reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.expr = expr
        _, _, self._fn = _compile_text(expr, ("y_true", "y_pred"), "loss")

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        out = self._fn({"y_true": y_true, "y_pred": y_pred})
        return _tensor(out)

    def get_config(self):
        return {**super().get_config(), "expr": self.expr}


@keras.saving.register_keras_serializable(package="nnspec")
class ExprMetric(keras.metrics.Mean):
    """A metric written as an expression over ``y_true`` and ``y_pred`` (``y_true`` cast to
    ``y_pred``'s dtype): the running mean of its values, as keras.metrics.Mean keeps it. An
    expression that reduces to a number (dice: ``2 * sum(y_true * y_pred) / (sum(y_true) +
    sum(y_pred))``) gives the mean over batches of the per-batch value; one that keeps the batch
    axis (``mean(abs(y_true - y_pred), axis=-1)``) gives the mean over samples, weighted by
    ``sample_weight``. The config holds the text, parsed again on load (safe_mode loads it)."""

    def __init__(self, expr, name="expr_metric", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.expr = expr
        _, _, self._fn = _compile_text(expr, ("y_true", "y_pred"), "metric")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_float(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        values = _tensor(self._fn({"y_true": y_true, "y_pred": y_pred}))
        if len(values.shape) == 0:
            sample_weight = None  # one value for the batch: a batch counts once
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "expr": self.expr}


@keras.saving.register_keras_serializable(package="nnspec")
class ExprConstraint(keras.constraints.Constraint):
    """A weight constraint written as an expression over ``w``, e.g.
    ``w / (1 + abs(w))``. After each update the expression's value replaces
    the weight, so it must have the weight's shape (an expression that
    reduces, such as ``w / norm(w)`` is fine; ``norm(w)`` alone raises
    ValueError when applied). The value is cast to the weight's dtype."""

    def __init__(self, expr):
        self.expr = expr
        _, _, self._fn = _compile_text(expr, ("w",), "constraint")

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        out = _tensor(self._fn({"w": w}))
        if tuple(out.shape) != tuple(w.shape):
            raise ValueError(f"constraint expression {self.expr!r} gives shape {tuple(out.shape)} for a "
                             f"weight of shape {tuple(w.shape)}; its value replaces the weight, so the "
                             "shapes must match")
        return ops.cast(out, w.dtype)

    def get_config(self):
        return {"expr": self.expr}
