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
