"""Ops of the attention family: Attention (dot-product) and MultiHeadAttention.

Both take ``from: [query, value]`` or ``[query, value, key]`` (key defaults to
value), or by name ``from: {query: q, value: v, key: k}``.
"""
from __future__ import annotations

from .. import codes
from .base import (ANY, BOOL, POS_INT, RATE, Arg, ImportHooks, ImportRefused, Op, Outputs, Port, ShapeError, enum,
                   fmt_shape, need_known, prod, weight_args)
from .regularization import SEED

NAMES = ("query", "value", "key")


def _qvk(shapes):
    q, v = shapes[0], shapes[1]
    return q, v, (shapes[2] if len(shapes) > 2 else v)


def _same_rank(shapes, low: int, what: str):
    for name, s in zip(NAMES, shapes):
        if len(s) < low:
            raise ShapeError.found(f"needs {name} of at least {what}", s, "add a time axis with Reshape",
                                   code=codes.RANK_MISMATCH)
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        got = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(NAMES, shapes))
        names = " and ".join(NAMES[:len(shapes)]).replace(" and ", ", ", len(shapes) - 2)
        raise ShapeError.found(f"needs {names} of one rank", got, "reshape them to the same number of axes",
                               code=codes.MERGE_MISMATCH)


def _agree(a, b, a_name: str, b_name: str, axes, hint: str, broadcast=None):
    """Raise unless known sizes of ``a`` and ``b`` agree on ``axes``. ``broadcast``: a 1
    also agrees, on either side ("both") or in ``b`` ("right")."""
    ones = {None: (), "both": (a, b), "right": (b,)}[broadcast]
    for i in axes:
        if a[i] is not None and b[i] is not None and a[i] != b[i] and not any(x[i] == 1 for x in ones):
            raise ShapeError.found(f"needs {a_name} and {b_name} to agree on axis {i}",
                                   f"{a_name} {fmt_shape(a)} and {b_name} {fmt_shape(b)}", hint,
                                   code=codes.MERGE_MISMATCH)


# ---------------------------------------------------------------- Attention
def _attention_shape(args, shapes):
    _same_rank(shapes, 3, "(batch, time, features)")
    q, v, k = _qvk(shapes)
    r = len(q)
    # Keras's static shape never looks past query and value; these fail when the model runs.
    # 'concat' adds query and key, so a feature size of 1 broadcasts there
    _agree(q, k, "query", "key", [r - 1], "query and key need the same feature size to be compared",
           broadcast="both" if args["score_mode"] == "concat" else None)
    _agree(v, k, "value", "key", [r - 2], "value and key need the same number of time steps")
    for other, name in ((v, "value"), (k, "key")):  # axes before time: matmul broadcasts a 1 in value/key
        _agree(q, other, "query", name, range(1, r - 2), "the axes before time must match (or be 1 in value and key)",
               broadcast="right")
    return q[:-1] + (v[-1],)


def _attention_params(args, shapes):
    return int(args["use_scale"]) + int(args["score_mode"] == "concat")


def _attention_import_call(args, kwargs):
    """layer([query, value(, key)]), the list given by position or as ``inputs``."""
    given = args[0] if args else kwargs.pop("inputs", None)
    return given, {**kwargs, "_extra": args[1:] or None}


_CALL_FLAGS = ("return_attention_scores", "use_causal_mask")  # nothing to write when False

ATTENTION = Op(
    name="Attention",
    family="attention",
    rank_free=True, sequence_input=True, mask="propagates",
    doc="Dot-product (Luong-style) attention: softmax(query . key^T) . value.",
    args=(
        Arg("use_scale", BOOL, False, doc="learn a scalar that scales the scores"),
        Arg("score_mode", enum("dot", "concat"), "dot",
            doc="'dot': query . key; 'concat': sum(tanh(query + key))"),
        Arg("dropout", RATE, 0.0, doc="dropout rate on the attention weights"),
        Arg("seed", SEED, None, doc="seed of the dropout"),
    ),
    shape=_attention_shape,
    params=_attention_params,
    # scores query . key, then the weighted sum of value: each Tq x Tv x features
    macs=lambda a, i, o: 2 * prod(i[0][1:]) * prod(i[1][1:-1]),
    inputs=(2, 3),
    input_names=NAMES,
    import_hooks=ImportHooks(call=_attention_import_call, off=_CALL_FLAGS),
)


# ---------------------------------------------------------------- MultiHeadAttention
def _mha_axes(args, rank: int):
    """attention_axes as non-negative input axes, or None if absent."""
    axes = args["attention_axes"]
    if axes is None:
        return None
    axes = [axes] if isinstance(axes, int) else list(axes)
    return [a + rank if a < 0 else a for a in axes]


