import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import REQUIRED, ShapeError

from .harness import check, static
from .test_conv import input_shape, per_axis

POOLS = [f"{mode}Pooling{r}D" for mode in ("Max", "Average") for r in (1, 2, 3)]
GLOBALS = ["Global" + name for name in POOLS]


@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_pooling(data, name):
    rank = int(name[-2])
    args = {"padding": data.draw(st.sampled_from(["valid", "same"])),
            "strides": data.draw(st.one_of(st.none(), per_axis(rank, st.integers(1, 3))), label="strides")}
    if name.startswith("Average") or data.draw(st.booleans(), label="pool_size given"):
        args["pool_size"] = data.draw(per_axis(rank, st.integers(1, 4)), label="pool_size")
    check(name, args, input_shape(data, rank, channels=st.one_of(st.integers(1, 6), st.none())))


@pytest.mark.parametrize("name", GLOBALS)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), keepdims=st.booleans())
def test_global_pooling(data, name, keepdims):
    rank = int(name[-2])
    check(name, {"keepdims": keepdims}, input_shape(data, rank, channels=st.one_of(st.integers(1, 6), st.none())))


# ---------------------------------------------------------------- examples
@pytest.mark.parametrize("op, args, shape, out", [
    ("MaxPooling2D", {}, (None, 5, 5, 3), (None, 2, 2, 3)),  # pool_size 2, strides = pool_size
    ("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (None, 5, 7, 3), (None, 5, 7, 3)),
    ("AveragePooling1D", {"pool_size": 3}, (None, 10, 2), (None, 3, 2)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (None, 10, 2), (None, 8, 2)),
    ("AveragePooling3D", {"pool_size": [1, 2, 3], "padding": "same"}, (None, 4, None, 4, 2), (None, 4, None, 2, 2)),
    ("GlobalAveragePooling2D", {}, (None, 7, 7, 3), (None, 3)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (None, 7, None, 3), (None, 1, 1, 3)),
    ("GlobalMaxPooling1D", {}, (None, 7, None), (None, None)),
])
def test_examples(op, args, shape, out):
    assert check(op, args, [shape]) == out
    assert static(op, args, [shape])[1] == (0, 0)


def refusal(op, args, shape):
    with pytest.raises(ShapeError) as info:
        static(op, args, [shape])
    check(op, args, [shape])  # Keras fails too
    return info.value


def test_pool_larger_than_input():
    e = refusal("MaxPooling2D", {"pool_size": [2, 3]}, (None, 8, 2, 3))
    assert (e.code, e.arg) == ("dimension-too-small", "pool_size")
    assert e.message == "would shrink width below 1: pool_size 3 is larger than width 2 of (batch, 8, 2, 3)"
    assert e.hint.startswith("use padding: same, a smaller pool_size")


def test_rank_errors():
    e = refusal("GlobalAveragePooling1D", {}, (None, 8, 8, 3))
    assert e.message == "needs (batch, steps, channels) but gets (batch, 8, 8, 3)"
    assert e.hint.startswith("use GlobalAveragePooling2D for images")
    e = refusal("MaxPooling2D", {}, (None, 64, 1))
    assert e.hint == "use MaxPooling1D for sequences, or add a channels axis with Reshape: {target_shape: [64, 1, 1]}"


def test_defaults_match_keras():
    import keras
    for name in POOLS + GLOBALS:
        params = inspect.signature(getattr(keras.layers, name)).parameters
        for arg in CATALOG[name].args:
            default = params[arg.name].default
            if arg.name == "data_format":  # Keras's None: keras.config.image_data_format(), channels_last
                assert default is None and arg.default == "channels_last"
                continue
            assert arg.default == (REQUIRED if default is inspect.Parameter.empty else default), (name, arg.name)
