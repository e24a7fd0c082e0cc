"""Every shipped spec exists in both forms; both give the same data and the same IR."""
from __future__ import annotations

import glob
import os

import pytest

from nnspec import api
from nnspec.cli_dsl import load_any
from nnspec.source.dsl import load_dsl, parse_dsl
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source.yaml_loader import load_yaml

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")
YAMLS = sorted(glob.glob(os.path.join(SPECS, "*.yaml")))
NAMES = [os.path.basename(p)[:-5] for p in YAMLS]


def _ir(spec):
    return {
        "name": spec.name, "description": spec.description, "seed": spec.seed, "training": spec.training,
        "allow_import": spec.allow_import, "requires_import": spec.requires_import,
        "inputs": [(i.name, i.shape, i.dtype) for i in spec.inputs.values()],
        "nodes": [(n.name, n.op, n.args, n.given, n.inputs, n.layer, n.reuse, n.trainable,
                   n.activity_regularizer) for n in spec.nodes],
        "outputs": [(o.name, o.loss, o.weight, o.metrics) for o in spec.outputs.values()],
        "penalties": [(p.kind, p.on, p.coef, p.reduce, p.text) for p in spec.penalties],
        "shapes": spec.shapes, "params": spec.params,
    }


def _check(doc, file):
    spec, diags = api._check_doc(doc, [], file)
    assert spec is not None, [d.format() for d in diags]
    assert not [d for d in diags if d.severity == "error"], [d.format() for d in diags]
    return spec, diags


def test_every_spec_has_a_dsl_twin():
    assert YAMLS
    missing = [n for n in NAMES if not os.path.exists(os.path.join(SPECS, n + ".nns"))]
    assert not missing, f"no .nns for {missing}; nnspec convert specs/X.yaml --to nns -o specs/X.nns"


@pytest.mark.parametrize("name", NAMES)
def test_dsl_twin_same_data_and_ir(name):
    yfile, dfile = os.path.join(SPECS, name + ".yaml"), os.path.join(SPECS, name + ".nns")
    ydoc, ydiags = load_yaml(open(yfile, "rb").read(), yfile)
    ddoc, ddiags = load_dsl(open(dfile, "rb").read(), dfile)
    assert not ydiags and not ddiags, [d.format() for d in ddiags]
    assert ddoc.data == ydoc.data
    yspec, ywarn = _check(ydoc, yfile)
    dspec, dwarn = _check(ddoc, dfile)
    assert _ir(dspec) == _ir(yspec)
    assert [(d.code, d.message) for d in dwarn] == [(d.code, d.message) for d in ywarn]
    # diagnostics point into the .nns file
    assert all(n.span.file == dfile and n.span.line > 0 for n in dspec.nodes if not getattr(n.span, "via", ()))


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_are_identities(name):
    yfile = os.path.join(SPECS, name + ".yaml")
    data = load_yaml(open(yfile, "rb").read(), yfile)[0].data
    # YAML -> DSL -> YAML
    dsl = to_dsl(data)
    back = load_dsl(dsl)[0].data
    assert back == data
    assert to_yaml(back) == to_yaml(data)
    # canonical YAML reads back to the same data, and DSL -> YAML -> DSL
    y = to_yaml(data)
    again = load_yaml(y)[0].data
    assert again == data
    assert to_dsl(again) == dsl


@pytest.mark.parametrize("name", NAMES)
def test_shipped_dsl_is_formatted_and_fmt_is_idempotent(name):
    dfile = os.path.join(SPECS, name + ".nns")
    text = open(dfile, encoding="utf-8").read()
    doc, diags, comments = parse_dsl(text, dfile)
    assert not diags
    once = to_dsl(doc.data, comments)
    assert once == text, "run: nnspec fmt " + dfile
    doc2, _, comments2 = parse_dsl(once, dfile)
    assert to_dsl(doc2.data, comments2) == once


def test_load_any_picks_the_front_end_by_suffix():
    dfile = os.path.join(SPECS, "lab_quake.nns")
    yfile = os.path.join(SPECS, "lab_quake.yaml")
    d, _ = load_any(open(dfile, "rb").read(), dfile)
    y, _ = load_any(open(yfile, "rb").read(), yfile)
    assert d.data == y.data and d.file == dfile
    assert "BatchNormalization()" in d.text