def _mha_shape(args, shapes):
    _same_rank(shapes, 3, "(batch, time, features)")
    q, v, k = _qvk(shapes)
    r = len(q)
    for name, s in zip(NAMES, (q, v, k)):
        need_known(s, -1, f"last (features) dimension of {name}")
    if v[1:-1] != k[1:-1]:
        raise ShapeError.found("needs value and key to agree on every axis but the last,",
                               f"value {fmt_shape(v)} and key {fmt_shape(k)}", "give key the value's time steps",
                               code=codes.MERGE_MISMATCH)
    axes = _mha_axes(args, r)
    if axes is not None:
        bad = [a for a in axes if not 1 <= a <= r - 2]
        if bad:
            raise ShapeError(f"attention_axes {args['attention_axes']} must name axes between the batch "
                             f"and the features of {fmt_shape(q)}, i.e. among 1..{r - 2} (or -{r - 1}..-2)",
                             "leave attention_axes null to attend over all of them",
                             arg="attention_axes", code=codes.BAD_ARGUMENT)
        batch_like = [i for i in range(1, r - 1) if i not in axes]
        _agree(q, v, "query", "value", batch_like, "axes outside attention_axes must match")
    # The scores: batch, the other axes, heads, then the attention axes of query and of key:
    # rank r + k. TensorFlow's broadcasting kernels (SelectV2 in the softmax) take at most 8 axes.
    k_axes = len(axes) if axes is not None else r - 2
    if r + k_axes > 8:
        raise ShapeError(f"would make attention scores of {r + k_axes} axes from query {fmt_shape(q)} "
                         f"(batch, heads, the other axes and {k_axes} attention axes twice): TensorFlow takes at most "
                         "8, Keras fails on the first batch", "attend over fewer axes (attention_axes), or Reshape "
                         "the query and value to fewer axes", arg="attention_axes" if axes is not None else None,
                         code=codes.RANK_MISMATCH)
    if args["return_attention_scores"]:
        _scores_shape(args, shapes)
    out = args["output_shape"]
    if out:
        return q[:-1] + ((out,) if isinstance(out, int) else tuple(out))
    return q


def _mha_macs(args, in_shapes, out_shape):
    """Projections of query, key, value and the output, the scores and the weighted sum (per head)."""
    q, v, k = _qvk(in_shapes)
    h, kd = args["num_heads"], args["key_dim"]
    vd = args["value_dim"] or kd
    tq, tk = prod(q[1:-1]), prod(k[1:-1])
    proj = (tq * q[-1] * h * kd + tk * k[-1] * h * kd + prod(v[1:-1]) * v[-1] * h * vd
            + tq * h * vd * prod(out_shape[len(q) - 1:]))
    return proj + tq * tk * h * (kd + vd) + (tq * q[-1] * h * vd if args["use_gate"] else 0)


def _scores_shape(args, shapes):
    """(batch, heads, query time, key time). Keras's static shape of the scores (its
    compute_output_spec, 3.15) is (batch, heads, query time, query time) whatever the ranks and
    attention_axes: nnspec takes only the cases where that is the shape Keras computes."""
    q, v, k = _qvk(shapes)
    if len(q) != 3 or _mha_axes(args, 3) not in (None, [1]):
        raise ShapeError.found("with return_attention_scores needs query of (batch, time, features) attended over "
                               "its time axis", q,
                               "Reshape query and value to (batch, time, features), or drop return_attention_scores",
                               after=(f" and attention_axes {args['attention_axes']}"
                                      if args["attention_axes"] is not None else "")
                               + ": Keras's static shape of the scores assumes that",
                               arg="return_attention_scores", code=codes.BAD_ARGUMENT)
    if q[1] != k[1]:
        raise ShapeError.found("with return_attention_scores needs query and key of one known length, or both "
                               "unknown,", f"query {fmt_shape(q)} and key {fmt_shape(k)}",
                               "give query and key the same number of time steps, or leave both unknown (null)",
                               after=": Keras's static shape of the scores (batch, heads, query time, query time) "
                               "would not be what it computes", arg="return_attention_scores", code=codes.BAD_ARGUMENT)
    return (q[0], args["num_heads"], q[1], k[1])


def _mha_out_shapes(args, shapes):
    out = _mha_shape(args, shapes)
    return (out, _scores_shape(args, shapes)) if args["return_attention_scores"] else (out,)


def _mha_port_shapes(args, shapes):
    q, v, k = _qvk(shapes)
    if len(q) != 3 or _mha_axes(args, 3) not in (None, [1]):
        raise ShapeError.found("takes an attention_mask only with query of (batch, time, features) attended "
                               "over its time axis,", q, "Reshape query and value to (batch, time, features)",
                               code=codes.BAD_ARGUMENT)
    return {"attention_mask": [(q[0], q[1], k[1])]}


