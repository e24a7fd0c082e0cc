"""`nnspec convert` keeps comments, both ways, on the statement they belong to,
and writes only what reads back (the shipped specs, with generated comments)."""
from __future__ import annotations

import argparse
import collections
import glob
import os

import pytest
import yaml
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from nnspec import api, cli_dsl
from nnspec.diagnostics import has_errors
from nnspec.source.dsl import load_dsl, parse_dsl
from nnspec.source.emit import to_dsl, to_yaml, yaml_comments
from nnspec.source.yaml_loader import MAX_DEPTH, load_yaml
from tier import examples

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")
FILES = sorted(glob.glob(os.path.join(SPECS, "*.yaml")) + glob.glob(os.path.join(SPECS, "*.nns")))
TEXTS = {os.path.basename(f): open(f, encoding="utf-8").read() for f in FILES}

words = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp")),
                max_size=12).map(str.rstrip)


def _unsafe_yaml_lines(text):
    """Lines inside or closing a multi-line scalar: no comment may go there."""
    out = set()
    for e in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(e, yaml.ScalarEvent) and e.end_mark.line > e.start_mark.line:
            out.update(range(e.start_mark.line + 1, e.end_mark.line + 2))
    return out


@st.composite
def commented(draw):
    """(file name, its text with generated comments, the comments' texts)."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].split("\n")[:-1]
    unsafe = _unsafe_yaml_lines(TEXTS[name]) if name.endswith(".yaml") else set()
    added = []
    out = []
    for n, line in enumerate(lines, 1):
        if n not in unsafe and draw(st.integers(0, 4)) == 0:
            c = f"# c{len(added)} {draw(words)}".rstrip()
            added.append(c)
            out.append(" " * draw(st.integers(0, 6)) + c)  # a comment line's indentation means nothing
        if n not in unsafe and line.strip() and "#" not in line and draw(st.integers(0, 4)) == 0:
            c = f"# c{len(added)} {draw(words)}".rstrip()
            added.append(c)
            line += " " * draw(st.integers(1, 3)) + c
        out.append(line)
    if draw(st.booleans()):
        c = f"# c{len(added)} the end"
        added.append(c)
        out.append(c)
    return name, "\n".join(out) + "\n", added


def _texts(comments):
    """Every comment text of a comments map (trailing ones split where joined)."""
    out = [c for lines in comments["lead"].values() for c in lines] + list(comments["end"])
    for t in comments["trail"].values():
        out += ["#" + p for p in ("  " + t).split("  #")[1:]]
    return collections.Counter(x.rstrip() for x in out)


def _load(text, form):
    if form == "nns":
        doc, diags, comments = parse_dsl(text, "t.nns")
    else:
        doc, diags = load_yaml(text, "t.yaml")
        comments = yaml_comments(doc) if doc is not None else None
    assert doc is not None and not diags, (text, [d.format() for d in diags])
    spec, sdiags = api._check_doc(doc, [], f"t.{form}")
    assert not has_errors(sdiags), (text, [d.format() for d in sdiags])
    return doc, comments


@settings(max_examples=examples(60), deadline=None, phases=(Phase.explicit, Phase.generate))
@given(commented())
def test_convert_keeps_every_comment_with_its_statement(case):
    name, text, added = case
    form = "nns" if name.endswith(".nns") else "yaml"
    doc, comments = _load(text, form)
    source = _texts(comments)
    assert all(source[c] >= 1 for c in added), (added, source)  # the reader saw every comment
    # one conversion: every comment kept
    other = "yaml" if form == "nns" else "nns"
    converted = (to_yaml if other == "yaml" else to_dsl)(doc.data, comments)
    doc2, comments2 = _load(converted, other)
    assert doc2.data == doc.data
    assert _texts(comments2) == source, converted
    # and back: the same statements carry the same comments; from then on, conversions are identities
    back = (to_yaml if form == "yaml" else to_dsl)(doc2.data, comments2)
    doc3, comments3 = _load(back, form)
    assert doc3.data == doc.data and _texts(comments3) == source
    assert comments3 == comments2 or _same_attachment(comments3, comments2), (converted, back)
    again = (to_yaml if other == "yaml" else to_dsl)(doc3.data, comments3)
    assert again == converted


def _same_attachment(a, b):
    return {k: list(v) for k, v in a["lead"].items()} == {k: list(v) for k, v in b["lead"].items()} and \
        a["trail"] == b["trail"] and a["end"] == b["end"]


def test_dsl_comments_attach_to_statements_inside_blocks_and_repeats():
    src = ("nnspec 1\nmodel m\n# about b\nblock b(f: int,\n        k=3):  # header\n    # first\n"
           "    Dense(units=$f)  # one\n    Dense(units=$f,\n          # inside\n          activation=relu)\n"
           "input x [4]\nrepeat 2:  # rep\n    # in repeat\n    Dense(units=4)  # r1\ny = b(f=3)\noutput y\n")
    doc, diags, c = parse_dsl(src, "t.nns")
    assert not diags
    assert c["lead"] == {("blocks", "b"): ["# about b"], ("blocks", "b", "layers", 0): ["# first"],
                         ("layers", 0, "repeat", "layers", 0): ["# in repeat"]}
    assert c["trail"] == {("blocks", "b"): "# header", ("blocks", "b", "layers", 0): "# one",
                          ("blocks", "b", "layers", 1): "# inside", ("layers", 0): "# rep",
                          ("layers", 0, "repeat", "layers", 0): "# r1"}
    y = to_yaml(doc.data, c)
    assert "      # first\n      - Dense: {units: $f}  # one\n" in y
    assert "  - repeat:  # rep\n      times: 2\n      layers:\n        # in repeat\n" in y
    assert yaml_comments(load_yaml(y)[0]) == c


def _convert(*argv):
    parser = argparse.ArgumentParser()
    cli_dsl.add_parsers(parser.add_subparsers(dest="command"))
    return cli_dsl.run(parser.parse_args(["convert", *argv]))


def test_yaml_section_comments_survive(tmp_path, capsys):
    """`inputs:   # ...` in YAML has no statement of its own in the DSL: it leads the first input."""
    f = os.path.join(SPECS, "lab_quake.yaml")
    assert _convert(f, "--to", "nns") == 0
    nns = capsys.readouterr().out
    assert "# name -> shape without batch ([1, 64]) or {shape, dtype}\ninput signal [1, 64]\n" in nns
    assert "nnspec 1  # format version, required; anything else is a clear error\n" in nns
    for line in open(f, encoding="utf-8"):
        if "#" in line:
            assert line[line.index("#"):].rstrip() in nns


def _nested(n):
    return "nnspec 1\nmodel deep\ninput x [4]\n" + "".join("    " * i + "repeat 1:\n" for i in range(n)) + \
        "    " * n + "Dense(units=4)\noutput dense\n"


# each repeat takes 3 levels of the YAML form (list, item, repeat) below the 3 of `layers:` and the layer
_REPEATS_OK = (MAX_DEPTH - 3) // 3


@pytest.mark.parametrize("n", [_REPEATS_OK, _REPEATS_OK + 1, 100, 400])
def test_nesting_the_yaml_form_cannot_hold_is_refused_by_the_dsl(n, tmp_path, capsys):
    f = tmp_path / "deep.nns"
    f.write_text(_nested(n))
    doc, diags = load_dsl(f.read_text(), str(f))
    if n == _REPEATS_OK:
        assert not diags and load_yaml(to_yaml(doc.data))[1] == []
        return
    assert doc is None and [d.code for d in diags] == ["too-deep"] and diags[0].span.line > 3
    assert _convert(str(f), "--to", "yaml") == 1
    assert "too-deep" in capsys.readouterr().err


def test_bracket_nesting_limit_is_the_yaml_loaders():
    def spec(n):
        return "nnspec 1\nmodel m\ninput x [4]\nDense(units=4, k=" + "[" * n + "]" * n + ")\noutput dense\n"
    deepest = MAX_DEPTH - 4  # under layers: [ {Dense: {k: ...}} ]
    ok, _ = load_dsl(spec(deepest))
    assert ok is not None and load_yaml(to_yaml(ok.data))[1] == []
    refused, diags = load_dsl(spec(deepest + 1))
    assert refused is None and diags[0].code == "too-deep"
    yaml_text = "nnspec: 1\nname: m\ninputs: {x: [4]}\nlayers:\n  - Dense: {units: 4, k: " + \
        "[" * (deepest + 1) + "]" * (deepest + 1) + "}\n"
    assert load_yaml(yaml_text)[1][0].code == "too-deep"


@pytest.mark.parametrize("text, where", [
    ('description "\\ud800"\n', (3, 13)),
    ('description "ok \\udc00 x"\n', (3, 13)),
])
def test_lone_surrogates_are_refused_by_the_dsl_as_by_yaml(text, where):
    doc, diags = load_dsl("nnspec 1\nmodel m\n" + text)
    assert doc is None and len(diags) == 1 and (diags[0].span.line, diags[0].span.col) == where
    assert "surrogate" in diags[0].message and diags[0].hint


def test_a_surrogate_pair_is_fine():
    doc, diags = load_dsl('nnspec 1\nmodel m\ndescription "\\ud83d\\ude00"\n')
    assert not diags and doc.data["description"] == "\U0001F600"
    assert load_yaml(to_yaml(doc.data))[0].data == doc.data


@pytest.mark.parametrize("ch", ["\x1b", "\x07", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\r", "\x0c"])
def test_dsl_refuses_raw_characters_yaml_cannot_hold(ch):
    for where in (f"# comment {ch} here\n", f'description "a{ch}b"\n'):
        doc, diags = load_dsl("nnspec 1\nmodel m\n" + where)
        assert doc is None and len(diags) == 1 and diags[0].span.line == 3, (repr(ch), diags)
        assert diags[0].message.startswith(f"the character U+{ord(ch):04X}") and diags[0].hint


def test_control_characters_in_values_are_written_as_escapes():
    data = {"nnspec": 1, "name": "m", "description": "a\x1b[2J\u202eb\x85\U000e0001\u00a0c"}
    nns, yml = to_dsl(data), to_yaml(data)
    for text in (nns, yml):
        assert all(ch == "\n" or ch == "\u00a0" or ch.isprintable() for ch in text), repr(text)
    assert load_dsl(nns)[0].data == data and load_yaml(yml)[0].data == data


def test_node_limit_every_dsl_spec_accepted_loads_as_yaml(monkeypatch):
    """The DSL counts nodes as the YAML loader does (values, not keys), so a .nns
    it accepts never converts to YAML over the loader's budget."""
    from nnspec.source import dsl, yaml_loader
    monkeypatch.setattr(dsl, "MAX_NODES", 80)
    monkeypatch.setattr(yaml_loader, "MAX_NODES", 80)
    accepted = 0
    for n in range(20, 60):
        doc, diags = load_dsl("nnspec 1\nmodel m\ninput x [4]\n" + "Flatten()\n" * n + "output flatten\n")
        if doc is None:
            assert [d.code for d in diags] == ["too-many-nodes"] and diags[0].hint
            continue
        accepted += 1
        assert load_yaml(to_yaml(doc.data))[1] == [], n
    assert 0 < accepted < 40


def test_trailing_blanks_of_comments_go_in_both_forms():
    src = "nnspec 1  # v   \nmodel m\n# lead \t\ninput x [4]\n"
    doc, diags, c = parse_dsl(src, "t.nns")
    assert c["trail"][("nnspec",)] == "# v" and c["lead"][("inputs", "x")] == ["# lead"]
    nns = to_dsl(doc.data, c)
    assert yaml_comments(load_yaml(to_yaml(doc.data, c))[0]) == parse_dsl(nns)[2]
