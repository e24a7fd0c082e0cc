"""The examples beside the registry, and what ``nnspec explain`` prints from them.

An example is a spec file in this directory. Its first line says what it must
produce, ``# expect: CODE LINE:COL [words the message or hint contains]``
(``warning`` as the words: the diagnostic is a warning). A second line
``# allow-import: mypkg`` validates it as ``--allow-import mypkg`` would; a second
line ``# target: onnx`` as ``--target onnx`` would (the example and its fix). Its
last lines may give the smallest fix, applied to the file's own line numbers:

    # fix 7: TEXT     line 7 becomes TEXT
    # fix 7+: TEXT    TEXT is inserted after line 7 (several: in order)
    # fix 7-          line 7 is deleted
    # fix allow-import: mypkg    the person running nnspec allows module mypkg (--allow-import)

The fixed spec must validate with no diagnostic at all (tests/test_invalid_specs.py
runs every example and its fix). Validation only: nothing here imports TensorFlow.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import resources

from . import REGISTRY, Code

EXPECT = re.compile(rb"# expect: (\S+) (\d+):(\d+)[ \t]*(.*?)\r?\Z")
FIX = re.compile(rb"# fix (\d+)([+-]?)(?:: ?(.*?))?\r?\Z")
ALLOW = re.compile(rb"# fix allow-import: ([\w.]+)\r?\Z")
RUN_ALLOW = re.compile(rb"# allow-import: ([\w.]+)\r?\Z")
RUN_TARGET = re.compile(rb"# target: (\w+)\r?\Z")
SUFFIXES = (".yaml", ".nns")


class ExampleError(ValueError):
    """An example file that does not follow the format above."""


@dataclass
class Example:
    name: str
    raw: bytes  # the whole file
    code: str
    line: int
    col: int
    words: str
    lines: list  # the failing spec's lines (bytes), without the fix lines at the end
    fixes: list = field(default_factory=list)  # (line, op, text): op "" replace, "+" insert after, "-" delete
    allow_import: list = field(default_factory=list)  # modules the fix needs allowed
    run_allow: tuple = ()  # modules allowed when the example (and its fix) is validated
    targets: tuple = ()  # export targets the example (and its fix) is validated for

    @property
    def has_fix(self) -> bool:
        return bool(self.fixes or self.allow_import)

    @property
    def failing(self) -> bytes:
        return b"\n".join(self.lines) + b"\n" if self.has_fix else self.raw

    @property
    def fixed(self) -> bytes | None:
        """The spec with the fix applied, or None if the example has none."""
        if not self.has_fix:
            return None
        out = []
        for i, line in enumerate(self.lines, 1):
            ops = [(op, text) for n, op, text in self.fixes if n == i]
            replaced = [text for op, text in ops if op == ""]
            if not any(op == "-" for op, _ in ops):
                out.append(replaced[-1] if replaced else line)
            out += [text for op, text in ops if op == "+"]
        return b"\n".join(out) + b"\n"


def parse(name: str, raw: bytes) -> Example:
    lines = raw.split(b"\n")
    m = EXPECT.match(lines[0])
    if not m:
        raise ExampleError(f"{name}: the first line must be '# expect: CODE LINE:COL [words]'")
    end = len(lines)
    while end > 1 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 1 and (FIX.match(lines[start - 1]) or ALLOW.match(lines[start - 1])):
        start -= 1
    for i, line in enumerate(lines):
        if line.startswith(b"# fix") and not (start <= i < end and (FIX.match(line) or ALLOW.match(line))):
            raise ExampleError(f"{name}:{i + 1}: fix lines are '# fix N: TEXT', '# fix N+: TEXT', '# fix N-' or "
                               "'# fix allow-import: MODULE', together at the end of the file")
    fixes, allow = [], []
    for i in range(start, end):
        if ALLOW.match(lines[i]):
            allow.append(ALLOW.match(lines[i]).group(1).decode())
            continue
        fix = FIX.match(lines[i])
        n, op, text = int(fix.group(1)), fix.group(2).decode(), fix.group(3)
        if (op == "-") != (text is None) or not (1 if op == "+" else 2) <= n <= start:
            raise ExampleError(f"{name}:{i + 1}: '# fix N-' deletes line N, '# fix N: TEXT' replaces it and "
                               f"'# fix N+: TEXT' inserts after it, N a line of the spec (2 to {start})")
        fixes.append((n, op, text or b""))
    run = RUN_ALLOW.match(lines[1]) if len(lines) > 1 else None
    target = RUN_TARGET.match(lines[1]) if len(lines) > 1 else None
    if target:
        from ..targets import TARGETS
        if target.group(1).decode() not in TARGETS:
            raise ExampleError(f"{name}:2: '# target: NAME' names one of {', '.join(TARGETS)}")
    return Example(name, raw, m.group(1).decode(), int(m.group(2)), int(m.group(3)), m.group(4).decode().strip(),
                   lines[:start], fixes, allow, (run.group(1).decode(),) if run else (),
                   (target.group(1).decode(),) if target else ())


def example_names() -> list[str]:
    """Every example file in this directory."""
    return sorted(p.name for p in resources.files(__package__).iterdir() if p.name.endswith(SUFFIXES))


def read(name: str) -> Example:
    return parse(name, resources.files(__package__).joinpath(name).read_bytes())


def examples_of(code: str) -> list[str]:
    """The example files whose expect line names ``code``, its primary example first."""
    primary = REGISTRY[code].example if code in REGISTRY else None
    names = [n for n in example_names() if _expected_code(n) == code]
    return sorted(names, key=lambda n: n != primary)


def _expected_code(name: str) -> str | None:
    first = resources.files(__package__).joinpath(name).read_bytes().split(b"\n", 1)[0]
    m = EXPECT.match(first)
    return m.group(1).decode() if m else None


def diagnose(ex: Example, fixed: bool = False):
    """The diagnostics ``nnspec validate`` gives the example (or its fixed spec), its file named as the example."""
    from ..api import check_text
    allow = ex.run_allow + (tuple(ex.allow_import) if fixed else ())
    return check_text(ex.fixed if fixed else ex.failing, ex.name, allow_import=allow, targets=ex.targets)[1]


def _show(line: bytes) -> str:
    from ..report import escape
    return escape(line.decode("utf-8", "backslashreplace"))


def explain(code: str) -> str:
    """What ``nnspec explain CODE`` prints: the summary, the example, what it gives, and the fix."""
    c = REGISTRY[code]
    out = [f"{c.code} ({c.severity}): {c.summary}", ""]
    if c.example is None:
        out.append(f"No example spec: {c.no_example}.")
        return "\n".join(out) + "\n"
    ex = read(c.example)
    width = len(str(len(ex.lines)))
    out.append(f"{ex.name}:")
    out += [f"  {i:>{width}} | {_show(line)}".rstrip() for i, line in enumerate(ex.lines, 1)]
    out += ["", f"nnspec validate {''.join(f'--target {t} ' for t in ex.targets)}{ex.name}:"]
    out += ["  " + line for d in diagnose(ex) if d.code == code for line in _safe_format(d).split("\n")]
    if ex.has_fix:
        out += ["", "The fix:"] + ["  " + line for line in fix_diff(ex)]
    more = [n for n in examples_of(code) if n != ex.name]
    if more:
        out += ["", f"More examples in nnspec/codes/: {', '.join(more)}"]
    return "\n".join(out) + "\n"


def fix_diff(ex: Example) -> list[str]:
    """The fix as changed lines: 'line N:' (or 'after line N:'), then '- old' and '+ new' lines."""
    old, new = ex.lines, ex.fixed.split(b"\n")[:-1]
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        out.append(f"after line {i1}:" if op == "insert" else f"line {i1 + 1}:" if i2 == i1 + 1 else
                   f"lines {i1 + 1}-{i2}:")
        out += [f"- {_show(line)}".rstrip() for line in old[i1:i2]]
        out += [f"+ {_show(line)}".rstrip() for line in new[j1:j2]]
    out += [f"and run nnspec with --allow-import {m} (yours to allow: a spec cannot)" for m in ex.allow_import]
    return out


def _safe_format(d) -> str:
    from ..report import safe
    return safe(d).format()


def listing() -> str:
    """What ``nnspec explain`` prints: every code with its summary, by section."""
    width = max(map(len, REGISTRY))
    out, section = [], None
    for c in REGISTRY.values():
        if c.section != section:
            section = c.section
            out += ([""] if out else []) + [f"{section}:"]
        out.append(f"  {c.code:<{width}}  {c.summary}" + (" (warning)" if c.severity != "error" else ""))
    return "\n".join(out) + "\n"


def markdown() -> str:
    """docs/diagnostics.md: the table of codes, generated from the registry."""
    out = ["# Diagnostic codes", "",
           "<!-- generated by `nnspec explain --format markdown -o docs/diagnostics.md`; "
           "tests/test_codes.py checks it is current -->", "",
           "Every diagnostic `nnspec validate` (and `compile`, `check`) prints ends with its code in brackets. "
           "`nnspec explain CODE` prints the code's summary, an example spec that produces it, the diagnostic, "
           "and the fix; `nnspec explain` lists them all. The examples are in "
           "[`nnspec/codes/`](../nnspec/codes/), declared in "
           "[`nnspec/codes/__init__.py`](../nnspec/codes/__init__.py); the tests run each one and its fix.", ""]
    sections: dict[str, list[Code]] = {}
    for c in REGISTRY.values():
        sections.setdefault(c.section, []).append(c)
    for section, entries in sections.items():
        out += [f"## {section}", "", "| code | severity | what it means | example |", "|---|---|---|---|"]
        for c in entries:
            example = f"[{c.example}](../nnspec/codes/{c.example})" if c.example else \
                f"none: {c.no_example} ([{c.tested_in}](../{c.tested_in}))"
            out.append(f"| `{c.code}` | {c.severity} | {_md(c.summary)} | {_md(example)} |")
        out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|")
