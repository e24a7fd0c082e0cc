import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec import vocab
from nnspec.ops.base import ShapeError

from .harness import check, keras_fails, keras_result, static
from .test_normalization import arg_signature_problems, axes, shapes

OPS = ["Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


@pytest.mark.parametrize("op_name", OPS)
def test_args_match_keras_signature(op_name):
    assert arg_signature_problems(op_name) == []


# ------------------------------------------------------------ Activation
@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 4), activation=st.sampled_from(vocab.ACTIVATIONS + [None]))
def test_activation(shape, activation):
    # glu and threshold are refused: the harness runs the layer and sees Keras fail
    out = check("Activation", {"activation": activation}, [shape])
    assert out == (None if activation in ("glu", "threshold") else shape)


@pytest.mark.parametrize("op, args, shape", [
    ("Activation", {}, (None, 5, 8)),
    ("Dense", {"units": 8}, (None, 5, 3)),
    ("Conv1D", {"filters": 4, "kernel_size": 1}, (None, 5, 3)),
])
def test_glu_and_threshold_are_refused(op, args, shape):
    for name in ("glu", "threshold"):
        with pytest.raises(ShapeError, match=f"cannot use activation {name}: ") as e:
            static(op, {**args, "activation": name}, [shape])
        assert (e.value.arg, e.value.code) == ("activation", "bad-argument")
        # Keras builds it, then fails when it runs (threshold) or computes another shape (glu)
        assert keras_fails(op, {**args, "activation": name}, [shape])


def test_glu_shape_differs_in_keras():
    # Keras's symbolic shape keeps the last axis; the layer halves it when it runs
    assert keras_result("Activation", {"activation": "glu"}, [(None, 5, 8)])[0] == (None, 5, 8)
    assert keras.layers.Activation("glu")(np.ones((2, 5, 8), "float32")).shape == (2, 5, 4)
    assert keras_result("Dense", {"units": 8, "activation": "glu"}, [(None, 3)])[0] == (None, 8)
    assert keras.layers.Dense(8, activation="glu")(np.ones((2, 3), "float32")).shape == (2, 4)


def test_threshold_fails_in_keras():
    with pytest.raises(TypeError):
        keras.layers.Activation("threshold")(np.ones((2, 3), "float32"))


def test_recurrent_activation_refused():
    with pytest.raises(ShapeError, match="cannot use recurrent_activation glu") as e:
        static("LSTM", {"units": 4, "recurrent_activation": "glu"}, [(None, 3, 2)])
    assert e.value.arg == "recurrent_activation"
    check("LSTM", {"units": 4, "recurrent_activation": "glu"}, [(None, 3, 2)])


# ------------------------------------------------------------ ReLU, LeakyReLU, ELU
@settings(max_examples=25, deadline=None)
@given(shape=shapes(1, 4), max_value=st.one_of(st.none(), st.floats(0, 6)),
       negative_slope=st.floats(0, 1), threshold=st.floats(0, 1))
def test_relu(shape, max_value, negative_slope, threshold):
    check("ReLU", {"max_value": max_value, "negative_slope": negative_slope, "threshold": threshold}, [shape])


@settings(max_examples=25, deadline=None)
@given(shape=shapes(1, 4), slope=st.floats(0, 1), alpha=st.floats(-2, 2))
def test_leaky_relu_and_elu(shape, slope, alpha):
    check("LeakyReLU", {"negative_slope": slope}, [shape])
    check("ELU", {"alpha": alpha}, [shape])


# ------------------------------------------------------------ PReLU
shared_axes = st.one_of(st.none(), st.integers(1, 4), st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True))


@settings(max_examples=40, deadline=None)
@given(shape=shapes(1, 4), shared=shared_axes)
def test_prelu(shape, shared):
    check("PReLU", {"shared_axes": shared}, [shape])


