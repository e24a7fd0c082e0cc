"""Terminal safety: control characters from a spec (ESC, BEL, C1, bidi
overrides...) never reach the terminal or a CI log raw, in any output format."""
from __future__ import annotations

import json
import re

import pytest

from nnspec import cli, report
from nnspec.diagnostics import Diagnostic, Span

# ESC, BEL, CSI (C1), DEL, RIGHT-TO-LEFT OVERRIDE, LINE SEPARATOR, ZERO WIDTH SPACE
EVIL = ["\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\u2028", "\u200b", "\r", "\n"]
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")

BAD_YAML = r'''nnspec: 1
name: m
description: "evil \e[31mred\a \u202e bidi \x9b \x7f"
inputs: {x: [3]}
layers:
  - Dense: {units: 2, name: "d\e]0;x\a", activation: "re\elu", "k\e[2J\u202e": 1}
  - "Den\e[5mse\u2028": {units: 2}
  - Dense: {units: 2, from: "nowhere\e[0m\u202e\u200b"}
outputs: {"o\e[1m": null}
"x\e[8m\r\n": 1
'''
BAD_NNS = r'''nnspec 1
model m
description "evil \u001b[31mred\u0007 \u202e bidi"
input x [3]
Dense(units=2, activation="re\u001blu")
Dense("nowhere\u001b[0m\u202e", units=2)
Dense(units=2, kernel_initializer={"k\u001b": 1})
output d
'''
GOOD_YAML = r'''nnspec: 1
name: m
description: "evil \e[31mred\a \u202e bidi \x9b \e]0;title\a \u2028 done"
inputs: {x: [3]}
layers:
  - Dense: {units: 2, name: d}
outputs: {d: null}
penalties: [{expr: "0.5 * sum(square(d))"}]
'''


def _raw_control(out):
    return RAW.search(out)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_output_has_no_raw_control_characters(tmp_path, capsys, fmt):
    f = tmp_path / "evil.yaml"
    f.write_text(BAD_YAML, encoding="utf-8")
    assert cli.main(["validate", "--format", fmt, str(f)]) == 1
    out, err = capsys.readouterr()
    for stream in (out, err):
        # line breaks only between diagnostics: no raw control character anywhere else
        assert not _raw_control(stream), repr(stream)
    assert "\\x1b" in out or "\\u001b" in out
    n = len(json.loads(out)) if fmt == "json" else len(out.strip().splitlines())
    assert n >= 4  # unknown key, unknown type, bad value, top-level key: one line each
    if fmt == "json":
        assert all(isinstance(d["message"], str) for d in json.loads(out))
        assert "\x1b" in "".join(d["message"] for d in json.loads(out))  # JSON keeps the data, escaped


def test_dsl_spec_diagnostics_escaped(tmp_path, capsys):
    f = tmp_path / "evil.nns"
    f.write_text(BAD_NNS, encoding="utf-8")
    for fmt in ("text", "github"):
        assert cli.main(["validate", "--format", fmt, str(f)]) == 1
        out, err = capsys.readouterr()
        assert not _raw_control(out) and not _raw_control(err), repr(out)
        assert "unknown key 'k\\x1b'" in out and len(out.strip().splitlines()) == 3


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_summary_escapes_the_description(tmp_path, capsys, fmt):
    f = tmp_path / "evil.yaml"
    f.write_text(GOOD_YAML, encoding="utf-8")
    assert cli.main(["summary", "--format", fmt, str(f)]) == 0
    out, err = capsys.readouterr()
    assert not _raw_control(out) and not _raw_control(err), repr(out)
    if fmt == "text":
        assert out.startswith('Model "m": evil \\x1b[31mred\\x07 \\u202e bidi \\x9b')


def test_escape_keeps_printable_text():
    assert report.escape("héllo wörld 日本語 ✓ a\u00a0b") == "héllo wörld 日本語 ✓ a\u00a0b"
    assert report.escape("\x1b[2J\x07\x9b\u202e\ud800\U000e0001") == "\\x1b[2J\\x07\\x9b\\u202e\\ud800\\U000e0001"


def test_github_format_escapes_workflow_command_characters():
    d = Diagnostic("bad-value", "100% wrong:: a,b\r\n::error ::forged", Span("dir,x:y%.yaml", 3, 4), "fix\x1b")
    line = report.github([d])
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("::error file=dir%2Cx%3Ay%25.yaml,line=3,col=4,title=nnspec bad-value::100%25 wrong")
    assert len(line.splitlines()) == 1 and line.count("::error") == 2  # the second is text, not a command


def test_notes_and_file_names_are_escaped():
    d = Diagnostic("x", "m", Span("a\x1b.yaml", 1, 1, (("in block 'b\x1b'", Span("c\x07.yaml", 2, 2)),)))
    out = report.text([d])
    assert "\x1b" not in out and "\x07" not in out and out.count("\n") == 1


def test_file_names_found_in_a_directory_are_escaped(tmp_path, capsys):
    d = tmp_path / "specs"
    d.mkdir()
    (d / "ok\x1b[2J.yaml").write_text(GOOD_YAML, encoding="utf-8")
    assert cli.main(["validate", str(d)]) == 0
    out, err = capsys.readouterr()
    assert "ok\\x1b[2J.yaml: ok" in out and not _raw_control(out + err)
