import inspect

import keras
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.keras.layers import keras_class
from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import check, static


# ------------------------------------------------------------ Arg names/defaults vs Keras
def _same_default(arg_name, ours, theirs) -> bool:
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if ours == theirs:
        return True
    if arg_name == "data_format" and ours == "channels_last" and theirs is None:
        return True  # Keras's None is keras.config.image_data_format(), channels_last unless configured
    if arg_name.endswith("_initializer") and isinstance(ours, str) and isinstance(theirs, str):
        # e.g. PReLU's default is "Zeros" (a class name); nnspec's vocabulary says "zeros"
        a, b = keras.initializers.get(ours), keras.initializers.get(theirs)
        return type(a) is type(b) and a.get_config() == b.get_config()
    return False


def arg_signature_problems(op_name: str) -> list[str]:
    """Where an op's Args disagree with its Keras class's __init__: unknown names,
    different defaults, required-ness. Reusable: call it for any catalog op."""
    op = CATALOG[op_name]
    params = inspect.signature(keras_class(op).__init__).parameters
    problems = []
    for arg in op.args:
        p = params.get(arg.name)
        if p is None or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            problems.append(f"{op_name}.{arg.name}: not a parameter of keras {op.keras or op.name}.__init__")
            continue
        if arg.required != (p.default is inspect.Parameter.empty):
            problems.append(f"{op_name}.{arg.name}: required={arg.required} but Keras "
                            f"{'has no default' if p.default is inspect.Parameter.empty else f'defaults to {p.default!r}'}")
        elif not arg.required and not _same_default(arg.name, arg.default, p.default):
            problems.append(f"{op_name}.{arg.name}: default {arg.default!r} != Keras's {p.default!r}")
    for name, p in params.items():
        if name != "self" and p.default is inspect.Parameter.empty and p.kind not in (
                p.VAR_KEYWORD, p.VAR_POSITIONAL) and name not in op.arg_index:
            problems.append(f"{op_name}: Keras's required parameter {name!r} is missing")
    return problems


OPS = ["BatchNormalization", "LayerNormalization", "UnitNormalization"]


@pytest.mark.parametrize("op_name", OPS)
def test_args_match_keras_signature(op_name):
    assert arg_signature_problems(op_name) == []


# ------------------------------------------------------------ strategies
dim = st.integers(1, 12)
maybe_dim = st.one_of(dim, dim, dim, st.none())


def shapes(min_rank=1, max_rank=4, unknown=True):
    d = maybe_dim if unknown else dim
    return st.lists(d, min_size=min_rank, max_size=max_rank).map(lambda s: (None, *s))


def _dups(axes, rank):
    """In-range axes that name the same axis twice (Keras builds odd weights, then fails at run time)."""
    axes = axes if isinstance(axes, list) else [axes]
    if not all(-rank <= a < rank for a in axes):
        return False
    return len({a % rank for a in axes}) < len(axes)


# ------------------------------------------------------------ BatchNormalization
@settings(max_examples=40, deadline=None)
@given(shape=shapes(1, 4), axis=st.integers(-5, 5), center=st.booleans(), scale=st.booleans(),
       renorm=st.booleans())
def test_batch_normalization(shape, axis, center, scale, renorm):
    check("BatchNormalization", {"axis": axis, "center": center, "scale": scale, "renorm": renorm}, [shape])


def test_batch_normalization_examples():
    out, params = static("BatchNormalization", {}, [(None, 8, 8, 16)])
    assert out == (None, 8, 8, 16) and params == (32, 32)
    assert static("BatchNormalization", {"renorm": True, "center": False}, [(None, 5)])[1] == (5, 25)
    assert check("BatchNormalization", {"axis": 1}, [(None, 3, 7)]) == (None, 3, 7)
    with pytest.raises(ShapeError, match=r"needs a known size on the normalized axis 0, the batch axis, "
                                         r"but gets \(batch,\)") as e:
        static("BatchNormalization", {}, [(None,)])
    assert e.value.code == "unknown-dimension"
    with pytest.raises(ShapeError, match=r"needs a known size on the normalized axis 2 but gets \(batch, 4, \?\)"):
        static("BatchNormalization", {}, [(None, 4, None)])
    with pytest.raises(ShapeError, match=r"has axis 3 but the input \(batch, 4, 5\) has only axes -3\.\.2") as e:
        static("BatchNormalization", {"axis": 3}, [(None, 4, 5)])
    assert e.value.code == "bad-argument" and e.value.arg == "axis"


