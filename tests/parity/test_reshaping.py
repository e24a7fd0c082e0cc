import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError
from nnspec.ops.reshaping import parse_key, slice_shape

from .harness import check, keras_result, static

dims = st.integers(1, 12)
small = st.integers(1, 4)
maybe = st.one_of(dims, dims, dims, st.none())  # mostly known sizes


def ranked(rank, item=maybe):
    """Shapes (batch excluded) of ``rank`` axes mostly, else of any rank 0..4."""
    return st.one_of(*[st.lists(item, min_size=rank, max_size=rank)] * 4, st.lists(item, max_size=4))


def refusal(op_name, args, shapes) -> ShapeError:
    with pytest.raises(ShapeError) as e:
        static(op_name, args, shapes)
    return e.value


def runtime_fails(op_name, args, shapes, fill=2) -> bool:
    """Keras fails when called on concrete arrays (unknown sizes set to ``fill``)."""
    from nnspec.keras.layers import make_layer
    op = CATALOG[op_name]
    arrays = [np.zeros([fill if d is None else d for d in s], "float32") for s in shapes]
    try:
        make_layer(op, op.fill(args))(arrays[0] if len(arrays) == 1 else arrays)
    except Exception:
        return True
    return False


# ---------------------------------------------------------------- Flatten, Reshape, Permute, RepeatVector
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.one_of(small, small, small, st.none()), max_size=3))
def test_flatten(shape):
    # An unknown non-batch size: Keras gives (batch, None), which no Dense can
    # build on; nnspec refuses at the Flatten.
    check("Flatten", {}, [(None, *shape)], strict_ok=None in shape)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.lists(st.one_of(small, small, small, st.none()), min_size=1, max_size=3),
       same_count=st.booleans(), infer=st.booleans())
def test_reshape(data, shape, same_count, infer):
    if same_count and None not in shape:  # a factorisation of the element count
        n, target = int(np.prod(shape)), []
        while n > 1 and len(target) < 3:
            d = data.draw(st.sampled_from([f for f in range(1, n + 1) if n % f == 0]))
            target.append(d)
            n //= d
        target.append(n)
    else:
        target = data.draw(st.lists(small, min_size=1, max_size=3))
    if infer:
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    # Unknown input sizes and no -1: Keras accepts any target symbolically; nnspec
    # refuses a count that is no multiple of the known sizes (it fails when run).
    known = int(np.prod([d for d in shape if d is not None]))
    out = check("Reshape", {"target_shape": target}, [(None, *shape)],
                strict_ok=None in shape and -1 not in target and int(np.prod(target)) % known != 0)
    if out is not None and None not in shape:
        assert np.prod(out[1:]) == np.prod(shape)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(maybe, min_size=1, max_size=4), data=st.data())
def test_permute(shape, data):
    k = data.draw(st.sampled_from([len(shape)] * 3 + [1, 2, 3, 4]))
    dims = data.draw(st.permutations(range(1, k + 1)))
    check("Permute", {"dims": list(dims)}, [(None, *shape)])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), shape=ranked(1))
def test_repeat_vector(n, shape):
    check("RepeatVector", {"n": n}, [(None, *shape)])


# ---------------------------------------------------------------- padding, cropping, upsampling
def pair(lo=0, hi=6):
    return st.integers(lo, hi) | st.lists(st.integers(lo, hi), min_size=2, max_size=2)


pairs_2d = st.integers(0, 4) | st.lists(pair(0, 4), min_size=2, max_size=2)


@settings(max_examples=30, deadline=None)
@given(padding=pair(), shape=ranked(2))
def test_zero_padding_1d(padding, shape):
    check("ZeroPadding1D", {"padding": padding}, [(None, *shape)])


@settings(max_examples=30, deadline=None)
@given(padding=pairs_2d, shape=ranked(3))
def test_zero_padding_2d(padding, shape):
    check("ZeroPadding2D", {"padding": padding}, [(None, *shape)])


