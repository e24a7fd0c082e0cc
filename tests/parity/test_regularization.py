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
    assert e.value.code == "rank" and "Dropout" in e.value.hint
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
