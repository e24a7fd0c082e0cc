import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops.base import ShapeError

from .harness import check, static
from .test_normalization import arg_signature_problems, maybe_dim

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
    assert e.value.arg == "scale" and e.value.code == "arg"
    # what Keras does instead: declares (None, 8, 1), produces (2, 8, 3)
    assert keras.layers.Rescaling([1.0, 2.0, 3.0])(np.ones((2, 8, 1), "float32")).shape == (2, 8, 3)
    with pytest.raises(ShapeError, match="for its 2 offset values"):
        static("Rescaling", {"scale": 1.0, "offset": [0.0, 1.0]}, [(None, 8, 3)])