@settings(max_examples=40, deadline=None)
@given(cropping=pair(0, 4), shape=ranked(2))
def test_cropping_1d(cropping, shape):
    check("Cropping1D", {"cropping": cropping}, [(None, *shape)])


@settings(max_examples=40, deadline=None)
@given(cropping=pairs_2d, shape=ranked(3))
def test_cropping_2d(cropping, shape):
    check("Cropping2D", {"cropping": cropping}, [(None, *shape)])


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 4), shape=ranked(2))
def test_up_sampling_1d(size, shape):
    check("UpSampling1D", {"size": size}, [(None, *shape)])


@settings(max_examples=25, deadline=None)
@given(size=pair(1, 4), shape=ranked(3),
       interpolation=st.sampled_from(["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"]))
def test_up_sampling_2d(size, shape, interpolation):
    check("UpSampling2D", {"size": size, "interpolation": interpolation}, [(None, *shape)])


# ---------------------------------------------------------------- Slice
opt_int = st.none() | st.integers(-7, 7)
a_slice = st.tuples(opt_int, opt_int, st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]))
a_piece = st.integers(-7, 7) | a_slice


def render(piece) -> str:
    if piece is Ellipsis:
        return "..."
    if isinstance(piece, int):
        return str(piece)
    text = ":".join("" if v is None else str(v) for v in piece[:2])
    return text if piece[2] is None else f"{text}:{piece[2]}"


def as_index(piece):
    """The Python index object, built from the drawn structure (not from the parser)."""
    return piece if isinstance(piece, int) or piece is Ellipsis else slice(*piece)


@st.composite
def keys(draw):
    pieces = draw(st.lists(a_piece, max_size=4))
    if draw(st.booleans()):
        pieces.insert(draw(st.integers(0, len(pieces))), Ellipsis)
    first = draw(st.sampled_from([(None, None, None), Ellipsis, (None, None, None), Ellipsis, "other"]))
    if first == "other":
        first = draw(a_piece)
    pieces.insert(0, first)
    sep = draw(st.sampled_from([",", ", ", " , "]))
    return sep.join(render(p) for p in pieces), tuple(as_index(p) for p in pieces)


def numpy_shape(items, shape, batch=3):
    """x[items].shape for x of ``shape`` (unknown batch = ``batch``), or None if numpy refuses."""
    try:
        return np.zeros([batch if d is None else d for d in shape])[items].shape
    except IndexError:
        return None


@settings(max_examples=40, deadline=None)
@given(key=keys(), shape=st.lists(st.integers(1, 8), min_size=0, max_size=4))
def test_slice_known_dims(key, shape):
    """Known sizes: static == Keras symbolic == numpy == Keras eager."""
    text, items = key
    if items.count(Ellipsis) > 1:
        assert refusal("Slice", {"key": text}, [(None, *shape)]).arg == "key"
        return
    assert parse_key(text) == items
    shape = (None, *shape)
    out = check("Slice", {"key": text}, [shape])
    expected = numpy_shape(items, shape)
    if out is None:
        e = refusal("Slice", {"key": text}, [shape])
        if "batch axis" in e.message:  # numpy does not keep the batch whole for every batch size
            assert not all((r := numpy_shape(items, shape, b)) and r[0] == b for b in (3, 11))
        else:  # numpy fails, or an axis comes out empty
            assert expected is None or 0 in expected
        return
    assert expected == (3, *out[1:])
    from nnspec.keras.custom import Slice
    eager = Slice(text)(np.zeros([3, *shape[1:]], "float32"))
    assert tuple(eager.shape) == expected


