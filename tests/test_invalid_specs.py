"""One spec per diagnostic class, in nnspec/codes/ (the examples of the code registry, which
`nnspec explain` prints). Each file's first line says what it must produce:
`# expect: CODE LINE:COL [words the message or hint must contain]`; its last lines give the
smallest fix (`# fix N: TEXT`, see nnspec/codes/explain.py), after which it validates with no
diagnostic at all."""
import pathlib

import pytest

import nnspec
from nnspec.codes import explain
from nnspec.diagnostics import ERROR

HERE = pathlib.Path(nnspec.__file__).parent / "codes"
FILES = sorted(p for p in HERE.iterdir() if p.suffix in explain.SUFFIXES)


def example(path):
    return explain.parse(path.name, path.read_bytes())


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_invalid_spec(path):
    ex = example(path)
    diags = nnspec.validate(path, allow_import=ex.run_allow, targets=ex.targets)
    found = [d for d in diags if d.code == ex.code]
    assert found, f"expected {ex.code}, got:\n" + "\n".join(d.format() for d in diags)
    d = found[0]
    assert (d.span.line, d.span.col) == (ex.line, ex.col), d.format()
    assert d.span.file == str(path)
    if ex.words == "warning":
        assert d.severity == "warning"
    else:
        assert d.severity == ERROR, d.format()
        if ex.words:
            assert ex.words in d.message + " " + (d.hint or ""), d.format()


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_fix_validates_cleanly(path, tmp_path):
    ex = example(path)
    assert ex.has_fix, (f"{path.name}: add its smallest fix at the end of the file, e.g. '# fix 7: <the line "
                        "as it should be>' ('# fix 7+: TEXT' inserts after line 7, '# fix 7-' deletes it)")
    fixed = tmp_path / path.name
    fixed.write_bytes(ex.fixed)
    diags = nnspec.validate(fixed, allow_import=ex.run_allow + tuple(ex.allow_import), targets=ex.targets)
    assert not diags, "the fixed spec still gives:\n" + "\n".join(d.format() for d in diags)


def test_fix_lines_are_checked():
    raw = b"# expect: cycle 2:1\nnnspec: 1\nname: m\n# fix 9: x\n"
    with pytest.raises(explain.ExampleError, match="N a line of the spec"):
        explain.parse("x.yaml", raw)
    with pytest.raises(explain.ExampleError, match="together at the end"):
        explain.parse("x.yaml", b"# expect: cycle 2:1\n# fix 2-\nnnspec: 1\n")
    ex = explain.parse("x.yaml", b"# expect: cycle 2:1\na: 1\nb: 2\nc: 3\n# fix 2-\n# fix 3: B: 2\n# fix 3+: D: 4\n")
    assert ex.failing == b"# expect: cycle 2:1\na: 1\nb: 2\nc: 3\n"
    assert ex.fixed == b"# expect: cycle 2:1\nB: 2\nD: 4\nc: 3\n"


def test_enough_classes():
    codes = {example(p).code for p in FILES}
    assert len(codes) >= 30
