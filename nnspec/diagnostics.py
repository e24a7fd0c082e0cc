"""Diagnostics: the one shape every user-facing problem takes.

A Diagnostic knows where it is (file, line, column: 1-based), what kind of
problem it is (a stable code), what was expected and found (the message), and
how to fix it (the hint). Stages collect them in a list; nothing here raises
for a user error.
"""
from __future__ import annotations

from .record import field, record

ERROR = "error"
WARNING = "warning"


@record(frozen=True)
class Span:
    file: str
    line: int = 0  # 1-based; 0 when unknown (e.g. a file that cannot be read)
    col: int = 0
    # for code that came from a block: the call sites that instantiated it,
    # innermost first, as (note, Span) pairs
    via: tuple = field(default=(), compare=False)

    def __init__(self, file: str, line: int = 0, col: int = 0, via: tuple = ()):
        # written out (record's generic one takes twice as long): a spec makes one per node and argument
        self.__dict__.update(file=file, line=line, col=col, via=via)

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@record(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: str = ERROR
    related: tuple[tuple[str, Span], ...] = field(default=())

    def format(self) -> str:
        text = f"{self.span}: {self.severity}: {self.message}"
        if self.hint:
            text += f"; hint: {self.hint}"
        text += f" [{self.code}]"
        for note, span in self.related + self.span.via:
            text += f"\n{span}: note: {note}"
        return text

    def to_json(self) -> dict:
        out = {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
        if self.hint:
            out["hint"] = self.hint
        if self.related or self.span.via:
            out["related"] = [
                {"message": n, "file": s.file, "line": s.line, "column": s.col}
                for n, s in self.related + self.span.via
            ]
        return out


class SpecError(Exception):
    """Raised by the API when a spec has errors; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == ERROR]
        head = errors[0].format() if errors else "invalid spec"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(head + more)


def closest(word: str, choices, n: int = 1) -> list[str]:
    """The choices ``word`` may stand for: a case-insensitive match first, then fuzzy ones."""
    if not isinstance(word, str):
        return []
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    if word.lower() in lower:
        return [lower[word.lower()]]
    import difflib  # only when there is a word to correct: off the path of valid specs
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    return close or [lower[c] for c in difflib.get_close_matches(word.lower(), list(lower), n=n, cutoff=0.6)]


def did_you_mean(word: str, choices, n: int = 1) -> str | None:
    """A 'did you mean' hint, or None. Case-insensitive first, then fuzzy."""
    close = closest(word, choices, n)
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else None


def has_errors(diags) -> bool:
    return any(d.severity == ERROR for d in diags)
