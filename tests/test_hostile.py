"""Untrusted input: every file ends in diagnostics, never a traceback, in bounded time."""
import time

from hypothesis import given, settings
from hypothesis import strategies as st

import nnspec
from nnspec.source import yaml_loader
from tier import examples

GOOD = b"nnspec: 1\nname: m\ninputs: {x: [4]}\nlayers: [Dense: {units: 2, name: out}]\noutputs: {out: {loss: mse}}\n"


def codes(raw):
    spec, diags = nnspec.check_text(raw, "h.yaml")
    return [(d.code, d.span.line, d.span.col) for d in diags]


def test_good_baseline():
    assert codes(GOOD) == []


def test_billion_laughs_is_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, c in enumerate("bcdefghi"):
        prev = "abcdefgh"[i]
        lines.append(f"{c}: &{c} [" + ",".join([f"*{prev}"] * 9) + "]")
    t = time.perf_counter()
    result = codes("\n".join(lines).encode())
    assert time.perf_counter() - t < 5
    assert result[0][0] == "too-many-nodes"


def test_deep_nesting_does_not_crash():
    # libyaml's composer recurses in C and segfaults on this; ours does not.
    raw = b"a: " + b"[" * 200000 + b"]" * 200000
    assert codes(raw)[0][:2] == ("too-deep", 1)


def test_python_tags_and_unknown_tags():
    assert codes(b"nnspec: !!python/name:os.system 1\n")[0] == ("yaml-tag", 1, 9)
    assert codes(b"a: !custom x\n")[0] == ("yaml-tag", 1, 4)
    assert codes(b"a: !!binary aGVsbG8=\n")[0][0] == "yaml-tag"
    assert codes(b"a: !!set {x}\n")[0][0] == "yaml-tag"


def test_duplicate_keys_nested():
    raw = GOOD.replace(b"{units: 2,", b"{units: 2, units: 3,")
    assert codes(raw)[0] == ("duplicate-key", 4, 28)


def test_invalid_utf8_and_nul_and_binary():
    assert codes(b"nnspec: 1\nname: \xff\n")[0] == ("invalid-utf8", 2, 7)
    assert codes(b"nnspec: 1\x00\n")[0] == ("binary-file", 1, 10)
    assert codes(bytes(range(256)) * 4)[0][0] in ("binary-file", "invalid-utf8")


def test_huge_numbers():
    assert codes(GOOD.replace(b"units: 2", b"units: " + b"9" * 5000))[0][0] == "number-too-large"
    assert codes(GOOD.replace(b"units: 2", b"units: 99999999999"))[0][0] == "out-of-range"
    assert codes(GOOD.replace(b"units: 2", b"units: 1e999"))[0][0] == "bad-number"
    assert codes(GOOD.replace(b"units: 2", b"units: .nan"))[0][0] == "bad-number"


def test_huge_file_is_refused_without_parsing():
    raw = b"# " + b"x" * (yaml_loader.MAX_BYTES + 10)
    assert codes(raw)[0][0] == "file-too-large"


def test_empty_and_non_mapping_documents():
    assert codes(b"")[0][0] == "empty-spec"
    assert codes(b"# only a comment\n")[0][0] == "empty-spec"
    assert codes(b"42\n")[0][0] == "not-a-mapping"
    assert codes(b"[1, 2]\n")[0][0] == "not-a-mapping"
    assert codes(b"---\n---\n")[0][0] == "multiple-documents"


def test_keys_must_be_text():
    assert codes(b"? [a, b]\n: 1\n")[0][0] == "bad-key"
    assert codes(b"{a: 1}: 2\n")[0][0] in ("bad-key", "yaml-syntax")


def test_on_key_is_not_a_boolean():
    # YAML 1.1 reads a bare `on` as true; a penalty's `on:` must stay the key "on".
    doc, diags = yaml_loader.load_yaml("penalties: [{on: trunk}]\n")
    assert doc.data == {"penalties": [{"on": "trunk"}]}


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(raw):
    spec, diags = nnspec.check_text(raw, "fuzz.yaml")
    assert spec is not None or diags


_token = st.sampled_from(["nnspec: 1\n", "name: m\n", "inputs: {x: [4]}\n", "layers:\n", "  - Dense: {units: 2}\n",
                          "  - LSTM: {units: 3}\n", "  - Flatten:\n", "outputs: {dense: {loss: mse}}\n",
                          "  - Add: {from: [x, dense]}\n", "&a ", "*a ", "[", "]", "{", "}", ": ", "- ", "'",
                          "penalties: [{expr: 'mean(x'}]\n", "  - reuse: {layer: dense}\n", "\t", "<<: *a\n"])


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(_token, max_size=25))
def test_random_spec_like_text_never_raises(tokens):
    text = "".join(tokens)
    spec, diags = nnspec.check_text(text, "fuzz.yaml")
    for d in diags:
        assert d.span.line >= 1 and d.message


def test_exponent_floats_are_numbers():
    # PyYAML follows YAML 1.1, where `1e-3` is text; specs read it as the number users mean.
    doc, _ = yaml_loader.load_yaml("a: 1e-3\nb: '1e-3'\nc: 2E5\n")
    assert doc.data == {"a": 0.001, "b": "1e-3", "c": 200000.0}


def test_names_with_a_trailing_newline_are_refused():
    # Python's `$` matches before a final newline; the schema's patterns must not let "out\n" through.
    raw = GOOD.replace(b"name: out}", b'name: "out\\n"}').replace(b"outputs: {out:", b'outputs: {"out\\n":')
    assert "bad-name" in [c for c, *_ in codes(raw)]
    raw = GOOD.replace(b"name: m\n", b'name: "m\\n"\n')
    assert codes(raw)[0][0] == "bad-name"
