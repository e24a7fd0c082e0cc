"""Every catalog op went through the parity harness. Named to run after the
other parity files. Custom is excepted (its shape is declared by the user);
WeightNorm's parity runs in tests/keras/test_weightnorm.py, next to its layer."""
import pathlib

import pytest

from nnspec.ops import CATALOG

from .harness import CHECKED


def test_every_op_is_checked_against_keras():
    if len(CHECKED) < 10:
        pytest.skip("run with the whole parity suite (tests/parity)")
    elsewhere = {"WeightNorm": pathlib.Path(__file__).parent.parent / "keras" / "test_weightnorm.py"}
    for name, path in elsewhere.items():
        assert f'check("{name}"' in path.read_text()
    missing = sorted(name for name in CATALOG if name not in CHECKED and name != "Custom" and name not in elsewhere)
    assert missing == []
