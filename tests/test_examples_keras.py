"""Static summary == Keras, on every example spec: each layer's output shape
and parameter count, and the model totals, against the model Keras builds."""
import pathlib

import numpy as np
import pytest

import nnspec

keras = pytest.importorskip("keras")
from nnspec.keras.build import build_graph  # noqa: E402

SPECS = sorted((pathlib.Path(__file__).parent.parent / "specs").glob("*.yaml"))


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_static_summary_matches_keras(path):
    spec = nnspec.load(path)
    model = build_graph(spec)
    for node in spec.nodes:
        if node.reuse:
            continue
        layer = model.get_layer(node.name)
        if node.outputs:  # several: `enc`, then `enc.state_h`, ...
            assert [tuple(t.shape) for t in layer.output] == \
                [spec.shapes[node.name]] + [spec.shapes[f"{node.name}.{o}"] for o in node.outputs[1:]], node.name
        else:
            assert tuple(layer.output.shape) == spec.shapes[node.name], node.name
        assert (_count(layer.trainable_weights), _count(layer.non_trainable_weights)) == spec.params[node.name], \
            node.name
    trainable = sum(p[0] for p in spec.params.values())
    frozen = sum(p[1] for p in spec.params.values())
    assert _count(model.trainable_weights) == trainable
    assert _count(model.non_trainable_weights) == frozen
    assert isinstance(model.output, dict)
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {k: spec.shapes[k] for k in spec.outputs}
