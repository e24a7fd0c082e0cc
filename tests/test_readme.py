"""The README stays true: its commands, its example, its numbers."""
import pathlib
import re

import nnspec
from nnspec.ops import CATALOG

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def blocks(lang):
    """Fenced code blocks whose info string is ``lang``."""
    out, current, info = [], None, None
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == lang:
                    out.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return out


def test_ci_runs_the_readme_test_command():
    test_cmd = [b.strip() for b in blocks("sh") if "pytest" in b and "venv" in b]
    assert len(test_cmd) == 1
    assert test_cmd[0] in (ROOT / ".ci" / "run").read_text()


def test_readme_example_is_the_default_spec_and_valid():
    example = next(b for b in blocks("yaml") if b.startswith("nnspec: 1"))
    shipped = (ROOT / "specs" / "lab_quake.yaml").read_text()
    assert shipped.split("\n", 1)[1] == example  # the shipped file adds only the schema line
    spec, diags = nnspec.check_text(example, "README.md")
    assert diags == []


def test_readme_summary_is_current():
    from nnspec.summary import render
    shown = next(b for b in blocks("") if b.startswith('Model "lab_quake"'))
    assert render(nnspec.load(ROOT / "specs" / "lab_quake.yaml")).startswith(shown.strip())


def test_op_count():
    assert f"lists the {len(CATALOG)} layer types" in README


def test_readme_expressions_parse():
    from nnspec.expr import parse
    found = [t for b in blocks("yaml") for t in re.findall(r'\{expr: "([^"]+)"\}', b)]
    assert found
    for text in found:
        parse(text)


def test_every_complete_spec_in_readme_validates():
    specs = [b for b in blocks("yaml") if b.startswith("nnspec: 1")]
    assert len(specs) >= 2
    for text in specs:
        spec, diags = nnspec.check_text(text, "README.md")
        assert spec is not None and diags == [], [d.format() for d in diags]


def test_readme_dsl_example_is_lab_quake():
    from nnspec.source.dsl import load_dsl
    text = README[README.index("This is `specs/lab_quake.nns`:"):]
    text = text[text.index("```\n") + 4:]
    text = text[:text.index("```")]
    shown, diags = load_dsl(text, "README.md")
    shipped, _ = load_dsl((ROOT / "specs" / "lab_quake.nns").read_bytes(), "lab_quake.nns")
    assert diags == [] and shown.data == shipped.data
