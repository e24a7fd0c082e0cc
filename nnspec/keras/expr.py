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
* comparisons ``< <= > >= == !=`` give 1.0 where true and 0.0 elsewhere (in
  the dtype of their tensor operand); ``where(c, a, b)`` takes ``a`` where
  ``c`` is nonzero, else ``b``; ``concat(a, b, ..., axis=-1)``; ``x[:, 0]``,
  ``x[..., 1:3]``, ``x[:, ::2]`` index and slice with constant integers.
* random draws (the Expr layer only, from its ``keras.random.SeedGenerator``
  under the key ``"$seed"`` of ``env``): ``normal(shape_of(x), mean=0,
  stddev=1)``, ``uniform(shape_of(x), minval=0, maxval=1)``, ``bernoulli(p)``
  and ``bernoulli(p, shape_of(x))`` (1.0 with probability ``p``).

The serializable objects keep the expression *text* in their config and parse
it again on load, so ``.keras`` files that use them load with the default
``safe_mode=True``:

* ``Penalty``: an identity layer that adds a term to the training loss
  (``add_loss``; not divided by the batch size).
* ``ExprLoss``: a loss over ``y_true`` and ``y_pred``.
* ``ExprMetric``: a metric over ``y_true`` and ``y_pred`` (the running mean of its values).
* ``ExprConstraint``: a weight constraint over ``w``; its value replaces ``w``.
* ``ExprLayer``: a layer computing an expression of its input tensors (the
  ``Expr`` op), drawing random numbers from its own seeded generator.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import keras
from keras import ops

from ..expr.expr import ELEMENTWISE, REDUCTIONS, ExprError, names as expr_names, parse, uses_random

__all__ = ["compile_expr", "Penalty", "ExprLoss", "ExprMetric", "ExprConstraint", "ExprLayer"]
SEED_KEY = "$seed"  # env key of the seed generator (not a name an expression can spell)
# the random draws of an Expr: Keras's function and its keywords with their defaults
_DRAWS = {"normal": (keras.random.normal, {"mean": 0.0, "stddev": 1.0}),
          "uniform": (keras.random.uniform, {"minval": 0.0, "maxval": 1.0})}

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
        if fn in ("normal", "uniform", "bernoulli", "shape_of"):
            return _compile_random(fn, pos, kw)
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
        if fn == "concat":
            if not args or set(kw) - {"axis"}:
                raise ValueError("concat() takes tensors and the keyword axis")
            axis = _axis_int(kw["axis"]) if "axis" in kw else -1
            return lambda env: ops.concatenate([_tensor(f(env)) for f in args], axis=axis)
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
        if fn == "where":
            if len(args) != 3:
                raise ValueError(f"where() takes 3 arguments, got {len(args)}")
            fc, fa, fb = args

            def where(env):
                c, a, b = fc(env), fa(env), fb(env)
                if _is_number(a) and _is_number(b):
                    a = _tensor(a)
                return ops.where(ops.not_equal(_tensor(c), 0), a, b)
            return where
        raise ValueError(f"unknown function '{fn}'")
    if kind == "cmp":
        _, op, a, b, _col = node
        fa, fb, fop = _compile(a), _compile(b), _CMP_OPS[op]

        def compare(env):
            x, y = fa(env), fb(env)
            ref = x if not _is_number(x) else y
            if _is_number(ref):
                ref = x = _tensor(x)
            dtype = keras.backend.standardize_dtype(ref.dtype)
            if not keras.backend.is_float_dtype(dtype):
                dtype = keras.config.floatx()
            return ops.cast(fop(x, y), dtype)
        return compare
    if kind == "index":
        _, x, items, _col = node
        fx = _compile(x)
        key = tuple(_index_item(it) for it in items)
        return lambda env: _tensor(fx(env))[key]
    if kind in ("bool", "list"):
        raise ValueError("booleans and lists are only allowed as keyword values (axis=[0, 1], keepdims=true)")
    raise ValueError(f"unsupported expression part {kind!r}")


_CMP_OPS = {"<": ops.less, "<=": ops.less_equal, ">": ops.greater, ">=": ops.greater_equal, "==": ops.equal,
            "!=": ops.not_equal}


def _index_item(item):
    if item[0] == "ellipsis":
        return Ellipsis
    if item[0] == "at":
        return _axis_int(item[1])
    start, stop, step = (None if b is None else _axis_int(b) for b in item[1:])
    return slice(start, stop, step)


def _generator(env):
    try:
        return env[SEED_KEY]
    except KeyError:
        raise ValueError("random functions (normal, uniform, bernoulli) are only for the Expr layer") from None


