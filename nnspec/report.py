"""Diagnostic output formats: text, json, github (workflow annotations).

Text from a spec (names, values, keys, descriptions) is quoted into messages,
and specs are untrusted: ``escape`` writes terminal control characters (ESC,
BEL, the other C0 and C1 controls, DEL), bidi overrides and other invisible
format characters, line separators and lone surrogates as ``\\x1b``-style
escapes, so none reaches a terminal or a CI log raw. JSON output is escaped by
``json.dumps`` (``ensure_ascii``).
"""
from __future__ import annotations

import json
import unicodedata

from .diagnostics import ERROR, Diagnostic, Span
from .record import replace


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def escape(s) -> str:
    """``s`` with every character that could act on a terminal written as an escape.
    Printable text (any script, spaces, emoji) is kept as it is."""
    s = str(s)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() or unicodedata.category(ch) in ("Zs", "Co") else _escape_char(ch)
                   for ch in s)


def _safe_span(span: Span, via: bool = True) -> Span:
    """The span with its file name escaped. Only the span's own call sites are
    printed (as notes), so theirs are dropped: a call site's span carries its own
    call sites, and walking them all is exponential in the block nesting."""
    return replace(span, file=escape(span.file),
                               via=tuple((escape(n), _safe_span(s, False)) for n, s in span.via) if via else ())


def safe(d: Diagnostic) -> Diagnostic:
    """The diagnostic with its text fields escaped for a terminal."""
    return replace(d, message=escape(d.message), hint=None if d.hint is None else escape(d.hint),
                               code=escape(d.code), span=_safe_span(d.span),
                               related=tuple((escape(n), _safe_span(s, False)) for n, s in d.related))


def text(diags: list[Diagnostic]) -> str:
    return "\n".join(safe(d).format() for d in diags)


def as_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2)


def _gh_escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        s = s.replace(":", "%3A").replace(",", "%2C")
    return s


def github(diags: list[Diagnostic]) -> str:
    out = []
    for d in diags:
        d = safe(d)
        level = "error" if d.severity == ERROR else "warning"
        props = f"file={_gh_escape(d.span.file, True)}"
        if d.span.line:
            props += f",line={d.span.line},col={d.span.col}"
        props += f",title={_gh_escape('nnspec ' + d.code, True)}"
        msg = d.message + (f"; hint: {d.hint}" if d.hint else "")
        out.append(f"::{level} {props}::{_gh_escape(msg)}")
    return "\n".join(out)


FORMATS = {"text": text, "json": as_json, "github": github}
