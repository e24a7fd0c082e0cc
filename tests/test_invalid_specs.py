"""One invalid spec per diagnostic class. Each file's first line says what it
must produce: `# expect: CODE LINE:COL [words the message or hint must contain]`."""
import pathlib
import re

import pytest

import nnspec
from nnspec.diagnostics import ERROR

HERE = pathlib.Path(__file__).parent / "invalid"
FILES = sorted(HERE.glob("*.yaml"))


def expectation(path):
    first = path.read_text().splitlines()[0]
    m = re.match(r"# expect: (\S+) (\d+):(\d+)\s*(.*)", first)
    assert m, f"{path.name}: first line must be '# expect: CODE LINE:COL [text]'"
    return m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).strip()


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_invalid_spec(path):
    code, line, col, words = expectation(path)
    diags = nnspec.validate(path)
    found = [d for d in diags if d.code == code]
    assert found, f"expected {code}, got:\n" + "\n".join(d.format() for d in diags)
    d = found[0]
    assert (d.span.line, d.span.col) == (line, col), d.format()
    assert d.span.file == str(path)
    if words == "warning":
        assert d.severity == "warning"
    else:
        assert d.severity == ERROR, d.format()
        if words:
            assert words in d.message + " " + (d.hint or ""), d.format()


def test_enough_classes():
    codes = {expectation(p)[0] for p in FILES}
    assert len(codes) >= 30