@settings(max_examples=40, deadline=None)
@given(key=keys(), shape=st.lists(st.none() | st.integers(1, 8), min_size=1, max_size=3))
def test_slice_unknown_dims(key, shape):
    """An unknown size: the static length is a number exactly when every size
    (1..40 here) gives that length; refused exactly when every size empties it."""
    text, items = key
    shape = (None, *shape)
    try:
        out = slice_shape(text, shape)
    except ShapeError as e:
        out, code = None, e.code
    assume(out is not None or code == "dimension-too-small")
    unknown = [i for i, d in enumerate(shape) if d is None and i > 0]
    assume(unknown)
    results = set()  # each unknown axis swept over 1..40, the others at 40
    for u in unknown:
        for d in range(1, 41):
            concrete = tuple(d if i == u else 40 if i in unknown else s for i, s in enumerate(shape))
            results.add(numpy_shape(items, concrete))
    results.discard(None)  # an integer index past a small size: the runtime's own IndexError
    if out is None:  # refused as always empty
        assert all(0 in r[1:] for r in results)
        return
    check("Slice", {"key": text}, [shape])
    for r in results:
        assert len(r) == len(out)
    for axis in range(1, len(out)):
        lengths = {r[axis] for r in results}
        if out[axis] is None:
            assert len(lengths) > 1, f"{text} on {shape}: axis {axis} is always {lengths}"
        else:
            assert lengths == {out[axis]}


# ---------------------------------------------------------------- examples
def test_examples():
    assert check("Flatten", {}, [(None, 4, 5)]) == (None, 20)
    assert check("Flatten", {}, [(None,)]) == (None, 1)
    assert check("Reshape", {"target_shape": [3, -1]}, [(None, 12)]) == (None, 3, 4)
    assert check("Reshape", {"target_shape": [-1, 2]}, [(None, None, 4)]) == (None, None, 2)
    assert check("Permute", {"dims": [2, 1]}, [(None, 10, 64)]) == (None, 64, 10)
    assert check("RepeatVector", {"n": 3}, [(None, 32)]) == (None, 3, 32)
    assert check("ZeroPadding2D", {"padding": [1, [2, 3]]}, [(None, 5, 5, 1)]) == (None, 7, 10, 1)
    assert check("Cropping2D", {"cropping": [[1, 1], 2]}, [(None, 5, 5, 1)]) == (None, 3, 1, 1)
    assert check("Cropping1D", {}, [(None, None, 4)]) == (None, None, 4)
    assert check("UpSampling2D", {"size": [2, 3]}, [(None, 4, None, 3)]) == (None, 8, None, 3)
    assert check("Slice", {"key": "..., :1"}, [(None, 10, 3)]) == (None, 10, 1)
    assert check("Slice", {"key": ":, 0"}, [(None, 10, 3)]) == (None, 3)
    assert check("Slice", {"key": ":, ::-2, -1:"}, [(None, None, None)]) == (None, None, 1)
    assert slice_shape(":, :1", (None, None)) == (None, 1)  # dims are >= 1
    assert slice_shape(":, 1:", (None, None)) == (None, None)  # empty when the size is 1
    assert slice_shape(":, 0::-1", (None, None)) == (None, 1)


def test_refusals():
    e = refusal("Flatten", {}, [(None, None, 3)])
    assert e.code == "unknown-dimension" and e.message == "needs known sizes on every non-batch axis but gets (batch, ?, 3)"
    e = refusal("Reshape", {"target_shape": [5, 2]}, [(None, 3, 4)])
    assert e.code == "reshape-size"
    assert e.message == ("needs a target_shape with the 12 elements of (batch, 3, 4) but gets (5, 2) "
                         "with 10 elements")
    e = refusal("Reshape", {"target_shape": [5, -1]}, [(None, 3, 4)])
    assert e.code == "reshape-size" and "5" in e.message and "12" in e.message
    e = refusal("Reshape", {"target_shape": [-1, -1]}, [(None, 4)])
    assert (e.code, e.arg) == ("bad-argument", "target_shape")
    e = refusal("Reshape", {"target_shape": [8]}, [(None, None, 3)])
    assert e.code == "reshape-size" and "multiple of 3" in e.message
    assert runtime_fails("Reshape", {"target_shape": [8]}, [(None, None, 3)])  # for any size, in fact
    e = refusal("Permute", {"dims": [1, 3]}, [(None, 2, 3)])
    assert (e.code, e.arg) == ("bad-argument", "dims")
    e = refusal("Permute", {"dims": [2, 1]}, [(None, 2, 3, 4)])
    assert e.code == "rank-mismatch"
    e = refusal("RepeatVector", {"n": 2}, [(None, 2, 3)])
    assert e.code == "rank-mismatch" and e.message == "needs (batch, features) but gets (batch, 2, 3)"
    e = refusal("Cropping1D", {"cropping": [3, 3]}, [(None, 5, 2)])
    assert e.code == "dimension-too-small"
    assert e.message == "needs cropping smaller than the input but crops 3 + 3 from axis 1 (size 5) of (batch, 5, 2)"
    e = refusal("Cropping2D", {"cropping": [[0, 0], [2, 2]]}, [(None, 5, 4, 2)])
    assert e.code == "dimension-too-small" and "axis 2 (size 4)" in e.message
    e = refusal("ZeroPadding2D", {}, [(None, 5, 2)])
    assert e.code == "rank-mismatch" and e.message == "needs (batch, rows, cols, channels) but gets (batch, 5, 2)"


