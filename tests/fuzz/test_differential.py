"""The differential fuzzer, fast profile: a few dozen random graphs over the
whole op catalog, each through nnspec (check_text and the CLI) and Keras (see
tests/fuzz/oracle.py). The long profile is bench/fuzz_campaign.py.

Any disagreement fails the test (oracle.LABELS only names causes in a report).
NNSPEC_FUZZ_EXAMPLES sets the number of graphs (25); NNSPEC_FUZZ_SHRINK=1 lets
hypothesis shrink a failure (minutes: every step builds Keras models).
"""
import os
import warnings

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from .graphs import CATALOG, EXCLUDED_OPS, HypothesisDraw, RandomDraw, generate, to_doc
from .oracle import label_of, run_graph

EXAMPLES = int(os.environ.get("NNSPEC_FUZZ_EXAMPLES", "25"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("NNSPEC_FUZZ_SHRINK") == "1"
                                                         else [])


def _judge(graph, result):
    unexplained = []
    for cause, detail in result.disagreements:
        label = label_of(graph, cause, detail)
        unexplained.append(f"{cause}{f' ({label})' if label else ''}\n    {detail[:400]}")
    assert not unexplained, "nnspec and Keras disagree:\n" + "\n".join(unexplained) + "\nspec:\n" + result.text


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_random_graphs_agree_with_keras(data):
    import keras
    graph = generate(HypothesisDraw(data), max_layers=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_graph(graph, train=True, check_cmd=data.draw(st.integers(0, 9)) == 0)
    keras.backend.clear_session()
    event(f"status: {result.status}")  # pytest --hypothesis-show-statistics
    event(f"layers: {len(graph['layers'])}")
    _judge(graph, result)


def test_every_op_is_reachable():
    """The campaign generator reaches every catalog op (but Custom) within 1,500 graphs (AveragePooling3D,
    the rarest, first appears at graph 499)."""
    seen = set()
    for i in range(1500):
        for e in generate(RandomDraw(i))["layers"]:
            for layer in [e] + list(e.get("layers", ())):
                if "op" in layer:
                    seen.add(layer["op"])
                    inner = layer["args"].get("layer")
                    if isinstance(inner, dict):
                        seen.update(inner)
    assert sorted(set(CATALOG) - EXCLUDED_OPS - seen) == []


def test_specs_are_yaml_and_name_every_input():
    import yaml
    for i in range(50):
        graph = generate(RandomDraw(i))
        doc = yaml.safe_load(yaml.safe_dump(to_doc(graph)))
        assert set(doc["inputs"]) == set(graph["inputs"])
        assert doc["outputs"]


def test_a_refused_graph_goes_to_raw_keras():
    """A rank mismatch nnspec refuses: raw Keras refuses it too, so no disagreement."""
    graph = {"inputs": {"x0": {"shape": [8], "dtype": "float32"}},
             "layers": [{"op": "LSTM", "args": {"units": 4}, "name": "l1", "from": ["x0"]}],
             "outputs": {"l1": {"loss": "mse"}}, "penalties": []}
    result = run_graph(graph, cli_checks=False)
    assert result.status == "refused-shape" and result.disagreements == []
