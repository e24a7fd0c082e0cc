"""Every catalog op went through the parity harness. conftest.py runs it after the other
parity tests, and it applies when all of them were selected. Custom is excepted (its shape
is declared by the user); WeightNorm's parity runs in tests/keras/test_weightnorm.py, next to its layer,
and Expr's (static shapes of random expressions against Keras) in tests/keras/test_expr_layer.py."""
import pathlib

import pytest

from nnspec.ops import CATALOG

from .harness import CHECKED, WHOLE_SUITE


def test_every_op_is_checked_against_keras():
    if not WHOLE_SUITE[0]:
        pytest.skip("applies when every file of tests/parity runs (here only some were selected)")
    keras_tests = pathlib.Path(__file__).parent.parent / "keras"
    elsewhere = {"WeightNorm": (keras_tests / "test_weightnorm.py", 'check("WeightNorm"'),
                 "Expr": (keras_tests / "test_expr_layer.py", "def test_static_shape_equals_the_shape_keras_gives")}
    for name, (path, marker) in elsewhere.items():
        assert marker in path.read_text(), name
    missing = sorted(name for name in CATALOG if name not in CHECKED and name != "Custom" and name not in elsewhere)
    assert missing == []
