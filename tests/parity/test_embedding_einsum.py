"""Parity of EinsumDense and Embedding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.keras.layers import make_layer
from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import check, keras_fails, keras_result, static
from .test_attention import check_lax

dims = st.integers(1, 6)

# equation, output axes besides the batch (and '...'), bias choices
TEMPLATES = [
    ("ab,bc->ac", "c", [None, "c"]),
    ("abc,cd->abd", "bd", [None, "d", "bd"]),
    ("abc,cde->abde", "bde", [None, "de", "e", "bde"]),
    ("abcd,cde->abe", "be", [None, "e"]),
    ("abc,bcd->ad", "d", [None, "d"]),
    ("...b,bc->...c", "c", [None, "c"]),
    ("...bc,cd->...bd", "bd", [None, "d"]),
    ("ab...,bc->ac...", "c", [None, "c"]),
]


def _deliberate(e):
    # Deliberately stricter: an input rank that does not match the equation, or an
    # output_shape of the wrong length. Keras's symbolic shape goes along (padding
    # or dropping axes) and TF's einsum sometimes runs where sizes are 1.
    return e.code == "rank-mismatch" or e.arg == "output_shape"


def runtime_shape(op_name, args, shapes):
    op = CATALOG[op_name]
    layer = make_layer(op, op.fill(args))
    data = np.zeros([2] + [3 if d is None else d for d in shapes[0][1:]], dtype="float32")
    return tuple(layer(data).shape)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), template=st.sampled_from(TEMPLATES), rank_shift=st.sampled_from([0, 0, 0, 1, -1]),
       activation=st.sampled_from([None, "relu"]))
def test_einsum_dense(data, template, rank_shift, activation):
    equation, out_axes, biases = template
    lead = equation.startswith("...")
    in_spec = equation.split(",")[0].replace("...", "")
    rank = len(in_spec) + (data.draw(st.integers(1, 3)) if lead else 0) + rank_shift
    shape = (None,) + tuple(data.draw(st.one_of(dims, st.none())) if data.draw(st.integers(0, 5)) == 0
                            else data.draw(dims) for _ in range(max(rank, 1) - 1))
    n_out = len(out_axes) + data.draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
    output_shape = [data.draw(st.one_of(dims, st.none())) for _ in range(max(n_out, 1))]
    if data.draw(st.booleans()):  # output sizes of axes kept from the input: mostly right
        for i, c in enumerate(out_axes[:len(output_shape)]):
            pos = in_spec.find(c) + (len(shape) - len(in_spec) if lead else 0)
            if c in in_spec and 0 <= pos < len(shape) and data.draw(st.integers(0, 3)) > 0:
                output_shape[i] = shape[pos]
    if len(output_shape) == 1 and data.draw(st.booleans()) and output_shape[0] is not None:
        output_shape = output_shape[0]
    args = {"equation": equation, "output_shape": output_shape, "bias_axes": data.draw(st.sampled_from(biases)),
            "activation": activation}
    try:
        CATALOG["EinsumDense"].validate(CATALOG["EinsumDense"].fill(args))
    except ShapeError as e:
        assert e.arg == "output_shape"  # the templates are valid equations
        return
    check_lax("EinsumDense", args, [shape], _deliberate)


@settings(max_examples=25, deadline=None)
@given(input_dim=st.integers(1, 20), output_dim=st.integers(1, 8), mask_zero=st.booleans(),
       shape=st.lists(st.one_of(dims, st.none()), min_size=0, max_size=3))
def test_embedding(input_dim, output_dim, mask_zero, shape):
    # Deliberately stricter: mask_zero over an index of several axes (see test_embedding_mask_zero_multi_axis)
    multi = mask_zero and len(shape) > 1
    out = check("Embedding", {"input_dim": input_dim, "output_dim": output_dim, "mask_zero": mask_zero},
                [(None, *shape)], strict_ok=multi)
    assert out == (None if multi else (None, *shape, output_dim))


# ---------------------------------------------------------------- examples
def test_einsum_dense_examples():
    # a multi-head projection: (batch, time, 16) -> (batch, time, 4 heads, 8)
    args = {"equation": "abc,cde->abde", "output_shape": [None, 4, 8], "bias_axes": "de"}
    assert check("EinsumDense", args, [(None, None, 16)]) == (None, None, 4, 8)  # Keras keeps the null
    assert static("EinsumDense", args, [(None, None, 16)])[1] == (16 * 4 * 8 + 4 * 8, 0)
    # null on an axis of known size: Keras's symbolic shape says None where 10 comes out, so a merge
    # after it with another size passes Keras's build and fails when run (fuzzer, seed 31 graph 2545)
    with pytest.raises(ShapeError, match=r"output_shape null on axis 'b' keeps the input's size 10") as e:
        static("EinsumDense", args, [(None, 10, 16)])
    assert e.value.hint == "set output_shape to 10 on axis 'b'"
    assert keras_result("EinsumDense", args, [(None, 10, 16)])[0] == (None, None, 4, 8)
    assert runtime_shape("EinsumDense", args, [(None, 10, 16)]) == (2, 10, 4, 8)
    assert check("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 64}, [(None, 32)]) == (None, 64)


def test_einsum_dense_keras_reverses_leading_ellipsis():
    # A Keras 3.15 quirk: the symbolic shape lists the '...' axes reversed, the computed
    # output does not, so the model is built on shapes it does not compute: nnspec refuses it
    # unless the reversal changes nothing.
    args = {"equation": "...b,bc->...c", "output_shape": 4}
    assert keras_result("EinsumDense", args, [(None, 2, 3, 5)])[0] == (None, 3, 2, 4)
    assert runtime_shape("EinsumDense", args, [(None, 2, 3, 5)]) == (2, 2, 3, 4)
    with pytest.raises(ShapeError, match=r"cannot keep the '...' axes \(2, 3\) of \(batch, 2, 3, 5\)") as e:
        static("EinsumDense", args, [(None, 2, 3, 5)])
    assert (e.value.arg, e.value.code) == ("equation", "bad-argument")
    assert e.value.hint == "name those axes with letters instead of '...': equation 'adeb,bc->adec' with output_shape [2, 3, 4]"
    assert keras_fails("EinsumDense", args, [(None, 2, 3, 5)])
    explicit = {"equation": "adeb,bc->adec", "output_shape": [2, 3, 4]}
    assert check("EinsumDense", explicit, [(None, 2, 3, 5)], run_it=True) == (None, 2, 3, 4)
    # one '...' axis, or axes equal both ways: symbolic and computed shapes agree
    assert check("EinsumDense", args, [(None, 3, 5)], run_it=True) == (None, 3, 4)
    assert check("EinsumDense", args, [(None, 3, 3, 5)], run_it=True) == (None, 3, 3, 4)


def test_einsum_dense_refusals():
    with pytest.raises(ShapeError) as e:
        static("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [7, 6]}, [(None, 5, 4)])
    assert e.value.message == "keeps axis 'b' of size 5 from the input (batch, 5, 4) but output_shape gives it 7"
    assert e.value.arg == "output_shape" and e.value.hint == "set output_shape to 5 (or null) on axis 'b'"
    assert check("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [7, 6]}, [(None, 5, 4)]) is None
    with pytest.raises(ShapeError) as e:
        static("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 6]}, [(None, 4)])
    assert e.value.message == ("needs rank 3 (axes a, b, c, the first the batch) for equation 'abc,cd->abd' "
                               "but gets (batch, 4)")
    with pytest.raises(ShapeError) as e:
        static("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [6]}, [(None, 5, 4)])
    assert e.value.arg == "output_shape" and e.value.code == "bad-argument"
    with pytest.raises(ShapeError) as e:
        static("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 6, "bias_axes": "b"}, [(None, 4)])
    assert e.value.arg == "bias_axes"
    assert check("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 6, "bias_axes": "b"}, [(None, 4)]) is None
    with pytest.raises(ShapeError) as e:
        static("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 6}, [(None, None)])
    assert e.value.code == "unknown-dimension"
    assert check("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 6}, [(None, None)]) is None


def test_embedding_mask_zero_multi_axis():
    # Keras's mask has the index's shape (batch, 6, 2): attention after it fails when it runs
    import keras
    args = {"input_dim": 5, "output_dim": 4, "mask_zero": True}
    with pytest.raises(ShapeError, match=r"cannot use mask_zero: true on the index \(batch, 6, 2\)") as e:
        static("Embedding", args, [(None, 6, 2)])
    assert (e.value.arg, e.value.code) == ("mask_zero", "bad-argument")
    assert "deliberately" in e.value.message
    inp = keras.Input((6, 2), dtype="int32")
    x = keras.layers.Embedding(**args)(inp)
    model = keras.Model(inp, keras.layers.MultiHeadAttention(2, 2)(x, x))
    with pytest.raises(Exception, match="mask"):
        model(np.ones((2, 6, 2), "int32"))
    assert check("Embedding", args, [(None, 6)], run_it=True) == (None, 6, 4)  # one axis: fine


@pytest.mark.parametrize("op, args, shape, arg, ok", [
    ("Dense", {"units": 4, "bias_initializer": "orthogonal"}, (None, 3), "bias_initializer", False),
    ("Dense", {"units": 4, "bias_regularizer": {"orthogonal_regularizer": {"factor": 0.1}}}, (None, 3),
     "bias_regularizer", False),
    ("Dense", {"units": 4, "kernel_initializer": "identity", "kernel_regularizer": {"orthogonal_regularizer": {}},
               "bias_initializer": "glorot_uniform"}, (None, 3), None, True),
    ("Dense", {"units": 4, "use_bias": False, "bias_initializer": "orthogonal"}, (None, 3), None, True),
    ("Embedding", {"input_dim": 5, "output_dim": 3, "embeddings_initializer": "identity",
                   "embeddings_regularizer": {"orthogonal_regularizer": {}}}, (None, 4), None, True),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": [4, 2, 3], "kernel_initializer": "identity"},
     (None, 4, 5), "kernel_initializer", False),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": [4, 2, 3], "bias_axes": "de",
                     "bias_initializer": "orthogonal", "kernel_initializer": "orthogonal"},
     (None, 4, 5), None, True),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [4, 3], "bias_axes": "d",
                     "bias_initializer": "orthogonal"}, (None, 4, 5), "bias_initializer", False),
    # constraints reduce over `axis` of the weight (FINDINGS F2)
    ("Dense", {"units": 2, "bias_constraint": {"unit_norm": {"axis": 1}}}, (None, 4), "bias_constraint", False),
    ("Dense", {"units": 2, "kernel_constraint": {"max_norm": {"axis": [1, -1]}}}, (None, 4), "kernel_constraint",
     False),
    ("Dense", {"units": 2, "kernel_constraint": {"min_max_norm": {"axis": [0, -1]}},
               "bias_constraint": {"unit_norm": {"axis": -1}}}, (None, 4), None, True),
    ("Embedding", {"input_dim": 5, "output_dim": 3, "embeddings_constraint": {"unit_norm": {"axis": 2}}},
     (None, 4), "embeddings_constraint", False),
])
def test_weight_rank_rules(op, args, shape, arg, ok):
    if ok:
        assert check(op, args, [shape], run_it=True) is not None
        return
    with pytest.raises(ShapeError, match=f"cannot use {arg} ") as e:
        static(op, args, [shape])
    assert (e.value.arg, e.value.code) == (arg, "bad-argument")
    assert keras_fails(op, args, [shape])


def test_embedding_example():
    assert check("Embedding", {"input_dim": 1000, "output_dim": 64, "mask_zero": True}, [(None, 20)]) == (None, 20, 64)
    assert static("Embedding", {"input_dim": 1000, "output_dim": 64}, [(None, 20)])[1] == (64000, 0)
