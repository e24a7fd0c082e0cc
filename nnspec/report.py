"""Diagnostic output formats: text, json, github (workflow annotations)."""
from __future__ import annotations

import json

from .diagnostics import ERROR, Diagnostic


def text(diags: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diags)


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
        level = "error" if d.severity == ERROR else "warning"
        props = f"file={_gh_escape(d.span.file, True)}"
        if d.span.line:
            props += f",line={d.span.line},col={d.span.col}"
        props += f",title={_gh_escape('nnspec ' + d.code, True)}"
        msg = d.message + (f"; hint: {d.hint}" if d.hint else "")
        out.append(f"::{level} {props}::{_gh_escape(msg)}")
    return "\n".join(out)


FORMATS = {"text": text, "json": as_json, "github": github}
