import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import REQUIRED, ShapeError, as_tuple

from .harness import check, keras_fails, keras_result, static

# Mostly known sizes, sometimes an unknown one.
size = st.sampled_from([None, *range(1, 13)])


def per_axis(rank, values):
    """An int, or a list of `rank` ints (Keras accepts both)."""
    return st.one_of(values, st.lists(values, min_size=rank, max_size=rank))


def input_shape(data, rank, channels=st.integers(1, 6)):
    """(batch, *spatial, channels), usually of the op's rank, sometimes one off (a refusal)."""
    r = data.draw(st.sampled_from([rank] * 6 + [rank - 1, rank + 1]), label="spatial rank")
    spatial = data.draw(st.lists(size, min_size=max(r, 0), max_size=max(r, 0)), label="spatial")
    # a rare unknown channel count: Keras cannot build the kernel, nnspec refuses it
    c = data.draw(st.one_of(channels, st.none()) if data.draw(st.integers(0, 9)) == 0 else channels)
    return [(None, *spatial, c)]


def window(data, rank, kernel=st.integers(1, 5)):
    """kernel_size, strides, dilation_rate, use_bias: strided or dilated, and now and then both
    (refused by Keras and nnspec alike)."""
    steps, rates = per_axis(rank, st.integers(1, 3)), per_axis(rank, st.sampled_from([1, 2, 3]))
    how = data.draw(st.sampled_from(["strided"] * 5 + ["dilated"] * 4 + ["both"]), label="window")
    return {"kernel_size": data.draw(per_axis(rank, kernel), label="kernel_size"),
            "strides": data.draw(steps, label="strides") if how != "dilated" else 1,
            "dilation_rate": data.draw(rates, label="dilation_rate") if how != "strided" else 1,
            "use_bias": data.draw(st.booleans())}


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_conv(data, rank):
    padding = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
    groups = data.draw(st.sampled_from([1, 1, 2, 3]), label="groups")
    # filters and channels mostly multiples of groups; otherwise a refusal
    multiple = st.integers(1, 3).map(lambda n: n * groups)
    args = {"filters": data.draw(st.one_of(multiple, multiple, st.integers(1, 6)), label="filters"),
            **window(data, rank), "padding": data.draw(st.sampled_from(padding)), "groups": groups}
    check(f"Conv{rank}D", args, input_shape(data, rank, channels=st.one_of(multiple, multiple, st.integers(1, 6))))


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_conv_transpose(data, rank):
    args = {"filters": data.draw(st.integers(1, 6), label="filters"), **window(data, rank),
            "padding": data.draw(st.sampled_from(["valid", "same"]))}
    # output_padding: unset, below strides, or now and then anything (refused unless below strides)
    below = min(as_tuple(args["strides"], rank)) - 1
    args["output_padding"] = data.draw(st.one_of(st.none(), per_axis(rank, st.integers(0, below)),
                                                 per_axis(rank, st.integers(0, below)),
                                                 per_axis(rank, st.integers(0, 2))), label="output_padding")
    check(f"Conv{rank}DTranspose", args, input_shape(data, rank))


@pytest.mark.parametrize("rank", [1, 2])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_separable_conv(data, rank):
    args = {"filters": data.draw(st.integers(1, 6), label="filters"), **window(data, rank),
            "padding": data.draw(st.sampled_from(["valid", "same"])),
            "depth_multiplier": data.draw(st.integers(1, 3), label="depth_multiplier")}
    check(f"SeparableConv{rank}D", args, input_shape(data, rank))


@pytest.mark.parametrize("rank", [1, 2])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_depthwise_conv(data, rank):
    args = {**window(data, rank), "padding": data.draw(st.sampled_from(["valid", "same"])),
            "depth_multiplier": data.draw(st.integers(1, 3), label="depth_multiplier")}
    check(f"DepthwiseConv{rank}D", args, input_shape(data, rank))


