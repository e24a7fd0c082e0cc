"""Every shipped example spec validates cleanly and has a sensible summary."""
import pathlib

import pytest

import nnspec
from nnspec import summary

SPECS = sorted((pathlib.Path(__file__).parent.parent / "specs").glob("*.yaml"))


def test_at_least_eight_examples():
    assert len(SPECS) >= 8


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_validates_without_warnings(path):
    diags = nnspec.validate(path)
    assert diags == [], "\n".join(d.format() for d in diags)
    spec = nnspec.load(path)
    trainable, frozen = summary.totals(spec)
    assert trainable > 0
    for name in spec.outputs:
        assert spec.shapes[name] is not None
