"""The committed JSON Schema is what the catalog generates, is valid draft-07,
and accepts every example spec as a plain JSON Schema validator sees it
(the way an editor does)."""
import functools
import json
import pathlib

import jsonschema
import pytest

from nnspec import schema
from nnspec.source.yaml_loader import load_yaml

ROOT = pathlib.Path(__file__).parent.parent
COMMITTED = ROOT / "schemas" / "nnspec-v1.schema.json"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def test_committed_schema_is_generated():
    assert COMMITTED.read_text() == schema.dumps(), (
        "schemas/ is stale: run `nnspec schema -o schemas/nnspec-v1.schema.json`")


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(json.loads(COMMITTED.read_text()))


@functools.lru_cache(maxsize=None)
def _draft7():
    committed = json.loads(COMMITTED.read_text())
    jsonschema.Draft7Validator.check_schema(committed)
    return jsonschema.Draft7Validator(committed)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_examples_valid_under_plain_jsonschema(path):
    doc, diags = load_yaml(path.read_bytes(), str(path))
    assert not diags
    # jsonschema.validate(doc.data, committed, cls=Draft7Validator), with the schema checked (0.09 s) and
    # compiled once, not before each spec
    error = jsonschema.exceptions.best_match(_draft7().iter_errors(doc.data))
    if error is not None:
        raise error


def test_every_op_in_schema():
    from nnspec.ops import CATALOG
    defs = json.loads(COMMITTED.read_text())["definitions"]
    assert set(defs["layer_item"]["properties"]) == set(CATALOG)