# ---------------------------------------------------------------- examples
@pytest.mark.parametrize("op, args, shape, out, params", [
    ("Conv2D", {"filters": 32, "kernel_size": 3}, (None, 28, 28, 1), (None, 26, 26, 32), 320),
    ("Conv2D", {"filters": 8, "kernel_size": [3, 1], "strides": 2, "padding": "same", "groups": 2},
     (None, 9, 9, 4), (None, 5, 5, 8), 3 * 2 * 8 + 8),
    ("Conv1D", {"filters": 8, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"},
     (None, 10, 3), (None, 10, 8), 3 * 3 * 8 + 8),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "use_bias": False}, (None, 4, 5, 6, 3), (None, 3, 4, 5, 2), 48),
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
     (None, 7, 7, 16), (None, 14, 14, 8), 3 * 3 * 8 * 16 + 8),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2}, (None, 5, 2), (None, 11, 4), 3 * 4 * 2 + 4),
    ("SeparableConv2D", {"filters": 16, "kernel_size": 3, "depth_multiplier": 2},
     (None, 32, 32, 3), (None, 30, 30, 16), 9 * 6 + 6 * 16 + 16),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (None, 8, None, 4), (None, 6, None, 8), 9 * 8 + 8),
])
def test_examples(op, args, shape, out, params):
    assert check(op, args, [shape], run_it=True) == out
    assert static(op, args, [shape])[1] == (params, 0)


def refusal(op, args, shape):
    with pytest.raises(ShapeError) as info:
        static(op, args, [shape])
    check(op, args, [shape])  # Keras fails too
    return info.value


def test_rank_error_points_to_conv1d():
    e = refusal("Conv2D", {"filters": 4, "kernel_size": 3}, (None, 64, 1))
    assert (e.code, e.message) == ("rank-mismatch", "needs (batch, height, width, channels) but gets (batch, 64, 1)")
    assert e.hint == "use Conv1D for sequences, or add a channels axis with Reshape: {target_shape: [64, 1, 1]}"
    e = refusal("Conv1D", {"filters": 4, "kernel_size": 3}, (None, 16))
    assert e.message == "needs (batch, steps, channels) but gets (batch, 16)"
    assert e.hint == "add a channels axis with Reshape: {target_shape: [16, 1]}"


def test_kernel_larger_than_input():
    e = refusal("Conv2D", {"filters": 4, "kernel_size": 5}, (None, 8, 4, 3))
    assert (e.code, e.arg) == ("dimension-too-small", "kernel_size")
    assert e.message == "would shrink width below 1: kernel_size 5 is larger than width 4 of (batch, 8, 4, 3)"
    assert "padding: same" in e.hint
    e = refusal("Conv1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 4}, (None, 8, 3))
    assert "dilated kernel (kernel_size 3 with dilation_rate 4 spans 9)" in e.message


def test_arg_refusals():
    e = refusal("Conv2D", {"filters": 4, "kernel_size": 3, "strides": [2, 1], "dilation_rate": [1, 2]},
                (None, 8, 8, 3))
    assert (e.code, e.arg) == ("bad-argument", "dilation_rate")
    e = refusal("Conv2D", {"filters": 5, "kernel_size": 3, "groups": 2}, (None, 8, 8, 4))
    assert e.arg == "groups" and "filters 5" in e.message
    e = refusal("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, (None, 8, 8, 3))
    assert e.arg == "groups" and e.hint == "use groups that divide 3"
    e = refusal("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 2},
                (None, 8, 8, 3))
    assert e.arg == "output_padding"
    e = refusal("Conv2D", {"filters": 4, "kernel_size": 3}, (None, 8, 8, None))
    assert e.code == "unknown-dimension"


@pytest.mark.parametrize("rank, kernel, output_padding, strides", [
    (1, 2, 0, 1), (1, 4, 0, 2), (2, [2, 3], [0, 1], 2), (3, 2, [1, 0, 1], 2)])
def test_transpose_same_even_kernel_output_padding_0_is_refused(rank, kernel, output_padding, strides):
    # Keras sizes the axis (n - 1) * strides + 0, TensorFlow's kernel n * strides: the layer
    # builds and fails when it runs (on any size; on size 1 Keras even declares a size-0 axis).
    args = {"filters": 4, "kernel_size": kernel, "strides": strides, "padding": "same",
            "output_padding": output_padding}
    shape = (None, *(5,) * rank, 3)
    with pytest.raises(ShapeError, match="cannot use output_padding 0 on .* even kernel_size [24]") as info:
        static(f"Conv{rank}DTranspose", args, [shape])
    assert (info.value.arg, info.value.code) == ("output_padding", "bad-argument")
    assert "Conv2DCustomBackpropInput" in keras_fails(f"Conv{rank}DTranspose", args, [shape]) or rank == 3
    assert keras_fails(f"Conv{rank}DTranspose", args, [shape])
    assert keras_result("Conv1DTranspose", {**args, "kernel_size": 2, "strides": 1, "output_padding": 0},
                        [(None, 1, 3)])[0] == (None, 0, 4)
    # with output_padding 1 (or unset) the same layer runs
    ok = {**args, "output_padding": None}
    assert check(f"Conv{rank}DTranspose", ok, [shape], run_it=True) is not None


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_transpose_dilation_is_refused(rank):
    args = {"filters": 2, "kernel_size": 3, "dilation_rate": 2}
    shape = (None, *(5,) * rank, 3)
    with pytest.raises(ShapeError, match="cannot use dilation_rate 2: TensorFlow's transposed convolution") as e:
        static(f"Conv{rank}DTranspose", args, [shape])
    assert (e.value.arg, e.value.code) == ("dilation_rate", "bad-argument")
    assert "do not yet support dilation rates" in keras_fails(f"Conv{rank}DTranspose", args, [shape]) or \
        "does not yet support dilation rates" in keras_fails(f"Conv{rank}DTranspose", args, [shape])


@pytest.mark.parametrize("op, args", [
    ("DepthwiseConv2D", {"kernel_size": 3, "strides": [1, 2]}),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "strides": [2, 1], "padding": "same"}),
])
def test_unequal_depthwise_strides_are_refused(op, args):
    with pytest.raises(ShapeError, match="needs equal strides on every axis") as e:
        static(op, args, [(None, 7, 7, 3)])
    assert (e.value.arg, e.value.code) == ("strides", "bad-argument")
    assert "equal length strides" in keras_fails(op, args, [(None, 7, 7, 3)])
    assert check(op, {**args, "strides": 2}, [(None, 7, 7, 3)], run_it=True) is not None
    # with a dilation_rate above 1 (on any axis) TensorFlow runs unequal strides
    assert check(op, {**args, "dilation_rate": [1, 2]}, [(None, 9, 9, 3)], run_it=True) is not None