def _mha_params(args, shapes):
    q, v, k = _qvk(shapes)
    h, kd = args["num_heads"], args["key_dim"]
    vd = args["value_dim"] or kd
    out = args["output_shape"]
    out = prod([out] if isinstance(out, int) else out) if out else q[-1]
    bias = args["use_bias"]

    def dense(fan_in, units):
        return fan_in * units + (units if bias else 0)

    n = dense(q[-1], h * kd) + dense(k[-1], h * kd) + dense(v[-1], h * vd) + dense(h * vd, out)
    if args["use_gate"]:
        n += dense(q[-1], h * vd)
    return n


def _mha_weights(args, shapes):
    """Query, key, value (and gate) projections: kernels (features, heads, size), biases (heads, size);
    the output projection: kernel (heads, size, *output_shape), bias (*output_shape)."""
    out = args["output_shape"]
    n_out = len(out) if isinstance(out, (list, tuple)) else 1
    weights = {"kernel": (3, 2 + n_out)}
    if args["use_bias"]:
        weights["bias"] = (2, n_out)
    return weights


AXES_OR_NULL = {"anyOf": [{"type": "integer", "minimum": -64, "maximum": 64},
                          {"type": "array", "items": {"type": "integer", "minimum": -64, "maximum": 64},
                           "minItems": 1},
                          {"type": "null"}],
                "description": "an axis or a list of axes (not batch, not features), or null for all"}


def _mha_implied(args: dict, shapes: list) -> None:
    """Keras fills in value_dim (= key_dim) and, once built, attention_axes (all but batch and features)."""
    if args.get("value_dim") == args.get("key_dim"):
        args.pop("value_dim", None)
    axes = args.get("attention_axes")
    if axes is not None and shapes:
        rank = len(shapes[0])
        given = [axes] if isinstance(axes, int) else list(axes)
        if [a % rank for a in given] == list(range(1, rank - 1)):
            args.pop("attention_axes")


def _mha_import_call(args, kwargs):
    """layer(query, value[, key]), each by position or keyword; key left out when it is value."""
    roles = {}
    for i, role in enumerate(NAMES):
        roles[role] = args[i] if i < len(args) else kwargs.pop(role, None)
    if len(args) > 3:
        raise ImportRefused(f"is called with {len(args)} positional arguments")
    tensors = [roles["query"], roles["value"]]
    if roles["key"] is not None and roles["key"] is not roles["value"]:
        tensors.append(roles["key"])
    return tensors, kwargs


MULTI_HEAD_ATTENTION = Op(
    name="MultiHeadAttention",
    family="attention",
    dtypes=ANY, rank_free=True, sequence_input=True, mask="propagates",
    doc="Multi-head attention (Vaswani et al., 2017): projects query/key/value per head, attends, projects back.",
    args=(
        Arg("num_heads", POS_INT, doc="number of attention heads"),
        Arg("key_dim", POS_INT, doc="size of each head for query and key"),
        Arg("value_dim", {"anyOf": [POS_INT, {"type": "null"}], "description": "a positive integer or null"},
            None, doc="size of each head for value; null: key_dim"),
        Arg("dropout", RATE, 0.0, doc="dropout rate on the attention weights"),
        *weight_args(),
        Arg("output_shape", {"anyOf": [POS_INT, {"type": "array", "items": POS_INT, "minItems": 1},
                                       {"type": "null"}],
                             "description": "a size or a list of sizes, or null for the query's last size"},
            None, doc="the output's last axes (replacing the query's last); null: the query's last size"),
        Arg("attention_axes", AXES_OR_NULL, None, doc="axes attended over; null: all but batch and features"),
        Arg("use_gate", BOOL, False, doc="gate each head's output with a sigmoid of the query"),
        Arg("seed", SEED, None, doc="seed of the dropout"),
        Arg("return_attention_scores", BOOL, False,
            doc="also output the attention weights `name.scores`, (batch, heads, query time, key time)"),
    ),
    shape=_mha_shape,
    outputs=Outputs(names=lambda args: ("output", "scores") if args["return_attention_scores"] else ("output",),
                    shapes=_mha_out_shapes, enable={"scores": "return_attention_scores: true"}),
    ports=(Port("attention_mask", dtypes=frozenset({"bool", "int", "float"}),
                doc="which key steps each query step may attend to: (batch, query time, key time), 1/true "
                    "to attend"),),
    port_shapes=_mha_port_shapes,
    call_args=("return_attention_scores",),
    params=_mha_params,
    macs=_mha_macs,
    weights=_mha_weights,
    inputs=(2, 3),
    input_names=NAMES,
    keras_call=lambda layer, tensors, **kw: layer(*tensors, **kw),  # layer(query, value[, key], ...)
    import_hooks=ImportHooks(implied=_mha_implied, call=_mha_import_call,
                             quiet=("query_mask", "value_mask", "key_mask"), off=_CALL_FLAGS),
)

OPS: tuple[Op, ...] = (ATTENTION, MULTI_HEAD_ATTENTION)