def test_batch_normalization_renorm_clipping():
    args = {"renorm": True, "renorm_clipping": {"rmax": 1.0, "rmin": 2.0}}
    with pytest.raises(ShapeError, match="rmax 1.0 < rmin 2.0"):
        static("BatchNormalization", args, [(None, 4)])
    with pytest.raises(ValueError):  # Keras refuses at construction too
        keras.layers.BatchNormalization(**args)
    check("BatchNormalization", {"renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.5, "dmax": 2.0}},
          [(None, 4)])


# ------------------------------------------------------------ LayerNormalization
axes = st.one_of(st.integers(-5, 5), st.lists(st.integers(-5, 5), min_size=1, max_size=3, unique=True))


@settings(max_examples=40, deadline=None)
@given(shape=shapes(1, 4), axis=axes, center=st.booleans(), scale=st.booleans())
def test_layer_normalization(shape, axis, center, scale):
    # Duplicate axes (e.g. [2, -1] on a rank-3 input): Keras builds (4, 4) weights and fails
    # only when run; nnspec refuses.
    check("LayerNormalization", {"axis": axis, "center": center, "scale": scale}, [shape],
          strict_ok=_dups(axis, len(shape)))


def test_layer_normalization_examples():
    assert static("LayerNormalization", {}, [(None, 10, 16)]) == ((None, 10, 16), (32, 0))
    assert static("LayerNormalization", {"axis": [1, 2], "center": False}, [(None, 10, 16)])[1] == (160, 0)
    assert check("LayerNormalization", {"axis": [-1, 1]}, [(None, 3, 5)]) == (None, 3, 5)
    with pytest.raises(ShapeError, match=r"names axis 2 twice in axis \[2, -1\] for input \(batch, 3, 4\)") as e:
        static("LayerNormalization", {"axis": [2, -1]}, [(None, 3, 4)])
    assert e.value.code == "bad-argument"
    with pytest.raises(ShapeError, match=r"needs a known size on the normalized axis 1 but gets \(batch, \?, 4\)"):
        static("LayerNormalization", {"axis": [1, 2]}, [(None, None, 4)])


# ------------------------------------------------------------ UnitNormalization
@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 4), axis=axes)
def test_unit_normalization(shape, axis):
    # duplicates: Keras fails only at run time (see test_unit_normalization_examples)
    check("UnitNormalization", {"axis": axis}, [shape], strict_ok=_dups(axis, len(shape)))


def test_unit_normalization_examples():
    import numpy as np
    assert check("UnitNormalization", {"axis": [1, 2]}, [(None, None, 4)]) == (None, None, 4)
    with pytest.raises(ShapeError, match="names axis 1 twice"):
        static("UnitNormalization", {"axis": [1, -2]}, [(None, 3, 4)])
    with pytest.raises(Exception):  # what nnspec refuses, Keras fails at run time
        keras.layers.UnitNormalization(axis=[1, -2])(np.ones((2, 3, 4), "float32"))


@pytest.mark.parametrize("op, args, shape, arg", [
    ("BatchNormalization", {"gamma_initializer": "orthogonal"}, (None, 4), "gamma_initializer"),
    ("BatchNormalization", {"moving_variance_initializer": "identity"}, (None, 4), "moving_variance_initializer"),
    ("BatchNormalization", {"beta_regularizer": {"orthogonal_regularizer": {}}}, (None, 4), "beta_regularizer"),
    ("BatchNormalization", {"gamma_initializer": "orthogonal", "scale": False}, (None, 4), None),
    ("LayerNormalization", {"gamma_initializer": "orthogonal"}, (None, 3, 4), "gamma_initializer"),
    ("LayerNormalization", {"axis": [1, 2], "gamma_initializer": "orthogonal",
                            "beta_regularizer": {"orthogonal_regularizer": {}}}, (None, 3, 4), None),
    ("LayerNormalization", {"axis": [1, 2, 3], "beta_initializer": "identity"}, (None, 3, 4, 2),
     "beta_initializer"),
])
def test_weight_ranks(op, args, shape, arg):
    if arg is None:
        assert check(op, args, [shape], run_it=True) == shape
        return
    with pytest.raises(ShapeError, match=f"cannot use {arg} ") as e:
        static(op, args, [shape])
    assert (e.value.arg, e.value.code) == (arg, "bad-argument")
    assert check(op, args, [shape]) is None  # Keras fails building or training it