@pytest.mark.parametrize("op, args, shape, arg", [
    ("Conv2D", {"filters": 4, "kernel_size": 3, "kernel_initializer": "identity"}, (None, 5, 5, 2),
     "kernel_initializer"),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "bias_initializer": {"orthogonal": {"gain": 2.0}}}, (None, 5, 2),
     "bias_initializer"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "kernel_regularizer": {"orthogonal_regularizer": {}}},
     (None, 5, 5, 2), "kernel_regularizer"),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "kernel_regularizer": {"orthogonal_regularizer": {}}},
     (None, 5, 2), "kernel_regularizer"),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "pointwise_initializer": "identity"}, (None, 5, 2),
     "pointwise_initializer"),
    ("DepthwiseConv2D", {"kernel_size": 3, "depthwise_regularizer": {"orthogonal_regularizer": {}}},
     (None, 5, 5, 2), "depthwise_regularizer"),
    ("Conv2D", {"filters": 2, "kernel_size": 2, "bias_constraint": {"unit_norm": {"axis": [1, 1, 0]}}},
     (None, 4, 4, 2), "bias_constraint"),
    ("Conv1D", {"filters": 2, "kernel_size": 3, "kernel_constraint": {"max_norm": {"axis": 3}}}, (None, 5, 3),
     "kernel_constraint"),
])
def test_weight_rank_refusals(op, args, shape, arg):
    with pytest.raises(ShapeError, match=f"cannot use {arg} ") as e:
        static(op, args, [shape])
    assert (e.value.arg, e.value.code) == (arg, "bad-argument")
    assert keras_fails(op, args, [shape])  # at build (initializers) or in the training step (regularizer)


def test_orthogonal_kernel_of_a_conv_is_fine():
    # orthogonal flattens every axis but the last: any kernel of 2 or more axes
    assert check("Conv2D", {"filters": 4, "kernel_size": 3, "kernel_initializer": "orthogonal"},
                 [(None, 5, 5, 2)], run_it=True) == (None, 3, 3, 4)


def test_defaults_match_keras():
    import inspect

    import keras
    for name in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                 "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"):
        params = inspect.signature(getattr(keras.layers, name)).parameters
        for arg in CATALOG[name].args:
            assert arg.name in params, (name, arg.name)
            default = params[arg.name].default
            if arg.name == "data_format":  # Keras's None: keras.config.image_data_format(), channels_last
                assert default is None and arg.default == "channels_last"
                continue
            assert arg.default == (REQUIRED if default is inspect.Parameter.empty else default), (name, arg.name)
