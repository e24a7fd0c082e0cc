"""Spec data -> the YAML text `nnspec import` writes (imports nothing heavy)."""
from __future__ import annotations

import json
import math
import re

from ...schema import SCHEMA_ID

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")  # written unquoted: x, enc.state_h
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks of any kind: \\n, \\r, U+0085,
    U+2028, U+2029; other controls) written as an escape: one line, whatever a name holds. YAML reads
    \\r, U+0085, U+2028 and U+2029 as line breaks too, so a name holding one could otherwise end a
    comment line and start a key of its own."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _quoted(text: str) -> str:
    """A double-quoted scalar, the same in JSON and YAML, on one line."""
    return "".join(c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
                   for c in json.dumps(text, ensure_ascii=False))


def _scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        text = repr(v)
        if "e" in text and "." not in text.split("e")[0]:  # 1e-05 -> 1.0e-05: a float in YAML 1.1 too
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    if isinstance(v, str):
        if _WORD.match(v) and v.lower() not in _YAML_WORDS:
            return v
        return _quoted(v)
    raise TypeError(f"cannot write {type(v).__name__} {v!r} in a spec")


def _key(k) -> str:
    return k if isinstance(k, str) and _WORD.match(k) else _quoted(str(k))


def _flow(v) -> str:
    if isinstance(v, dict):
        # keys stay text in nnspec's loader (`on:` is "on"), as in the shipped specs
        return "{" + ", ".join(f"{_key(k)}: {_flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    return _scalar(v)


def spec_to_yaml(data: dict, notes=(), source: str | None = None) -> str:
    """Spec data -> YAML in the style of the shipped specs: one layer per line, flow mappings."""
    lines = [f"# yaml-language-server: $schema={SCHEMA_ID}"]
    lines.append("# Imported from a Keras model" + (f" ({printable(source)})" if source else "")
                 + " by `nnspec import`.")
    for note in notes:
        lines.append("# note: " + printable(note))
    for key in ("nnspec", "name", "description", "seed"):
        if key in data:
            lines.append(f"{key}: {_scalar(data[key])}")
    if "requires_import" in data:
        lines.append(f"requires_import: {_flow(data['requires_import'])}")
    lines += ["", "inputs:"]
    lines += [f"  {_key(k)}: {_flow(v)}" for k, v in data["inputs"].items()]
    lines += ["", "layers:"]
    lines += [f"  - {_key(next(iter(item)))}: {_flow(next(iter(item.values())) or {})}" for item in data["layers"]]
    lines += ["", "outputs:"]
    lines += [f"  {_key(k)}: {_flow(v)}" for k, v in data["outputs"].items()]
    if data.get("penalties"):
        lines += ["", "penalties:"]
        lines += [f"  - {_flow(p)}" for p in data["penalties"]]
    if data.get("training"):
        lines += ["", "training:"]
        lines += [f"  {_key(k)}: {_flow(v)}" for k, v in data["training"].items()]
    known = {"nnspec", "name", "description", "seed", "requires_import", "inputs", "layers", "outputs", "penalties",
             "training"}
    extra = [k for k in data if k not in known]
    if extra:
        raise ValueError(f"unknown spec keys {extra}")
    return "\n".join(lines) + "\n"