def _shape_fn(node):
    """The compiled tensor of a ``shape_of(t)`` argument."""
    if node[0] != "call" or node[1] != "shape_of" or len(node[2]) != 1:
        raise ValueError("random functions take their shape as shape_of(<tensor>)")
    return _compile(node[2][0])


def _number(node, default):
    if node is None:
        return default
    if node[0] == "num":
        return float(node[1])
    if node[0] == "neg" and node[1][0] == "num":
        return -float(node[1][1])
    raise ValueError("the mean, stddev, minval and maxval of a random function are numbers")


def _float_dtype(t):
    dtype = keras.backend.standardize_dtype(t.dtype)
    return dtype if keras.backend.is_float_dtype(dtype) else keras.config.floatx()


def _compile_random(fn, pos, kw):
    if fn == "shape_of":
        raise ValueError("shape_of(...) is only an argument of normal, uniform or bernoulli")
    if fn in _DRAWS:
        if len(pos) != 1:
            raise ValueError(f"{fn}() takes one shape_of(...)")
        fs = _shape_fn(pos[0])
        sample, defaults = _DRAWS[fn]
        if set(kw) - set(defaults):
            raise ValueError(f"{fn}() takes the keywords {', '.join(defaults)}")
        params = {k: _number(kw.get(k), d) for k, d in defaults.items()}

        def draw(env):
            ref = _tensor(fs(env))
            return sample(ops.shape(ref), **params, dtype=_float_dtype(ref), seed=_generator(env))
        return draw
    if not 1 <= len(pos) <= 2 or kw:
        raise ValueError("bernoulli() takes p, and optionally shape_of(...)")
    fp = _compile(pos[0])
    fs = _shape_fn(pos[1]) if len(pos) == 2 else None

    def bernoulli(env):
        p = fp(env)
        ref = _tensor(p)
        if fs is not None:
            other = _tensor(fs(env))
            ref = ops.zeros_like(other) + ops.cast(ops.zeros_like(ref), other.dtype)  # the broadcast shape
        dtype = _float_dtype(ref)
        u = keras.random.uniform(ops.shape(ref), dtype=dtype, seed=_generator(env))
        return ops.cast(ops.less(u, p), dtype)
    return bernoulli


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
        # float32, as Keras's own losses: a term of a float64 tensor (an Average of ints) beside them
        # failed the training step ("cannot compute Pack"; fuzzer, seed 33 graph 5788)
        self.add_loss(ops.cast(self.value(inputs), "float32"))
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


@keras.saving.register_keras_serializable(package="nnspec")
class ExprLayer(keras.layers.Layer):
    """A layer computing an nnspec expression of its inputs (the ``Expr`` op).

    ``call(inputs)`` takes one tensor or a list; ``names[i]`` is bound to
    ``inputs[i]`` (one input is ``x`` by default). Inputs are cast to the
    layer's compute dtype, and so is the value. Random draws (``normal``,
    ``uniform``, ``bernoulli``) come from the layer's own
    ``keras.random.SeedGenerator``, seeded with ``seed``; without one a seed is
    drawn from Python's ``random`` (which ``keras.utils.set_random_seed``
    seeds) and kept in the config, so a reloaded layer starts where the
    original started. Draws happen in training and at inference alike (a
    VAE's sampling layer, as in Keras's own VAE example). No weights.

    The config holds the expression's text, which is parsed again on load:
    ``.keras`` files load with ``safe_mode=True``.
    """

    def __init__(self, expr, names=("x",), seed=None, **kwargs):
        super().__init__(**kwargs)
        names = [str(n) for n in (names or ())]
        if not names:
            raise ValueError("ExprLayer needs at least one input name")
        tree, _, self._fn = _compile_text(expr, names, "Expr layer")
        self.expr, self.names = expr, names
        self.random = uses_random(tree)
        if self.random:
            if seed is None:
                import random
                seed = random.randint(1, 2**31 - 1)
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.seed = seed

    def call(self, inputs):
        xs = _as_list(inputs)
        if len(xs) != len(self.names):
            raise ValueError(f"Expr layer {self.expr!r} takes {len(self.names)} tensor(s) ({', '.join(self.names)}), "
                             f"got {len(xs)}")
        dtype = self.compute_dtype
        env = {n: ops.cast(x, dtype) for n, x in zip(self.names, xs)}
        if self.random:
            env[SEED_KEY] = self.seed_generator
        out = self._fn(env)
        return ops.cast(out, dtype) if not _is_number(out) else ops.convert_to_tensor(out, dtype=dtype)

    def get_config(self):
        return {**super().get_config(), "expr": self.expr, "names": list(self.names), "seed": self.seed}