def test_slice_refusals():
    for bad in ["", "1:2:3:4", "a", ":, :, ", "..., ...", "::0", "1.5", ":, [0]"]:
        e = refusal("Slice", {"key": bad}, [(None, 4, 4)])
        assert (e.code, e.arg) == ("bad-argument", "key"), bad
    e = refusal("Slice", {"key": ":, 5:2"}, [(None, 8)])
    assert e.code == "dimension-too-small" and e.message == "needs a non-empty result but '5:2' leaves axis 1 (size 8) of (batch, 8) empty"
    e = refusal("Slice", {"key": ":, 2:5"}, [(None, 2)])
    assert e.code == "dimension-too-small"
    e = refusal("Slice", {"key": ":, -1:-3"}, [(None, None)])
    assert e.code == "dimension-too-small" and "(any size)" in e.message
    e = refusal("Slice", {"key": "0, :"}, [(None, 4)])
    assert (e.code, e.arg) == ("bad-argument", "key") and "batch axis" in e.message
    e = refusal("Slice", {"key": "..., :1"}, [(None,)])  # '...' covers nothing: ':1' hits the batch
    assert (e.code, e.arg) == ("bad-argument", "key")
    e = refusal("Slice", {"key": ":, 4"}, [(None, 4)])
    assert (e.code, e.arg) == ("bad-argument", "key") and "index 4" in e.message
    e = refusal("Slice", {"key": ":, 0, 0"}, [(None, 4)])
    assert e.code == "rank-mismatch"


def test_slice_keras_layer_round_trip(tmp_path):
    import keras

    from nnspec.keras.custom import Slice
    x = keras.Input((6, 4))
    model = keras.Model(x, Slice(":, 1:5:2, -1", name="pick")(x))
    assert model.output.shape == (None, 2)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    data = np.arange(2 * 6 * 4, dtype="float32").reshape(2, 6, 4)
    np.testing.assert_array_equal(again.predict(data, verbose=0), data[:, 1:5:2, -1])
    assert again.get_layer("pick").get_config()["key"] == ":, 1:5:2, -1"
    with pytest.raises(ValueError, match="numpy index syntax"):
        Slice("x[0]")
    with pytest.raises(ValueError, match="non-empty"):
        Slice(":, 3:1")(np.zeros((2, 4), "float32"))


def test_keras_shapes_of_refused_unknown_flatten():
    # What nnspec refuses as stricter: Keras's own answer is (batch, None).
    assert keras_result("Flatten", {}, [(None, None, 3)])[0] == (None, None)


def test_slice_unknown_length_exhaustive():
    """Every small slice: known on an unknown axis exactly when the length is the
    same for every size 1..60 (pure Python, no Keras)."""
    from nnspec.ops.reshaping import _unknown_length
    ends = [None, *range(-8, 9)]
    for start in ends:
        for stop in ends:
            for step in (None, -3, -2, -1, 1, 2, 3):
                s = slice(start, stop, step)
                lengths = {len(range(*s.indices(d))) for d in range(1, 61)}
                assert _unknown_length(s) == (lengths.pop() if len(lengths) == 1 else None), s
