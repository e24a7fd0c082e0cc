import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops.base import ShapeError

from .harness import check, static
from .test_normalization import arg_signature_problems, shapes

OPS = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout"]

rates = st.floats(0, 0.95)
seeds = st.one_of(st.none(), st.integers(0, 2**31 - 1))


@pytest.mark.parametrize("op_name", OPS)
def test_args_match_keras_signature(op_name):
    assert arg_signature_problems(op_name) == []


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 4), rate=rates, stddev=st.floats(0, 1), seed=seeds)
def test_dropout_and_noise(shape, rate, stddev, seed):
    assert check("Dropout", {"rate": rate, "seed": seed}, [shape]) == shape
    assert check("GaussianDropout", {"rate": rate, "seed": seed}, [shape]) == shape
    assert check("GaussianNoise", {"stddev": stddev, "seed": seed}, [shape]) == shape


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 5), rate=rates, seed=seeds, n=st.sampled_from([1, 2, 3]))
def test_spatial_dropout(shape, rate, seed, n):
    check(f"SpatialDropout{n}D", {"rate": rate, "seed": seed}, [shape])


def test_spatial_dropout_examples():
    assert check("SpatialDropout1D", {"rate": 0.2}, [(None, None, 8)]) == (None, None, 8)
    assert static("SpatialDropout2D", {"rate": 0.2}, [(None, 4, 4, 8)]) == ((None, 4, 4, 8), (0, 0))
    with pytest.raises(ShapeError, match=r"needs \(batch, time, channels\) but gets \(batch, 8\)") as e:
        static("SpatialDropout1D", {"rate": 0.2}, [(None, 8)])
    assert e.value.code == "rank-mismatch" and "Dropout" in e.value.hint
    with pytest.raises(ShapeError, match=r"needs \(batch, rows, cols, channels\) but gets \(batch, 4, 8\)") as e:
        static("SpatialDropout2D", {"rate": 0.2}, [(None, 4, 8)])
    assert "SpatialDropout1D for 3-D" in e.value.hint


@pytest.mark.parametrize("op, shape", [("SpatialDropout1D", [3, 4]), ("SpatialDropout2D", [2, 3, 4]),
                                       ("SpatialDropout3D", [2, 2, 3, 4])])
def test_spatial_dropout_takes_activity_regularizer(op, shape):
    # Keras's SpatialDropout constructors take no activity_regularizer (no **kwargs): passing it
    # failed every such spec when it was built. The builder sets it on the layer instead, and it
    # counts as on any layer: sum(x**2) / batch.
    import numpy as np

    import nnspec
    from nnspec.api import check_text
    text = f"""
nnspec: 1
name: sd
inputs:
  x: {shape}
layers:
  - {op}: {{rate: 0.5, activity_regularizer: {{l2: 1.0}}, name: y}}
outputs:
  y: {{loss: mse}}
"""
    spec, diags = check_text(text)
    assert spec is not None and not diags, diags
    model = nnspec.build(spec)
    x = np.ones((2, *shape), "float32")
    loss = model.evaluate(x, {"y": np.zeros_like(x)}, batch_size=2, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(1.0 + x[0].size * 2 / 2)  # mse 1, plus sum(x**2) / batch size 2
    model.fit(x, {"y": np.zeros_like(x)}, batch_size=2, verbose=0)


# ---------------------------------------------------------------- Dropout's noise_shape
def _noise(shape):
    entry = st.one_of(st.none(), st.just(1), st.integers(1, 4))
    return st.lists(entry, min_size=max(1, len(shape) - 1), max_size=len(shape) + 1)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), shape=shapes(1, 4, unknown=False), rate=st.floats(0.1, 0.9))
def test_dropout_noise_shape(data, shape, rate):
    noise = data.draw(_noise(shape))
    # Keras broadcasts the mask in training only: run it there
    args = {"rate": rate, "noise_shape": noise}
    refused = _refused(args, shape)
    why = _keras_dropout_fails(rate, noise, shape)
    # nnspec refuses exactly what fails in training, and deliberately: a mask of another rank (Keras aligns
    # it on the last axes, so [null, 1] on (batch, 8, 8, 3) means (8, 3) -> (batch?, 1); a higher rank widens
    # the output) and a batch entry above 1 (runs only on batches of that size)
    assert refused == (why is not None or len(noise) != len(shape) or (noise[0] or 1) > 1), (noise, shape, why)
    if not refused:
        check("Dropout", args, [shape])


def _refused(args, shape):
    try:
        static("Dropout", args, [shape])
    except ShapeError:
        return True
    return False


def _keras_dropout_fails(rate, noise, shape):
    import keras
    import numpy as np
    try:
        out = keras.layers.Dropout(rate, noise_shape=noise, seed=1)(np.ones((3, *shape[1:]), "float32"),
                                                                     training=True)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__
    return None if tuple(out.shape) == (3, *shape[1:]) else f"output {tuple(out.shape)}"


def test_dropout_noise_shape_examples():
    # EfficientNetV2: one draw per sample and channel
    assert check("Dropout", {"rate": 0.2, "noise_shape": [None, 1, 1, None]}, [(None, 8, 8, 3)],
                 run_it=True) == (None, 8, 8, 3)
    assert check("Dropout", {"rate": 0.2, "noise_shape": [None, 1, 1, 1]}, [(None, None, None, 3)]) \
        == (None, None, None, 3)
    with pytest.raises(ShapeError, match=r"has noise_shape \[null, 1\] of 2 axes but its input \(batch, 8, 8, 3\) "
                                         r"has 4") as e:
        static("Dropout", {"rate": 0.2, "noise_shape": [None, 1]}, [(None, 8, 8, 3)])
    assert e.value.arg == "noise_shape"
    with pytest.raises(ShapeError, match=r"with 2 on axis 1 \(size 8\)"):
        static("Dropout", {"rate": 0.2, "noise_shape": [None, 2, 1, 1]}, [(None, 8, 8, 3)])
    with pytest.raises(ShapeError, match=r"with 4 on axis 1 \(size unknown\)"):
        static("Dropout", {"rate": 0.2, "noise_shape": [None, 4]}, [(None, None)])
    with pytest.raises(ShapeError, match="with 2 on the batch axis"):
        static("Dropout", {"rate": 0.2, "noise_shape": [2, 4]}, [(None, 4)])
