import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import check, keras_result, static

small = st.integers(1, 5)
ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


def refusal(op_name, args, shapes) -> ShapeError:
    with pytest.raises(ShapeError) as e:
        static(op_name, args, shapes)
    return e.value


def runtime_fails(op_name, args, shapes) -> bool:
    """Keras fails when called on concrete arrays (unknown sizes set to 2)."""
    from nnspec.keras.layers import make_layer
    op = CATALOG[op_name]
    arrays = [np.ones([2 if d is None else d for d in s], "float32") for s in shapes]
    try:
        make_layer(op, op.fill(args))(arrays)
    except Exception:
        return True
    return False


@st.composite
def variants(draw, base, n):
    """n shapes around ``base``: some axes set to 1, unknown or another size; some
    inputs of lower rank."""
    out = []
    for _ in range(n):
        shape = [draw(st.sampled_from([d, d, d, 1, None, d + 1])) for d in base]
        if draw(st.integers(0, 3)) == 0:
            shape = shape[draw(st.integers(1, len(shape))):]
        out.append((None, *shape))
    return out


@pytest.mark.parametrize("op", ELEMENTWISE)  # each op gets its own examples, not a random share
@settings(max_examples=15, deadline=None)
@given(data=st.data(), base=st.lists(small, min_size=1, max_size=3))
def test_elementwise(op, data, base):
    n = 2 if op == "Subtract" else data.draw(st.integers(2, 3))
    check(op, {}, data.draw(variants(base, n)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), base=st.lists(small, min_size=1, max_size=3), n=st.integers(2, 3))
def test_concatenate(data, base, n):
    rank = len(base) + 1
    axis = data.draw(st.one_of(st.integers(1, rank - 1), st.integers(-rank + 1, -1), st.integers(-rank - 1, rank)))
    shapes = []
    for _ in range(n):
        shape = list(base)
        if -rank <= axis < rank and axis % rank:
            shape[axis % rank - 1] = data.draw(st.sampled_from([1, 2, 3, None]))
        if data.draw(st.integers(0, 4)) == 0:  # a clash elsewhere, or an unknown size
            shape[data.draw(st.integers(0, len(shape) - 1))] = data.draw(st.sampled_from([None, 6]))
        if data.draw(st.integers(0, 6)) == 0:
            shape = shape[1:] or [2, 2]  # another rank
        shapes.append((None, *shape))
    # Along the batch axis Keras builds the layer; nnspec refuses (see merging.py).
    check("Concatenate", {"axis": axis}, shapes, strict_ok=-rank <= axis < rank and axis % rank == 0)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), s1=st.lists(small, min_size=1, max_size=3), s2=st.lists(small, min_size=1, max_size=3),
       normalize=st.booleans())
def test_dot(data, s1, s2, normalize):
    r1, r2 = len(s1) + 1, len(s2) + 1
    if data.draw(st.booleans()):
        axes = data.draw(st.one_of(st.integers(1, min(r1, r2) - 1), st.just(-1), st.integers(-4, 3)))
        pair = (axes, axes)
    else:
        axes = [data.draw(st.integers(-r1 + 1, r1 - 1).filter(bool) | st.integers(-r1, r1 - 1)),
                data.draw(st.integers(-r2 + 1, r2 - 1).filter(bool) | st.integers(-r2, r2 - 1))]
        pair = tuple(axes)
    if data.draw(st.integers(0, 3)) and all(-r <= a < r and a % r for a, r in zip(pair, (r1, r2))):
        s2[pair[1] % r2 - 1] = s1[pair[0] % r1 - 1]  # mostly: sizes that agree
    if data.draw(st.integers(0, 5)) == 0:
        s1[data.draw(st.integers(0, len(s1) - 1))] = None
    shapes = [(None, *s1), (None, *s2)]
    # Keras wraps negative int axes modulo each rank (axes=-4 on rank 3 is axis 2) and
    # builds on the batch axis symbolically (failing when called): nnspec refuses both.
    keras_axes = [axes % r for r in (r1, r2)] if isinstance(axes, int) and axes < 0 else list(pair)
    strict = (isinstance(axes, int) and axes < -min(r1, r2)) or 0 in [a % r for a, r in zip(keras_axes, (r1, r2))
                                                                      if -r <= a < r]
    check("Dot", {"axes": axes, "normalize": normalize}, shapes, strict_ok=strict)


