"""The compiled fast check agrees with jsonschema, on the real schema."""
import copy
import pathlib

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec import schema
from nnspec.fastcheck import compile_schema
from nnspec.source.yaml_loader import load_yaml
from tier import examples

ROOT = pathlib.Path(__file__).parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "nnspec" / "codes").glob("*.yaml"))
FAST = compile_schema(schema.generate())
SLOW = jsonschema.Draft7Validator(schema.generate())


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_agrees_on_files(path):
    doc, diags = load_yaml(path.read_bytes(), str(path))
    if doc is None:
        return
    assert FAST(doc.data) == SLOW.is_valid(doc.data)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(-2, 2, allow_nan=False),
                     st.sampled_from(["relu", "same", "x", "Dense", "mae", "", "glorot_uniform", "l2", "1e-3"]))


def _mutations(data):
    """Paths into a document, to replace with random values."""
    out = []

    def walk(node, path):
        out.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))
    walk(data, ())
    return out


BASE = [load_yaml(p.read_bytes(), str(p))[0].data for p in sorted((ROOT / "specs").glob("*.yaml"))]
KEYS = st.sampled_from(["units", "unit", "name", "from", "loss", "l2", "axis", "filters", "Dense", "reuse",
                        "activation", "kernel_size", "padding", "weight", "on", "expr", "shape"])
VALUES = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(KEYS, c, max_size=3)), max_leaves=6)


@settings(max_examples=examples(400), deadline=None)
@given(st.integers(0, len(BASE) - 1), st.data())
def test_agrees_on_mutated_specs(which, data):
    doc = copy.deepcopy(BASE[which])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _mutations(doc)
        path = data.draw(st.sampled_from(paths[1:]))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            parent.pop(path[-1])
            parent[data.draw(KEYS)] = data.draw(VALUES)
        else:
            parent[path[-1]] = data.draw(VALUES)
    assert FAST(doc) == SLOW.is_valid(doc)


def test_every_keyword_of_the_schema_is_supported():
    """The check compiles a definition when a value first reaches it; compiled eagerly, the whole
    schema must compile (fastcheck refuses a keyword it does not know rather than skip it)."""
    eager = compile_schema(schema.generate(), eager=True)
    for path in SPECS:
        doc, _ = load_yaml(path.read_bytes(), str(path))
        if doc is not None:
            assert eager(doc.data) == FAST(doc.data)
    with pytest.raises(ValueError, match="does not support"):
        compile_schema({"definitions": {"x": {"format": "email"}}, "$ref": "#/definitions/x"}, eager=True)
