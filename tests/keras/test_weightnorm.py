"""WeightNorm (nnspec/keras/weightnorm.py, op in nnspec/ops/wrappers.py): static shape and
params against Keras, the forward pass against the bare layer with kernel g * v / ||v||,
training moves both g and v, and `.keras` / SavedModel round trips."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnspec.api import check_text  # noqa: E402
from nnspec.keras.build import build_graph  # noqa: E402
from nnspec.keras.layers import make_layer  # noqa: E402
from nnspec.keras.weightnorm import WeightNorm  # noqa: E402
from nnspec.ops.base import ShapeError  # noqa: E402
from tests.parity.harness import check, static  # noqa: E402

keras.config.disable_interactive_logging()


# ---------------------------------------------------------------- parity (static == Keras)
@st.composite
def inner_items(draw):
    """A Dense / Conv1D / Conv2D item and an input shape (sometimes too small: refused by both)."""
    kind = draw(st.sampled_from(["Dense", "Conv1D", "Conv2D"]))
    bias, act = draw(st.booleans()), draw(st.sampled_from([None, "relu"]))
    if kind == "Dense":
        shape = (None, *draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
        return {"Dense": {"units": draw(st.integers(1, 6)), "use_bias": bias, "activation": act}}, shape
    rank = 1 if kind == "Conv1D" else 2
    groups = draw(st.sampled_from([1, 1, 2]))
    args = {"filters": groups * draw(st.integers(1, 3)), "kernel_size": draw(st.integers(1, 3)),
            "strides": draw(st.sampled_from([1, 2])), "use_bias": bias, "activation": act, "groups": groups,
            "padding": draw(st.sampled_from(["valid", "same", "causal"] if rank == 1 else ["valid", "same"]))}
    if args["strides"] == 1:
        args["dilation_rate"] = draw(st.sampled_from([1, 2]))
    shape = (None, *[draw(st.one_of(st.integers(1, 7), st.none())) for _ in range(rank)], groups * draw(st.integers(1, 3)))
    return {kind: args}, shape


@settings(max_examples=40, deadline=None)
@given(item=inner_items())
def test_parity(item):
    layer, shape = item
    out = check("WeightNorm", {"layer": layer}, [shape])
    if out is not None:  # same shape as the bare layer, one more parameter per output unit
        (name, args), = layer.items()
        bare_out, (bare_params, _) = static(name, args, [shape])
        assert out == bare_out
        assert static("WeightNorm", {"layer": layer}, [shape])[1] == (bare_params + out[-1], 0)


def test_examples_and_refusals():
    assert check("WeightNorm", {"layer": {"Dense": {"units": 8}}}, [(None, 4)]) == (None, 8)
    assert static("WeightNorm", {"layer": {"Dense": {"units": 8}}}, [(None, 4)])[1] == (4 * 8 + 8 + 8, 0)
    conv3d = {"Conv3D": {"filters": 2, "kernel_size": 2, "use_bias": False}}
    assert check("WeightNorm", {"layer": conv3d}, [(None, 4, 4, 4, 3)]) == (None, 3, 3, 3, 2)
    assert static("WeightNorm", {"layer": conv3d}, [(None, 4, 4, 4, 3)])[1] == (8 * 3 * 2 + 2, 0)
    with pytest.raises(ShapeError) as e:
        static("WeightNorm", {"layer": {"Conv1D": {"filters": 2, "kernel_size": 5}}}, [(None, 3, 1)])
    assert e.value.message.startswith("wraps Conv1D, which would shrink steps below 1")
    with pytest.raises(ShapeError) as e:
        static("WeightNorm", {"layer": {"LSTM": {"units": 2}}}, [(None, 3, 1)])
    assert e.value.arg == "layer" and e.value.code == "bad-argument"
    with pytest.raises(ValueError, match="Dense, Conv1D, Conv2D or Conv3D"):
        WeightNorm(keras.layers.LSTM(2))


# ---------------------------------------------------------------- numerics
CASES = {
    "dense": ({"Dense": {"units": 5, "activation": "tanh"}}, (3, 2, 4)),
    "conv1d_causal": ({"Conv1D": {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2,
                                  "activation": "relu"}}, (2, 9, 2)),
    "conv2d_groups": ({"Conv2D": {"filters": 4, "kernel_size": [3, 2], "strides": 2, "padding": "same",
                                  "groups": 2}}, (2, 7, 6, 4)),
    "conv3d": ({"Conv3D": {"filters": 2, "kernel_size": 2, "use_bias": False}}, (1, 4, 3, 3, 2)),
}


def _wrapped(item, shape):
    layer = make_layer("WeightNorm", {"layer": item})
    layer.build(shape)
    return layer


def _np_kernel(g, v):
    norm = np.sqrt((v.astype("float64") ** 2).sum(axis=tuple(range(v.ndim - 1))))
    return (g * v / norm).astype("float32")


@pytest.mark.parametrize("case", CASES)
def test_forward_equals_bare_layer_with_normalised_kernel(case):
    item, shape = CASES[case]
    wn = _wrapped(item, shape)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    v = wn.layer.kernel.numpy()
    # at build, g = ||v||: the wrapper computes exactly the bare layer with kernel v
    np.testing.assert_allclose(wn.g.numpy(), np.sqrt((v ** 2).sum(axis=tuple(range(v.ndim - 1)))), rtol=1e-6)
    bare = type(wn.layer).from_config(wn.layer.get_config())  # the unwrapped layer, same config
    bare.build(shape)
    bare.kernel.assign(v)
    if bare.use_bias:
        bare.bias.assign(wn.layer.bias.numpy())
    np.testing.assert_allclose(wn(x), bare(x), atol=1e-5)
    # arbitrary g, v, bias: the output is the bare layer's with kernel g * v / ||v||
    g = rng.uniform(0.2, 3.0, size=wn.g.shape).astype("float32")
    v = rng.normal(size=v.shape).astype("float32")
    wn.g.assign(g)
    wn.layer.kernel.assign(v)
    if wn.layer.use_bias:
        wn.layer.bias.assign(rng.normal(size=wn.layer.bias.shape).astype("float32"))
        bare.bias.assign(wn.layer.bias.numpy())
    bare.kernel.assign(_np_kernel(g, v))
    np.testing.assert_allclose(wn(x), bare(x), atol=1e-5)
    np.testing.assert_allclose(wn.effective_kernel(), _np_kernel(g, v), atol=1e-6)
    if case == "dense":  # and in plain NumPy
        np.testing.assert_allclose(wn(x), np.tanh(x @ _np_kernel(g, v) + wn.layer.bias.numpy()), atol=1e-5)
    assert len(wn.trainable_weights) == 2 + wn.layer.use_bias


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 3))
    x = make_layer("WeightNorm", {"layer": {"Conv1D": {"filters": 4, "kernel_size": 3, "padding": "causal",
                                                       "activation": "relu"}}}, name="wn_conv")(inputs)
    x = keras.layers.Flatten()(x)
    out = make_layer("WeightNorm", {"layer": {"Dense": {"units": 2}}}, name="wn_dense")(x)
    return keras.Model(inputs, out)


def _data(n=64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8, 3)).astype("float32")
    y = np.stack([x[:, :, 0].sum(1), x[:, -1, 1]], 1).astype("float32")
    return x, y


def test_training_moves_g_and_v():
    model = _model()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    assert sum("/g" in p for p in before) == 2
    x, y = _data()
    hist = model.fit(x, y, batch_size=16, epochs=4, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    for w in model.trainable_weights:
        assert not np.allclose(w.numpy(), before[w.path]), f"{w.path} did not change"
    # g is no longer ||v||: the scale is trained apart from the direction
    v = model.get_layer("wn_dense").layer.kernel.numpy()
    assert not np.allclose(model.get_layer("wn_dense").g.numpy(), np.sqrt((v ** 2).sum(0)))


def _trained():
    model = _model(seed=2)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x, y = _data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model, x


def test_keras_file_round_trip(tmp_path):
    model, x = _trained()
    path = str(tmp_path / "wn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode: WeightNorm is registered as nnspec>WeightNorm
    assert isinstance(loaded.get_layer("wn_dense"), WeightNorm)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    config = model.get_layer("wn_conv").get_config()
    again = WeightNorm.from_config(config)
    assert again.get_config() == config


def test_saved_model_round_trip(tmp_path):
    model, x = _trained()

    class Exported(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec((None, 8, 3), tf.float32)])
        def serve(self, x):
            return self.model(x, training=False)

    tf.saved_model.save(Exported(model), str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    diff = np.abs(loaded.serve(tf.constant(x)).numpy() - model.predict(x, verbose=0)).max()
    assert diff < 1e-5


# ---------------------------------------------------------------- from a spec
SPEC = """
nnspec: 1
name: wn
inputs:
  x: [16, 3]
layers:
  - WeightNorm: {layer: {Conv1D: {filters: 4, kernel_size: 3, activation: relu}}, name: c}
  - Flatten: {}
  - WeightNorm: {layer: {Dense: {units: 2}}, name: out}
outputs:
  out: {loss: mse}
"""


def test_spec_builds():
    spec, diags = check_text(SPEC)
    assert not [d for d in diags if d.severity == "error"], diags
    model = build_graph(spec)
    assert spec.shapes["out"] == (None, 2) and spec.params["out"] == (14 * 4 * 2 + 2 + 2, 0)
    assert sum(int(np.prod(w.shape)) for w in model.get_layer("c").trainable_weights) == spec.params["c"][0]
    bad, diags = check_text(SPEC.replace("Dense: {units: 2}", "LSTM: {units: 2}"))
    assert diags and bad is None