def test_examples():
    assert check("Add", {}, [(None, 8), (None, 8), (None, 8)]) == (None, 8)
    assert check("Add", {}, [(None, 3, 4), (None, 4)]) == (None, 3, 4)  # numpy-style broadcast
    assert check("Multiply", {}, [(None, 1, 4), (None, 3, 1)]) == (None, 3, 4)
    assert check("Maximum", {}, [(None, None, 4), (None, 3, 4)]) == (None, None, 4)  # Keras keeps it unknown
    assert check("Subtract", {}, [(2, 5), (None, 5)]) == (2, 5)
    assert check("Concatenate", {}, [(None, 4, 3), (None, 4, 5)]) == (None, 4, 8)
    assert check("Concatenate", {"axis": 1}, [(None, 3, None), (None, 3, 5)]) == (None, 6, None)
    assert check("Dot", {"axes": 1}, [(None, 5), (None, 5)]) == (None, 1)
    assert check("Dot", {"axes": [2, 1]}, [(None, 3, 5), (None, 5, 4, 2)]) == (None, 3, 4, 2)
    assert check("Dot", {"axes": -1, "normalize": True}, [(None, 3, 5), (None, 5)]) == (None, 3)


def test_refusals():
    e = refusal("Add", {}, [(None, 8), (None, 16)])
    assert e.code == "merge-mismatch" and e.message == "needs inputs of equal shape but gets (batch, 8) and (batch, 16)"
    assert "sizes 8 and 16 clash on axis 1" in e.hint
    e = refusal("Average", {}, [(None, 3, 4), (None, 1), (None, 3)])
    assert e.code == "merge-mismatch" and e.message.endswith("gets (batch, 3, 4), (batch, 1) and (batch, 3)")
    assert "lower rank" in e.hint
    e = refusal("Add", {}, [(2, 3), (4, 3)])
    assert e.code == "merge-mismatch" and "batch size" in e.message
    e = refusal("Concatenate", {"axis": -1}, [(None, 4, 3), (None, 5, 3)])
    assert e.code == "merge-mismatch"
    assert e.message == "needs inputs of equal shape except on axis 2 but gets (batch, 4, 3) and (batch, 5, 3)"
    assert e.hint.startswith("axis 1 has sizes 4, 5")
    e = refusal("Concatenate", {}, [(None, 4, 3), (None, 3)])
    assert e.code == "merge-mismatch" and "equal rank" in e.message
    e = refusal("Concatenate", {"axis": 3}, [(None, 4, 3), (None, 4, 3)])
    assert (e.code, e.arg) == ("bad-argument", "axis")
    e = refusal("Concatenate", {"axis": 0}, [(None, 4), (None, 4)])
    assert (e.code, e.arg) == ("bad-argument", "axis")
    e = refusal("Dot", {"axes": -1}, [(None, 3, 5), (None, 4)])
    assert e.code == "merge-mismatch"
    assert e.message == "needs equal sizes on the dot axes but gets 5 (axis 2 of (batch, 3, 5)) and 4 (axis 1 of (batch, 4))"
    e = refusal("Dot", {"axes": 1}, [(None, None), (None, 5)])
    assert e.code == "merge-mismatch" and "fixed size" in e.hint
    e = refusal("Dot", {"axes": 0}, [(None, 5), (None, 5)])
    assert (e.code, e.arg) == ("bad-argument", "axes")
    # Keras builds it (shape (5, 1)!) but the call fails: nnspec refuses up front.
    assert keras_result("Dot", {"axes": 0}, [(None, 5), (None, 5)])[0] == (5, 1)
    assert runtime_fails("Dot", {"axes": 0}, [(None, 5), (None, 5)])


def test_arity():
    assert CATALOG["Subtract"].inputs == (2, 2) and CATALOG["Dot"].inputs == (2, 2)
    assert all(CATALOG[name].inputs == (2, None) for name in ELEMENTWISE + ["Concatenate"] if name != "Subtract")
