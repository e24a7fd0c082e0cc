"""`Expr`: a layer written as an expression of its input tensors.

    - Expr: {from: {a: enc_a, b: enc_b}, expr: "abs(a - b)"}
    - Expr: {from: [z_mean, z_log_var], expr: "z_mean + exp(0.5 * z_log_var) * normal(shape_of(z_mean))"}
    - Expr: {expr: "x * 0.5 + 1"}          # one input (a name, or the previous layer): x

The body is nnspec's expression language (nnspec/expr/): arithmetic, comparisons,
element-wise functions, reductions with axes, indexing and slicing, concat,
where, and random draws (normal, uniform, bernoulli) from the layer's own seeded
generator, active in training and at inference. Inputs and value take the
layer's float dtype; no weights. The names an expression uses are the keys of a
`from:` map, the tensor names of a `from:` list (inside a block: the names as
written there, `$in` as `in`), or `x` for a single input; resolve.py puts them
in the node's args as ``names`` (not a spec argument).
"""
from __future__ import annotations

import functools

from .. import codes
from .base import ANY, INT, Arg, KerasImport, Op, ShapeError, fmt_shape
from .expression_import import KERAS_CLASSES, import_keras_op


class ExprShapeError(ShapeError):
    """A ShapeError at a column of the expression (1-based; 0: the whole text)."""

    def __init__(self, message, hint=None, col=0):
        super().__init__(message, hint, arg="expr", code=codes.BAD_EXPRESSION)
        self.col = col


@functools.lru_cache(maxsize=1024)
def parse_cached(text: str):
    from ..expr import parse
    return parse(text)


def _shape(args, shapes):
    from ..expr import BATCH, ExprError, fmt_dims, infer_shape
    names = args.get("names") or ["x"]
    try:
        tree = parse_cached(args["expr"])
        env = {n: (BATCH,) + tuple(s[1:]) for n, s in zip(names, shapes)}
        out = infer_shape(tree, env, layer=True)
    except ExprError as e:
        given = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(names, shapes))
        raise ExprShapeError(f"has a bad expression: {e.message} (column {e.col} of the expression; its inputs: "
                             f"{given})" if e.col else f"has a bad expression: {e.message} (its inputs: {given})",
                             e.hint, e.col) from None
    if not out or out[0] != BATCH:
        raise ExprShapeError(f"gives a value of shape {fmt_dims(out)} without the batch axis first: a layer's "
                             "value keeps one row per sample", "reduce over feature axes only (axis=-1, or "
                             "axis=[1, 2]); a reduction without axis= also reduces over the batch")
    return (None,) + tuple(None if d == BATCH else d for d in out[1:])


def gradient_inputs(args) -> set[int] | None:
    """The indices of the inputs a gradient reaches (None: every one, when nnspec cannot tell)."""
    from ..expr import gradient_names
    try:
        used = gradient_names(parse_cached(args["expr"]))
    except Exception:  # a bad expression is reported elsewhere
        return None
    return {i for i, n in enumerate(args.get("names") or ["x"]) if n in used}


def stochastic(args) -> bool:
    from ..expr import uses_random
    try:
        return uses_random(parse_cached(args["expr"]))
    except Exception:  # a bad expression is reported elsewhere
        return False


_RANDOM_AT_INFERENCE = ("it draws random numbers at inference, which the target's runtime cannot draw as "
                        "TensorFlow does, so nnspec cannot verify the export; give the random numbers as an "
                        "input instead")


def _random_at_inference(args, shapes):
    return _RANDOM_AT_INFERENCE if stochastic(args) else None


_random_at_inference.when = "drawing random numbers"  # for the README's table (nnspec.targets.lacks)

EXPR = Op(
    name="Expr",
    family="expression",
    dtypes=ANY, rank_free=True,
    doc="An expression of its input tensors (nnspec's expression language), e.g. abs(a - b) or "
        "z_mean + exp(0.5 * z_log_var) * normal(shape_of(z_mean)); from: a map names the inputs, a list uses "
        "their tensor names, one input is x.",
    args=(
        Arg("expr", {"type": "string", "minLength": 1, "maxLength": 4000,
                     "description": "the expression (nnspec's expression language)"},
            doc="the expression; its names are the inputs"),
        Arg("seed", {"anyOf": [INT, {"type": "null"}], "description": "an integer seed, or null"}, None,
            doc="seed of its random draws (default: drawn from the spec's seed)"),
    ),
    shape=_shape,
    inputs=(1, None),
    keras="nnspec.keras.expr:ExprLayer",
    keras_call=lambda layer, tensors: layer(tensors[0] if len(tensors) == 1 else list(tensors)),
    stochastic=stochastic,
    gradient_inputs=gradient_inputs,
    unsupported_targets={"onnx": _random_at_inference, "litert": _random_at_inference},
    imports=KerasImport(KERAS_CLASSES, import_keras_op),  # keras.ops calls in a graph (expression_import.py)
)

OPS: tuple[Op, ...] = (EXPR,)
