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


# ---------------------------------------------------------------- --freeze NAME
FREEZE = """\
nnspec: 1
name: frozen
inputs:
  x: [8]
blocks:
  mlp:
    params: {units: int}
    layers:
      - Dense: {units: $units, name: fc}
      - BatchNormalization: {name: bn}
      - Dense: {units: $units, activation: relu, name: out}
layers:
  - mlp: {units: 16, name: base}
  - mlp: {units: 8, name: top}
  - Dense: {units: 8, name: shared}
  - reuse: {layer: shared, name: again}
  - Dense: {units: 3, activation: softmax, name: head}
outputs:
  head: {loss: sparse_categorical_crossentropy}
"""


def _frozen(spec):
    return sorted(n.name for n in spec.nodes if not n.trainable)


def test_freeze_is_trainable_false_on_the_layer_or_block_call():
    """--freeze base --freeze shared counts and marks what `trainable: false` written on them does."""
    from nnspec.summary import totals
    written = FREEZE.replace("name: base}", "name: base, trainable: false}").replace(
        "name: shared}", "name: shared, trainable: false}")
    want, diags = nnspec.check_text(written, "f.yaml")
    assert diags == []
    got, diags = nnspec.check_text(FREEZE, "f.yaml", freeze=["base", "shared"])
    assert diags == []
    assert totals(got) == totals(want) != totals(nnspec.check_text(FREEZE, "f.yaml")[0])
    assert _frozen(got) == _frozen(want) == ["again", "base_bn", "base_fc", "base_out", "shared"]
    by_layer, _ = nnspec.check_text(FREEZE, "f.yaml", freeze=["base_bn"])  # a layer inside a call, by name
    assert _frozen(by_layer) == ["base_bn"]


@pytest.mark.parametrize("name, words", [("bse", "did you mean 'base'"), ("x", "is an input, not a layer")])
def test_freeze_of_an_unknown_name_is_one_error(name, words):
    _, diags = nnspec.check_text(FREEZE, "f.yaml", freeze=[name])
    assert [d.code for d in diags] == ["unknown-layer"]
    assert f"--freeze {name}" in diags[0].message and words in diags[0].message + " " + diags[0].hint
