"""Spec data -> the YAML text `nnspec import` writes: laid out by ``source.emit`` (the one YAML writer,
as `nnspec fmt` lays out a spec), under a header of comments: the schema, where the model came from, the
notes. Imports nothing heavy."""
from __future__ import annotations

from ...naming import TOP_KEYS
from ...schema import SCHEMA_ID
from ...source.emit import to_yaml

_KEYS = ("nnspec", "name", "description", "seed", "requires_import", "inputs", "layers", "outputs", "penalties",
         "training")  # the top-level keys an imported spec has


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks of any kind: \\n, \\r, U+0085,
    U+2028, U+2029; other controls) written as an escape: one line, whatever a name holds. YAML reads
    \\r, U+0085, U+2028 and U+2029 as line breaks too, so a name holding one could otherwise end a
    comment line and start a key of its own."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def spec_to_yaml(data: dict, notes=(), source: str | None = None) -> str:
    """Spec data -> YAML laid out as ``source.emit.to_yaml`` lays out any spec (one layer item per line,
    broken after a comma past 100 columns; flow mappings), the header comments above its first key.
    Raises emit's ConvertError for a value a spec cannot hold (a number that is not finite)."""
    extra = [k for k in data if k not in _KEYS]
    if extra:
        raise ValueError(f"unknown spec keys {extra}")
    header = [f"# yaml-language-server: $schema={SCHEMA_ID}",
              "# Imported from a Keras model" + (f" ({printable(source)})" if source else "") + " by `nnspec import`.",
              *("# note: " + printable(note) for note in notes)]
    first = next(k for k in TOP_KEYS if k in data)
    return to_yaml(data, {"lead": {(first,): header}, "trail": {}, "end": []})
