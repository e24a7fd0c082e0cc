from hypothesis import given, settings
from hypothesis import strategies as st

from .harness import check

dims = st.integers(1, 9)


@settings(max_examples=30, deadline=None)
@given(units=st.integers(1, 16), use_bias=st.booleans(),
       shape=st.lists(dims, min_size=1, max_size=3))
def test_dense(units, use_bias, shape):
    out = check("Dense", {"units": units, "use_bias": use_bias}, [(None, *shape)])
    assert out[-1] == units


# ---------------------------------------------------------------- Scale, Masking
def test_scale_and_masking_args_match_keras_signature():
    from .test_normalization import arg_signature_problems
    assert arg_signature_problems("Scale") == []
    assert arg_signature_problems("Masking") == []


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.one_of(dims, st.none()), min_size=0, max_size=3), axis=st.integers(-4, 3))
def test_scale(shape, axis):
    check("Scale", {"axis": axis}, [(None, *shape)])


def test_scale_is_convnext_layer_scale():
    """Scale on the last axis is keras.applications.convnext's LayerScale: same weight, same output."""
    import keras
    import numpy as np
    from keras.src.applications.convnext import LayerScale

    import nnspec.keras.custom as custom
    assert check("Scale", {"gamma_initializer": {"constant": {"value": 1e-6}}}, [(None, 7, 7, 96)],
                 run_it=True) == (None, 7, 7, 96)
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 96)).astype("float32")
    theirs, ours = LayerScale(1e-6, 96), custom.Scale(gamma_initializer=keras.initializers.Constant(1e-6))
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    theirs.set_weights([np.arange(96, dtype="float32")])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6)
    # another axis: gamma has that axis's size and broadcasts along it
    out = check("Scale", {"axis": 1}, [(None, 3, 5, 5)], run_it=True)
    assert out == (None, 3, 5, 5)


def test_scale_refusals():
    import pytest

    from nnspec.ops.base import ShapeError

    from .harness import static
    with pytest.raises(ShapeError, match=r"has axis 0, which is not a non-batch axis of its input \(batch, 4\)"):
        static("Scale", {"axis": 0}, [(None, 4)])
    with pytest.raises(ShapeError, match=r"needs a known size on axis -1"):
        static("Scale", {}, [(None, None)])


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.one_of(dims, st.none()), min_size=0, max_size=4), value=st.floats(-2, 2))
def test_masking(shape, value):
    # nnspec refuses an input of more than 2 non-batch axes deliberately (test_masking_strictness), and
    # (batch,): Keras's mask reduces over the last axis, here the batch, so a sample masks the others
    out = check("Masking", {"mask_value": value}, [(None, *shape)], strict_ok=len(shape) > 2 or not shape)
    assert (out is None) == (len(shape) > 2 or len(shape) == 0)


def test_masking_strictness():
    """Keras builds Masking on (batch, a, b, c), but its mask (batch, a, b) breaks the attention and
    recurrent layers after it when they run (as Embedding's mask_zero on a 2-axis index)."""
    import keras
    import numpy as np
    import pytest

    from nnspec.ops.base import ShapeError

    from .harness import static
    with pytest.raises(ShapeError, match=r"Keras's mask then has the shape \(batch, 4, 4\)") as e:
        static("Masking", {}, [(None, 4, 4, 3)])
    assert "Reshape" in e.value.hint
    x = keras.Input((4, 4, 3))
    m = keras.layers.Masking()(x)
    y = keras.layers.MultiHeadAttention(2, 2)(m, m)
    with pytest.raises(Exception, match="mask"):
        keras.Model(x, y)(np.ones((2, 4, 4, 3), "float32"))


def test_masking_skips_steps_in_an_lstm():
    """The mask propagates: a masked LSTM ignores the padded steps, as with Embedding(mask_zero)."""
    import keras
    import numpy as np

    assert check("Masking", {"mask_value": 0.0}, [(None, None, 3)], run_it=True) == (None, None, 3)
    x = keras.Input((None, 3))
    lstm = keras.layers.LSTM(2)
    model = keras.Model(x, lstm(keras.layers.Masking()(x)))
    data = np.random.default_rng(0).normal(size=(1, 4, 3)).astype("float32")
    padded = np.concatenate([data, np.zeros((1, 2, 3), "float32")], axis=1)
    np.testing.assert_allclose(model(padded), model(data), rtol=1e-5)
