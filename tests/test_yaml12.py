"""One scalar model: nnspec reads YAML as YAML 1.2 (the core schema, what an
editor using the published schema sees) and refuses the plain spellings that
YAML 1.1 readers, or YAML 1.2 loaders in use, read differently.

ruamel.yaml (in the test extra) is the YAML 1.2 reference here."""
from __future__ import annotations

import functools
import json
import pathlib
import re

import jsonschema
import pytest
import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from nnspec.source.yaml_loader import load_yaml
from tier import examples

ruamel_yaml = pytest.importorskip("ruamel.yaml")
ROOT = pathlib.Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "nnspec-v1.schema.json").read_text())


@functools.lru_cache(maxsize=None)
def _validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)  # what jsonschema.validate checks before each instance (0.09 s), checked once
    return cls(SCHEMA)


def validate(data):
    """jsonschema.validate(data, SCHEMA), with the schema checked and compiled once."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        raise error


def yaml12(text):
    """The document as a YAML 1.2 loader reads it."""
    return ruamel_yaml.YAML(typ="safe", pure=True).load(text)


# ---------------------------------------------------------------- the committed schema, read as YAML 1.2
def _readme_yaml_blocks():
    out, cur, info = [], None, None
    for line in (ROOT / "README.md").read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if cur is None:
                cur, info = [], line[3:].strip()
            else:
                if info == "yaml":
                    out.append("".join(cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_schema_validates_shipped_specs_read_as_yaml12(path):
    validate(yaml12(path.read_text()))


def test_schema_validates_readme_yaml_read_as_yaml12():
    base = yaml12((ROOT / "specs" / "lab_quake.yaml").read_text())
    blocks = _readme_yaml_blocks()
    assert len(blocks) >= 4
    for text in blocks:
        if text.startswith(("repos:", "name: nnspec\non: pull_request")):  # pre-commit's and GitHub's files
            continue  # (tests/test_precommit.py checks them)
        data = yaml12(text)
        if data is None:  # the editor's comment line alone
            continue
        if "nnspec" not in data:  # a fragment: in a spec
            data = {**base, **data}
        validate(data)


def test_yaml11_reading_of_the_readme_is_what_we_refuse_to_depend_on():
    """yaml.safe_load (YAML 1.1) turns the penalty's `on:` into True; nnspec and
    YAML 1.2 keep the key 'on'. The README example relies on YAML 1.2."""
    text = (ROOT / "specs" / "lab_quake.yaml").read_text()
    assert True in yaml.safe_load(text)["penalties"][0]
    assert "on" in yaml12(text)["penalties"][0]
    assert "on" in load_yaml(text)[0].data["penalties"][0]


# ---------------------------------------------------------------- plain scalars: nnspec == YAML 1.2, or refused
WORDS = ["yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
         "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "null", "Null", "NULL", "nULL", "~",
         ".inf", "-.inf", "+.inf", ".Inf", ".nan", ".NaN", "+.nan", "=", "<<", "2001-12-14",
         "2001-12-14t21:59:43.10-05:00", "1:20", "190:20:30.15", "0b1010", "0o17", "0o8", "0x1F", "0xff_ff",
         "-0x1F", "+0o7", "1_000", "0777", "08", "00", "-0", "+1", ".5", "-.5", "+.5", "1.", "1e3", ".5e3",
         "1E+3", "1.0e-3", "0.1_2", "1e", "e3", "0x", "0o", "12.5.3", "relu", "x", "1e999"]
numberish = st.from_regex(r"[-+]?(0[box])?[0-9a-fA-F_.:eE+-]{0,7}", fullmatch=True)
wordish = st.text(alphabet="abcdefnoprstuxyzAEFNORSTUY0123456789_.:+-~=<", min_size=1, max_size=8)


def _plain_event(text):
    """The plain scalar of ``k: <text>``, or None when it is not one."""
    try:
        events = list(yaml.parse(f"k: {text}\n"))
    except yaml.YAMLError:
        return None
    scalars = [e for e in events if isinstance(e, yaml.ScalarEvent)]
    if len(scalars) != 2 or scalars[1].style or scalars[1].value != text:
        return None
    return scalars[1]


@settings(max_examples=examples(400), deadline=None)
@given(st.one_of(st.sampled_from(WORDS), numberish, wordish))
@example("yes")
@example("0777")
@example("1_000")
def test_plain_scalars_read_as_yaml12_or_refused(text):
    assume(_plain_event(text) is not None)
    doc = f"k: {text}\n"
    try:
        reference = yaml12(doc)["k"]
    except Exception:  # ruamel cannot read it (a bad date, say): nnspec must refuse it too
        reference = _UNREADABLE
    ours, diags = load_yaml(doc)
    if ours is None:
        assert len(diags) == 1 and diags[0].span.line == 1 and diags[0].span.col == 4, diags
        assert diags[0].hint
        code = diags[0].code
        assert code in ("yaml-1.1-scalar", "bad-number", "number-too-large"), diags
        if code == "yaml-1.1-scalar":  # a real disagreement between readers
            yaml11 = _yaml11(doc)
            readings = {_key(yaml11), _key(reference), _key(_core_spec(text))}
            assert len(readings) > 1 or re.fullmatch(r"[-+]?0[0-9]+", text), (text, yaml11, reference)
        else:
            assert isinstance(reference, float) or reference is _UNREADABLE
        return
    assert diags == []
    value = ours.data["k"]
    assert _key(value) == _key(reference) == _key(_core_spec(text)), (text, value, reference)


def _core_spec(text):
    """YAML 1.2.2, 10.3.2 "Tag Resolution" of the core schema, as written there."""
    rules = [(r"null|Null|NULL|~|", lambda t: None), (r"true|True|TRUE", lambda t: True),
             (r"false|False|FALSE", lambda t: False), (r"[-+]?[0-9]+", int),
             (r"0o[0-7]+", lambda t: int(t[2:], 8)), (r"0x[0-9a-fA-F]+", lambda t: int(t[2:], 16)),
             (r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", float),
             (r"[-+]?(\.inf|\.Inf|\.INF)", lambda t: float(t.replace(".", ""))),
             (r"\.nan|\.NaN|\.NAN", lambda t: float("nan"))]
    for pattern, make in rules:
        if re.fullmatch(pattern, text):
            return make(text)
    return text


_UNREADABLE = object()


def _yaml11(doc):
    try:
        return yaml.safe_load(doc)["k"]
    except Exception:  # yaml.YAMLError, or PyYAML's own ValueError on 0b_
        return _UNREADABLE


def _key(v):
    """Values compare with their type (True != 1) and NaN equal to itself."""
    if isinstance(v, float) and v != v:
        return (float, "nan")
    return (type(v), v) if v is not _UNREADABLE else "unreadable"


@pytest.mark.parametrize("text, hint", [
    ("yes", 'write true, or quote it ("yes") if you mean the text'),
    ("off", 'write false, or quote it ("off") if you mean the text'),
    ("0777", 'write 777, or 0o777 for octal, or quote it ("0777") if you mean the text'),
    ("1_000", 'write the number in decimal, or quote it ("1_000") if you mean the text'),
    ("1:20", 'write the number in decimal, or quote it ("1:20") if you mean the text'),
    ("2001-12-14", 'quote it ("2001-12-14"): dates are text in a spec'),
])
def test_yaml11_spellings_are_refused_with_a_position_and_hint(text, hint):
    doc, diags = load_yaml(f"nnspec: 1\nlayers:\n  - Dense: {{units: 3, use_bias: {text}}}\n", "s.yaml")
    assert doc is None and len(diags) == 1
    d = diags[0]
    assert (d.code, d.span.line, d.span.col, d.hint) == ("yaml-1.1-scalar", 3, 33, hint)


def test_yaml12_spellings_are_read_as_yaml12():
    doc, diags = load_yaml("a: 0o17\nb: 1e-3\nc: -.5\nd: True\ne: ~\nf: y\ng: \"yes\"\nh: !!str on\non: 1\n")
    assert diags == []
    assert doc.data == {"a": 15, "b": 0.001, "c": -0.5, "d": True, "e": None, "f": "y", "g": "yes",
                        "h": "on", "on": 1}


def test_quoted_yes_is_text_and_keys_stay_text():
    doc, diags = load_yaml('penalties: [{on: trunk, reduce: "on"}]\nyes: 1\n')
    assert diags == [] and doc.data == {"penalties": [{"on": "trunk", "reduce": "on"}], "yes": 1}
