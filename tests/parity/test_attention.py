"""Parity of Attention and MultiHeadAttention.

Keras computes these layers' symbolic shapes from query and value alone, so a
query/key or value/key mismatch passes `keras.Input` tracing and only fails
when the model runs. nnspec refuses those statically; ``check_lax`` then
asserts the layer really fails on concrete data.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.keras.layers import call_layer, make_layer
from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import _dtype, _raised_by_nnspec, check, keras_result, static


def fails_at_runtime(op_name, args, shapes) -> bool:
    """Does the Keras layer fail when called eagerly on zeros (batch 2, unknown
    sizes 3), or give another shape than its symbolic call declared?"""
    op = CATALOG[op_name]
    try:
        declared, _ = keras_result(op_name, args, shapes)
        layer = make_layer(op, op.fill(args))
        data = [np.zeros([2] + [3 if d is None else d for d in s[1:]], dtype=_dtype(op_name)) for s in shapes]
        got = tuple(call_layer(op, layer, data).shape)
    except Exception:
        return True
    return len(got) != len(declared) or any(d is not None and d != g for d, g in zip(declared[1:], got[1:]))


def check_lax(op_name, args, shapes, deliberate=lambda e: False):
    """``check``, except where nnspec refuses what Keras's symbolic call accepts:
    there Keras must fail at run time, unless ``deliberate(error)`` says nnspec
    is stricter on purpose."""
    try:
        static(op_name, args, shapes)
    except ShapeError as e:
        try:
            keras_result(op_name, args, shapes)
        except Exception as k:
            if _raised_by_nnspec(k):  # nnspec's own code failing is not Keras refusing
                raise
            return None
        if deliberate(e):
            return None
        assert fails_at_runtime(op_name, args, shapes), \
            f"{op_name}{args} on {shapes}: nnspec refused ({e.message}) but Keras runs it"
        return None
    return check(op_name, args, shapes)


dims = st.integers(1, 6)


def _rank_mismatch(e):
    # Deliberately stricter: Keras broadcasts a query/value/key of another rank
    # through matmul, which runs only where the extra axes happen to broadcast.
    return "of one rank" in e.message


def _mha_deliberate(e):
    # Also stricter: attention_axes naming the batch or the feature axis. Keras
    # runs that, attending over the batch or over the heads, which is meaningless.
    return _rank_mismatch(e) or e.arg == "attention_axes"


@st.composite
def qvk_shapes(draw, max_rank=4):
    """query, value[, key]: mostly compatible, sometimes not."""
    rank = draw(st.integers(3, max_rank))
    mid = [draw(dims) for _ in range(rank - 3)]
    tq, tv, dq, dv = draw(dims), draw(dims), draw(dims), draw(dims)
    q = [None, *mid, tq, dq]
    v = [None, *mid, tv, dv]
    shapes = [q, v]
    if draw(st.booleans()):
        shapes.append([None, *mid, tv, draw(st.sampled_from([dq, dq, draw(dims)]))])
    # occasional breakage: a different rank, or a different size somewhere
    if draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, len(shapes) - 1))
        if draw(st.booleans()):
            shapes[i] = shapes[i][:2] + shapes[i][-1:] if len(shapes[i]) > 3 else [None, 2] + shapes[i][1:]
        else:
            j = draw(st.integers(1, len(shapes[i]) - 1))
            shapes[i][j] = draw(dims)
    return [tuple(s) for s in shapes]


@settings(max_examples=40, deadline=None)
@given(use_scale=st.booleans(), score_mode=st.sampled_from(["dot", "concat"]),
       dropout=st.sampled_from([0.0, 0.3]), shapes=qvk_shapes())
def test_attention(use_scale, score_mode, dropout, shapes):
    check_lax("Attention", {"use_scale": use_scale, "score_mode": score_mode, "dropout": dropout}, shapes,
              _rank_mismatch)


@settings(max_examples=40, deadline=None)
@given(heads=st.integers(1, 3), key_dim=st.integers(1, 4), value_dim=st.sampled_from([None, 2, 5]),
       use_bias=st.booleans(), use_gate=st.booleans(), dropout=st.sampled_from([0.0, 0.2]),
       output_shape=st.sampled_from([None, 3, [2, 3], [4]]),
       axes=st.sampled_from([None, None, 1, -2, [1], 2, -1, 0]), shapes=qvk_shapes())
def test_multi_head_attention(heads, key_dim, value_dim, use_bias, use_gate, dropout, output_shape, axes,
                              shapes):
    args = {"num_heads": heads, "key_dim": key_dim, "value_dim": value_dim, "use_bias": use_bias,
            "use_gate": use_gate, "dropout": dropout, "output_shape": output_shape, "attention_axes": axes}
    check_lax("MultiHeadAttention", args, shapes, _mha_deliberate)


# ---------------------------------------------------------------- examples
def test_attention_example():
    assert check("Attention", {"use_scale": True, "score_mode": "concat"},
                 [(None, 5, 4), (None, 7, 6), (None, 7, 4)]) == (None, 5, 6)
    assert static("Attention", {"use_scale": True, "score_mode": "concat"},
                  [(None, 5, 4), (None, 7, 6), (None, 7, 4)])[1] == (2, 0)


def test_attention_key_mismatch_message():
    with pytest.raises(ShapeError) as e:
        static("Attention", {}, [(None, 5, 4), (None, 7, 6)])
    assert e.value.message == ("needs query and key to agree on axis 2 but gets query (batch, 5, 4) "
                               "and key (batch, 7, 6)")
    assert e.value.code == "merge-mismatch"
    assert fails_at_runtime("Attention", {}, [(None, 5, 4), (None, 7, 6)])


def test_mha_example():
    # the classic transformer block: 2 heads of 8 over 16 features
    out = check("MultiHeadAttention", {"num_heads": 2, "key_dim": 8}, [(None, 10, 16), (None, 12, 16)])
    assert out == (None, 10, 16)
    assert static("MultiHeadAttention", {"num_heads": 2, "key_dim": 8},
                  [(None, 10, 16), (None, 12, 16)])[1] == (4 * (16 * 16 + 16), 0)


def test_mha_value_key_message():
    with pytest.raises(ShapeError) as e:
        static("MultiHeadAttention", {"num_heads": 2, "key_dim": 8}, [(None, 10, 16), (None, 12, 16), (None, 11, 16)])
    assert e.value.message == ("needs value and key to agree on every axis but the last, but gets value "
                               "(batch, 12, 16) and key (batch, 11, 16)")
    assert check("MultiHeadAttention", {"num_heads": 2, "key_dim": 8},
                 [(None, 10, 16), (None, 12, 16), (None, 11, 16)]) is None  # Keras refuses too


def test_mha_rank_message():
    with pytest.raises(ShapeError) as e:
        static("MultiHeadAttention", {"num_heads": 2, "key_dim": 8}, [(None, 16), (None, 12, 16)])
    assert e.value.message == "needs query of at least (batch, time, features) but gets (batch, 16)"
    assert e.value.code == "rank-mismatch"


@pytest.mark.parametrize("args, arg", [
    ({"bias_initializer": "orthogonal"}, "bias_initializer"),  # the output bias has 1 axis
    ({"kernel_initializer": "identity"}, "kernel_initializer"),  # kernels have 3 axes
    ({"kernel_regularizer": {"orthogonal_regularizer": {}}}, "kernel_regularizer"),
    ({"bias_regularizer": {"orthogonal_regularizer": {}}}, "bias_regularizer"),
    ({"kernel_initializer": "orthogonal"}, None),
    ({"bias_initializer": "orthogonal", "use_bias": False}, None),
])
def test_mha_weight_ranks(args, arg):
    args = {"num_heads": 2, "key_dim": 3, **args}
    shapes = [(None, 4, 6), (None, 5, 6)]
    if arg is None:
        assert check("MultiHeadAttention", args, shapes, run_it=True) == (None, 4, 6)
        return
    with pytest.raises(ShapeError, match=f"cannot use {arg} ") as e:
        static("MultiHeadAttention", args, shapes)
    assert (e.value.arg, e.value.code) == (arg, "bad-argument")
    assert check("MultiHeadAttention", args, shapes) is None  # Keras fails building or training it


def test_frozen_mha_stays_frozen():
    # Keras's MultiHeadAttention makes its projections in build(): `trainable = False` set
    # before the call left them trainable, and a training step changed every weight while
    # the summary reported them frozen. nnspec's builder freezes the layer again once built.
    import nnspec
    from nnspec.api import check_text
    text = """
