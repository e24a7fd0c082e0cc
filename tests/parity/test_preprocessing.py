import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops.base import ShapeError

from .harness import check, static
from .test_normalization import arg_signature_problems, maybe_dim, shapes

OPS = ["Rescaling"]


@pytest.mark.parametrize("op_name", OPS)
def test_args_match_keras_signature(op_name):
    assert arg_signature_problems(op_name) == []


def _value():
    return st.one_of(st.floats(-2, 2), st.lists(st.floats(-2, 2), min_size=1, max_size=4))


def _list_mismatch(v, shape):
    return isinstance(v, list) and len(v) > 1 and (len(shape) < 2 or shape[-1] not in (None, len(v)))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(maybe_dim, min_size=0, max_size=3).flatmap(
           lambda s: st.integers(1, 4).map(lambda c: (None, *s, c)) | st.just((None, *s))),
       scale=_value(), offset=_value())
def test_rescaling(shape, scale, offset):
    # A per-channel list whose length is not the channel count: Keras declares the input
    # shape and fails (or widens a 1-channel input) only when run; nnspec refuses.
    strict = _list_mismatch(scale, shape) or _list_mismatch(offset, shape)
    check("Rescaling", {"scale": scale, "offset": offset}, [shape], strict_ok=strict)


def test_rescaling_examples():
    assert static("Rescaling", {"scale": 1 / 255}, [(None, 32, 32, 3)]) == ((None, 32, 32, 3), (0, 0))
    assert check("Rescaling", {"scale": [1.0, 2.0, 3.0], "offset": -1.0}, [(None, 8, 3)]) == (None, 8, 3)
    with pytest.raises(ShapeError, match=r"needs \(batch, \.\.\., 3\) for its 3 scale values \(one per "
                                         r"channel\) but gets \(batch, 8, 1\)") as e:
        static("Rescaling", {"scale": [1.0, 2.0, 3.0]}, [(None, 8, 1)])
    assert e.value.arg == "scale" and e.value.code == "bad-argument"
    # what Keras does instead: declares (None, 8, 1), produces (2, 8, 3)
    assert keras.layers.Rescaling([1.0, 2.0, 3.0])(np.ones((2, 8, 1), "float32")).shape == (2, 8, 3)
    with pytest.raises(ShapeError, match="for its 2 offset values"):
        static("Rescaling", {"scale": 1.0, "offset": [0.0, 1.0]}, [(None, 8, 3)])


# ---------------------------------------------------------------- Normalization
NEW_OPS = ["Normalization", "CategoryEncoding", "Hashing"]


@pytest.mark.parametrize("op_name", NEW_OPS)
def test_new_args_match_keras_signature(op_name):
    # Keras's num_tokens defaults to None, then its constructor refuses None: required in nnspec
    expected = ["CategoryEncoding.num_tokens: required=True but Keras defaults to None"] \
        if op_name == "CategoryEncoding" else []
    assert arg_signature_problems(op_name) == expected
    if op_name == "CategoryEncoding":
        with pytest.raises(ValueError, match="num_tokens must be set"):
            keras.layers.CategoryEncoding()


def _axis(rank):
    ax = st.integers(-rank - 1, rank)
    return st.one_of(st.none(), ax, st.lists(ax, min_size=1, max_size=2, unique=True))


def _stats(n):
    return st.one_of(st.none(), st.floats(-2, 2), st.lists(st.floats(-2, 2), min_size=1, max_size=4),
                     st.just([0.5] * n))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.lists(maybe_dim, min_size=1, max_size=3).map(lambda s: (None, *s)))
def test_normalization(data, shape):
    axis = data.draw(_axis(len(shape)))
    mean = data.draw(_stats(shape[-1] or 3))
    if mean is None:
        args = {"axis": axis}
    else:
        var = [abs(v) + 0.5 for v in mean] if isinstance(mean, list) else abs(mean) + 0.5
        args = {"axis": axis, "mean": mean, "variance": var, "invert": data.draw(st.booleans())}
    # nnspec refuses a list whose length is not the axis size; Keras builds (its broadcast_to fails)
    # or not: a duplicated axis (Keras builds odd weights), a mean list with a stricter message
    check("Normalization", args, [shape])
    if mean is None:
        return
    try:
        static("Normalization", args, [shape])
    except ShapeError:
        return
    # accepted: Keras builds it and runs it with the static shape
    check("Normalization", args, [shape], run_it=True)


