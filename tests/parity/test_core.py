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
