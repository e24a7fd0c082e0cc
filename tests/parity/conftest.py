"""The coverage test (test_zz_coverage.py) runs last among the selected tests, whatever the
order of files or options, and knows whether the whole parity suite was selected."""
import pathlib

import pytest

from . import harness

HERE = pathlib.Path(__file__).parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    last = [i for i in items if i.path.name == "test_zz_coverage.py"]
    for item in last:
        items.remove(item)
        items.append(item)


_DESELECTED = [False]


def pytest_deselected(items):
    if any(i.path.parent == HERE for i in items):
        _DESELECTED[0] = True


def pytest_collection_finish(session):
    files = {p.name for p in HERE.glob("test_*.py")} - {"test_zz_coverage.py"}
    selected = {i.path.name for i in session.items if i.path.parent == HERE}
    harness.WHOLE_SUITE[0] = files <= selected and not _DESELECTED[0]
