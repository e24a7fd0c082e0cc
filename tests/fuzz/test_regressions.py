"""Minimal graphs of the causes the differential fuzzer found (FINDINGS.md beside the
worktrees: F4, F6...), replayed through the whole oracle (tests/fuzz/oracle.py: check_text,
the CLI with `nnspec check`, nnspec's builder and raw Keras, a forward pass and a training
step). Each file: ``finding``, ``what`` went wrong, the ``expect``ed status and error codes
now, and the fuzzer's ``graph`` (the spec it gives is in the file's opening comment)."""
import pathlib
import warnings

import pytest
import yaml

from .oracle import run_graph

FILES = sorted((pathlib.Path(__file__).parent / "regressions").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fuzzer_regression_agrees_with_keras(path):
    import keras
    case = yaml.safe_load(path.read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_graph(case["graph"], train=True, cli_checks=True, check_cmd=True, seed=0)
    keras.backend.clear_session()
    assert result.disagreements == [], f"{case['finding']}: {case['what']}\n{result.text}"
    assert (result.status, sorted(result.codes)) == (case["expect"]["status"], case["expect"]["codes"])


def test_there_are_regressions():
    assert len(FILES) >= 9