def test_prelu_examples():
    assert static("PReLU", {}, [(None, 8, 8, 3)]) == ((None, 8, 8, 3), (192, 0))
    assert check("PReLU", {"shared_axes": [1, 2]}, [(None, None, None, 3)]) == (None, None, None, 3)
    assert static("PReLU", {"shared_axes": [1, 2]}, [(None, None, None, 3)])[1] == (3, 0)
    assert static("PReLU", {}, [(None,)])[1] == (1, 0)  # one alpha for a rank-1 input
    with pytest.raises(ShapeError, match=r"has shared_axes 3 but the input \(batch, 4, 5\) has axes 1\.\.2") as e:
        static("PReLU", {"shared_axes": 3}, [(None, 4, 5)])
    assert e.value.arg == "shared_axes"
    with pytest.raises(ShapeError, match=r"needs a known size on axis 1 .* but gets \(batch, \?, 5\)") as e:
        static("PReLU", {}, [(None, None, 5)])
    assert e.value.hint.startswith("add 1 to shared_axes")


# ------------------------------------------------------------ Softmax
def _softmax_invalid(axis, rank):
    ax = axis if isinstance(axis, list) else [axis]
    return not all(-rank <= a < rank for a in ax) or len({a % rank for a in ax}) < len(ax)


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 4), axis=axes)
def test_softmax(shape, axis):
    # Keras's Softmax never checks its axis symbolically (it fails when run, see below):
    # nnspec refuses an axis out of range or named twice.
    check("Softmax", {"axis": axis}, [shape], strict_ok=_softmax_invalid(axis, len(shape)))


def test_softmax_examples():
    assert check("Softmax", {"axis": [1, 2]}, [(None, 3, 4)]) == (None, 3, 4)
    with pytest.raises(ShapeError, match=r"has axis 3 but the input \(batch, 3, 4\) has only axes -3\.\.2"):
        static("Softmax", {"axis": 3}, [(None, 3, 4)])
    assert keras_result("Softmax", {"axis": 3}, [(None, 3, 4)])[0] == (None, 3, 4)  # Keras builds it...
    with pytest.raises(Exception):  # ...and fails when run
        keras.layers.Softmax(axis=3)(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ShapeError, match="names axis 2 twice"):
        static("Softmax", {"axis": [2, -1]}, [(None, 3, 4)])


def test_prelu_alpha_rank():
    # alpha has the input's shape without the batch axis
    assert check("PReLU", {"alpha_initializer": "orthogonal"}, [(None, 3, 4)], run_it=True) == (None, 3, 4)
    with pytest.raises(ShapeError, match="cannot use alpha_initializer orthogonal: .* PReLU's alpha has 1 axis"):
        static("PReLU", {"alpha_initializer": "orthogonal"}, [(None, 4)])
    assert check("PReLU", {"alpha_initializer": "orthogonal"}, [(None, 4)]) is None
    with pytest.raises(ShapeError, match="cannot use alpha_regularizer orthogonal_regularizer"):
        static("PReLU", {"alpha_regularizer": {"orthogonal_regularizer": {}}}, [(None, 2, 3, 4)])
    assert check("PReLU", {"alpha_regularizer": {"orthogonal_regularizer": {}}}, [(None, 2, 3, 4)]) is None


def test_prelu_constraint_on_a_single_alpha():
    # a (batch,) input has one alpha of shape (): max_norm's default axis 0 does not exist
    with pytest.raises(ShapeError, match="cannot use alpha_constraint max_norm with axis 0") as e:
        static("PReLU", {"alpha_constraint": "max_norm"}, [(None,)])
    assert e.value.arg == "alpha_constraint"
    assert check("PReLU", {"alpha_constraint": "max_norm"}, [(None,)]) is None
    assert check("PReLU", {"alpha_constraint": "max_norm"}, [(None, 3)], run_it=True) == (None, 3)


@pytest.mark.parametrize("name", vocab.ACTIVATIONS)
def test_every_activation_as_a_layer_activation_runs_or_is_refused(name):
    # Each vocabulary activation as Dense's activation= and as the Activation layer: built,
    # run on a batch of 2 and trained a step; exactly glu and threshold are refused (Keras
    # fails on them, or computes another shape than its own symbolic one).
    for op, args in (("Dense", {"units": 4, "activation": name}), ("Activation", {"activation": name})):
        out = check(op, args, [(None, 3, 6)], run_it=True)
        assert (out is None) == (name in ("glu", "threshold")), (op, name, out)
