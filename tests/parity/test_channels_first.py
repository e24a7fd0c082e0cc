"""data_format: channels_first on every op that has it in Keras: the static shape is the
channels_last one with the channels axis moved after the batch, equal to Keras's; parameter
counts equal; and where TensorFlow's CPU kernels take only channels_last (Conv1D/2D without
groups, the transposed convolutions), Keras builds the layer but it fails when it runs: nnspec
refuses, and this file measures that Keras fails. (With oneDNN, on by default on some x86 CPUs,
those kernels run; tests/conftest.py turns it off, as on every other CPU.)"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import check, keras_fails, static

CF = {"data_format": "channels_first"}

# op -> (args, channels_last input shape); every op with a data_format argument
CASES = {
    "Conv1D": ({"filters": 4, "kernel_size": 3, "groups": 2}, (None, 9, 4)),
    "Conv2D": ({"filters": 4, "kernel_size": 3, "groups": 2, "strides": 2}, (None, 9, 8, 4)),
    "Conv3D": ({"filters": 2, "kernel_size": 2, "padding": "same"}, (None, 5, 4, 3, 3)),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 3, "depth_multiplier": 2}, (None, 9, 3)),
    "SeparableConv2D": ({"filters": 2, "kernel_size": 3, "strides": 2}, (None, 9, 8, 3)),
    "DepthwiseConv1D": ({"kernel_size": 3, "padding": "same"}, (None, 9, 3)),
    "DepthwiseConv2D": ({"kernel_size": 3, "depth_multiplier": 2}, (None, 9, 8, 3)),
    "MaxPooling1D": ({"pool_size": 2}, (None, 9, 3)),
    "MaxPooling2D": ({"pool_size": 3, "strides": 2, "padding": "same"}, (None, 9, 8, 3)),
    "MaxPooling3D": ({"pool_size": 2}, (None, 5, 4, 3, 3)),
    "AveragePooling1D": ({"pool_size": 2, "padding": "same"}, (None, 9, 3)),
    "AveragePooling2D": ({"pool_size": 2}, (None, 9, 8, 3)),
    "AveragePooling3D": ({"pool_size": 2}, (None, 5, 4, 3, 3)),
    "GlobalAveragePooling1D": ({}, (None, 9, 3)),
    "GlobalAveragePooling2D": ({"keepdims": True}, (None, 9, 8, 3)),
    "GlobalAveragePooling3D": ({}, (None, 5, 4, 3, 3)),
    "GlobalMaxPooling1D": ({"keepdims": True}, (None, 9, 3)),
    "GlobalMaxPooling2D": ({}, (None, 9, 8, 3)),
    "GlobalMaxPooling3D": ({"keepdims": True}, (None, 5, 4, 3, 3)),
    "ZeroPadding1D": ({"padding": [1, 2]}, (None, 9, 3)),
    "ZeroPadding2D": ({"padding": [[1, 2], [0, 1]]}, (None, 9, 8, 3)),
    "Cropping2D": ({"cropping": [[1, 2], [0, 1]]}, (None, 9, 8, 3)),
    "UpSampling2D": ({"size": [2, 3], "interpolation": "bilinear"}, (None, 9, 8, 3)),
    "SpatialDropout2D": ({"rate": 0.5}, (None, 9, 8, 3)),
    "SpatialDropout3D": ({"rate": 0.5}, (None, 5, 4, 3, 3)),
}
# Keras builds these channels first, then TensorFlow's CPU kernel fails when they run
REFUSED = {
    "Conv1D": ({"filters": 4, "kernel_size": 3}, (None, 9, 4)),
    "Conv2D": ({"filters": 4, "kernel_size": 3, "dilation_rate": 2}, (None, 9, 8, 4)),
    "Conv1DTranspose": ({"filters": 2, "kernel_size": 3}, (None, 9, 3)),
    "Conv2DTranspose": ({"filters": 2, "kernel_size": 3, "strides": 2}, (None, 9, 8, 3)),
    "Conv3DTranspose": ({"filters": 2, "kernel_size": 2}, (None, 5, 4, 3, 3)),
}


def _first(shape):
    return (shape[0], shape[-1], *shape[1:-1])


def test_every_op_with_a_data_format_is_covered():
    has = {name for name, op in CATALOG.items() if "data_format" in op.arg_index}
    assert has == set(CASES) | set(REFUSED)


@pytest.mark.parametrize("op_name", sorted(CASES))
def test_channels_first_is_channels_last_transposed(op_name):
    args, shape = CASES[op_name]
    last = check(op_name, args, [shape], run_it=True)
    out = check(op_name, {**args, **CF}, [_first(shape)], run_it=True)
    assert out == (last if len(last) == 2 else _first(last))
    assert static(op_name, {**args, **CF}, [_first(shape)])[1] == static(op_name, args, [shape])[1]


@pytest.mark.parametrize("op_name", sorted(REFUSED))
def test_channels_first_that_cpu_cannot_run_is_refused(op_name):
    args, shape = REFUSED[op_name]
    assert check(op_name, args, [shape]) is not None  # channels last: fine
    with pytest.raises(ShapeError, match="cannot use data_format channels_first: TensorFlow's .* on CPU") as e:
        static(op_name, {**args, **CF}, [_first(shape)])
    assert e.value.arg == "data_format" and "channels_last" in e.value.hint and "oneDNN" in e.value.message
    why = keras_fails(op_name, {**args, **CF}, [_first(shape)])
    assert why is not None and why.startswith("run:") and ("NHWC" in why or "only supports" in why), why


@settings(max_examples=25, deadline=None)
@given(rank=st.sampled_from([1, 2, 3]), mode=st.sampled_from(["Max", "Average"]),
       dims=st.lists(st.integers(1, 7), min_size=4, max_size=4), pool=st.integers(1, 3),
       strides=st.one_of(st.none(), st.integers(1, 3)), padding=st.sampled_from(["valid", "same"]))
def test_pooling_channels_first(rank, mode, dims, pool, strides, padding):
    shape = (None, dims[0], *dims[1:rank + 1])
    check(f"{mode}Pooling{rank}D", {"pool_size": pool, "strides": strides, "padding": padding, **CF}, [shape])


@settings(max_examples=25, deadline=None)
@given(dims=st.lists(st.integers(1, 7), min_size=4, max_size=4), kernel=st.integers(1, 3),
       strides=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]), filters=st.integers(1, 4),
       rank=st.sampled_from([1, 2, 3]), groups=st.sampled_from([1, 2]))
def test_conv_channels_first(dims, kernel, strides, padding, filters, rank, groups):
    channels = dims[0] * groups
    shape = (None, channels, *dims[1:rank + 1])
    args = {"filters": filters * groups, "kernel_size": kernel, "strides": strides, "padding": padding,
            "groups": groups, **CF}
    # refused (Conv1D/2D without groups): Keras fails when it runs (without oneDNN, see above)
    check(f"Conv{rank}D", args, [shape])


@settings(max_examples=20, deadline=None)
@given(dims=st.lists(st.integers(1, 7), min_size=3, max_size=3), kernel=st.integers(1, 3),
       strides=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]), mult=st.integers(1, 2),
       rank=st.sampled_from([1, 2]), kind=st.sampled_from(["Separable", "Depthwise"]))
def test_depthwise_and_separable_channels_first(dims, kernel, strides, padding, mult, rank, kind):
    shape = (None, dims[0], *dims[1:rank + 1])
    args = {"kernel_size": kernel, "strides": strides, "padding": padding, "depth_multiplier": mult, **CF}
    if kind == "Separable":
        args["filters"] = 2
    check(f"{kind}Conv{rank}D", args, [shape])