nnspec: 1
name: frozen_mha
inputs:
  x: [4, 6]
layers:
  - MultiHeadAttention: {num_heads: 2, key_dim: 3, from: {query: x, value: x}, trainable: false, name: mha}
  - Dense: {units: 1, name: y}
outputs:
  y: {loss: mse}
"""
    spec, diags = check_text(text)
    assert spec is not None and not [d for d in diags if d.severity == "error"], diags
    assert spec.params["mha"][0] == 0
    model = nnspec.build(spec)
    mha = model.get_layer("mha")
    before = [w.numpy().copy() for w in mha.weights]
    x, y = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32"), np.ones((2, 4, 1), "float32")
    model.fit(x, {"y": y}, epochs=1, batch_size=2, verbose=0)
    assert len(before) == 8
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, mha.weights))
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == spec.params["y"][0]


@pytest.mark.parametrize("rank", [5, 6, 7])
@pytest.mark.parametrize("axes", [None, [1], [1, 2]])
def test_mha_scores_of_more_than_8_axes_are_refused_where_keras_fails(rank, axes):
    """The attention scores have rank(query) + len(attention_axes) axes; TensorFlow's softmax
    (SelectV2) takes at most 8: Keras builds it and fails on the first batch (fuzzer, FINDINGS F12)."""
    shapes = [(None,) + (2,) * (rank - 2) + (4,)] * 2
    args = {"num_heads": 1, "key_dim": 2, "attention_axes": axes}
    k = len(axes) if axes else rank - 2
    try:
        static("MultiHeadAttention", args, shapes)
        refused = False
    except ShapeError as e:
        assert "TensorFlow takes at most 8" in e.message and e.code == "rank-mismatch"
        refused = True
    assert refused == (rank + k > 8) == fails_at_runtime("MultiHeadAttention", args, shapes)