def test_normalization_examples():
    # left out: mean and variance per channel plus Keras's count, all non-trainable
    assert check("Normalization", {}, [(None, 8, 8, 3)], run_it=True) == (None, 8, 8, 3)
    assert static("Normalization", {}, [(None, 8, 8, 3)])[1] == (0, 7)
    assert static("Normalization", {"axis": None}, [(None, 8, 8, 3)])[1] == (0, 3)
    assert check("Normalization", {"axis": [1, 2]}, [(None, 5, 4, 3)])[1:] == (5, 4, 3)
    assert static("Normalization", {"axis": [1, 2]}, [(None, 5, 4, 3)])[1] == (0, 41)
    # given: constants, no weights (EfficientNet's ImageNet statistics)
    args = {"mean": [0.485, 0.456, 0.406], "variance": [0.052, 0.050, 0.051]}
    assert check("Normalization", args, [(None, 8, 8, 3)], run_it=True) == (None, 8, 8, 3)
    assert static("Normalization", args, [(None, 8, 8, 3)])[1] == (0, 0)
    assert check("Normalization", {"mean": 3.0, "variance": 2.0, "invert": True}, [(None, 4)]) == (None, 4)
    with pytest.raises(ShapeError, match=r"has 3 mean and variance values, but axis 3 of the input "
                                         r"\(batch, 8, 8, 4\) has 4 entries") as e:
        static("Normalization", args, [(None, 8, 8, 4)])
    assert e.value.arg == "mean"
    with pytest.raises(ShapeError, match="has mean but no variance") as e:
        static("Normalization", {"mean": 1.0}, [(None, 4)])
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        keras.layers.Normalization(mean=1.0)
    with pytest.raises(ShapeError, match="mean of 2 values but variance of a single number"):
        static("Normalization", {"mean": [1.0, 2.0], "variance": 1.0}, [(None, 2)])
    with pytest.raises(ValueError, match="same shape"):
        keras.layers.Normalization(mean=[1.0, 2.0], variance=1.0)
    with pytest.raises(ShapeError, match="axis null, which keeps no axis"):
        static("Normalization", {"axis": None, "mean": [1.0, 2.0], "variance": [1.0, 1.0]}, [(None, 2)])
    with pytest.raises(ValueError, match="rank of `mean`"):
        keras.layers.Normalization(axis=None, mean=[1.0, 2.0], variance=[1.0, 1.0])
    # a list of another length on the axis: Keras builds the layer, then fails when it runs
    with pytest.raises(Exception):
        keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0] * 3)(np.ones((2, 4), "float32"))
    with pytest.raises(ShapeError, match="known size"):
        static("Normalization", {}, [(None, None)])


def test_normalization_left_out_passes_its_input_through():
    """nnspec has no adapt(): the weights start at mean 0, variance 1 (Keras's own start)."""
    layer = keras.layers.Normalization()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(layer(x), x)


# ---------------------------------------------------------------- CategoryEncoding, Hashing
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(maybe_dim, min_size=0, max_size=3).map(lambda s: (None, *s)),
       n=st.integers(1, 6), mode=st.sampled_from(["multi_hot", "one_hot", "count"]))
def test_category_encoding(shape, n, mode):
    # multi_hot / count on (batch,): Keras counts the whole batch as one sample (output (n,)); on more
    # than one non-batch axis its computed output is not its declared shape: refused
    wrong_rank = mode != "one_hot" and len(shape) != 2
    out = check("CategoryEncoding", {"num_tokens": n, "output_mode": mode}, [shape], strict_ok=wrong_rank)
    assert (out is None) == wrong_rank


def test_category_encoding_examples():
    assert check("CategoryEncoding", {"num_tokens": 5}, [(None, 3)], run_it=True) == (None, 5)
    assert check("CategoryEncoding", {"num_tokens": 5, "output_mode": "one_hot"}, [(None, 1)],
                 run_it=True) == (None, 5)
    assert check("CategoryEncoding", {"num_tokens": 5, "output_mode": "one_hot"}, [(None, 3)],
                 run_it=True) == (None, 3, 5)
    with pytest.raises(ShapeError, match=r"needs \(batch, values\) for output_mode multi_hot but gets \(batch,\)"):
        static("CategoryEncoding", {"num_tokens": 5}, [(None,)])
    # what Keras does: the batch axis is gone
    layer = keras.layers.CategoryEncoding(num_tokens=5)
    assert layer(np.array([1, 2], "int32")).shape == (5,)
    with pytest.raises(ShapeError, match=r"needs \(batch, values\) for output_mode count"):
        static("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, [(None, 2, 3)])
    x = keras.Input((2, 3), dtype="int32")
    declared = keras.layers.CategoryEncoding(num_tokens=5)(x).shape
    computed = keras.layers.CategoryEncoding(num_tokens=5)(np.zeros((4, 2, 3), "int32")).shape
    assert declared[1:] != tuple(computed[1:])


@settings(max_examples=30, deadline=None)
@given(shape=shapes(0, 3), bins=st.integers(1, 8), mask=st.one_of(st.none(), st.integers(-3, 3)),
       salt=st.one_of(st.none(), st.integers(0, 99), st.lists(st.integers(0, 99), min_size=2, max_size=2)))
def test_hashing(shape, bins, mask, salt):
    check("Hashing", {"num_bins": bins, "mask_value": mask, "salt": salt}, [shape])


def test_hashing_examples():
    assert check("Hashing", {"num_bins": 4, "salt": 7}, [(None, 3)], run_it=True) == (None, 3)
    layer = keras.layers.Hashing(num_bins=4)
    assert keras.backend.standardize_dtype(layer(np.array([[1, 2]], "int32")).dtype) == "int64"
    assert static("Hashing", {"num_bins": 3, "mask_value": 0}, [(None,)]) == ((None,), (0, 0))
