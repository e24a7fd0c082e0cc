"""The spec's `weights:` key, statically: a path below the spec's directory only, and both forms."""
import pytest

import nnspec
from nnspec.source.dsl import load_dsl
from nnspec.source.emit import to_dsl
from nnspec.source.yaml_loader import load_yaml

SPEC = """\
nnspec: 1
name: ft
weights: WEIGHTS
inputs:
  x: [4]
layers:
  - Dense: {units: 2, name: d}
outputs:
  d: {loss: mse}
"""


@pytest.mark.parametrize("path,ok", [
    ("base.keras", True), ("pretrained/base.weights.h5", True), ("./base.keras", True),
    ("../base.keras", False), ("a/../../b.keras", False), ("/etc/base.keras", False), ("~/base.keras", False),
    ('"C:\\\\w\\\\base.keras"', False), ("base.h5", False), ("base.pkl", False),
])
def test_weights_path_below_the_spec_only(path, ok):
    _, diags = nnspec.check_text(SPEC.replace("WEIGHTS", path).encode(), "ft.yaml")
    assert [(d.code, d.span.line) for d in diags] == ([] if ok else [("weights-path", 3)])


def test_weights_key_in_both_forms():
    doc, _ = load_yaml(SPEC.replace("WEIGHTS", "pretrained/base.keras").encode(), "ft.yaml")
    nns = to_dsl(doc.data)
    assert 'weights "pretrained/base.keras"' in nns
    back, diags = load_dsl(nns.encode(), "ft.nns")
    assert diags == [] and back.data == doc.data
    # `weights` stays usable as a name
    back, diags = load_dsl(nns.replace("d = Dense", "weights = Dense").replace("output d", "output weights")
                           .encode(), "ft.nns")
    assert diags == [] and back.data["layers"][0]["Dense"]["name"] == "weights"
