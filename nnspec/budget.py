"""Compute budgets: limits on a model's parameters, MACs and activation memory, checked statically.

A spec sets them under ``budget:`` and the command line adds or overrides them
(``nnspec validate --max-params 5M --max-macs 1G --max-activation-memory 2GiB --batch-size 8``).
The figures are summary's (``cost.py``: MACs per example; activation memory at the batch size,
default 1, as ``nnspec summary --batch-size``). Exceeding a limit is an ``over-budget`` error at
the limit's entry in the spec (at the spec's top for a command-line limit), with the figure, the
limit and the layers (or block calls) that contribute most.

Number syntax, one place for the schema, the command line and the docs:

* counts (``params``, ``macs``): a whole number (``5000000``), or a number with an SI suffix
  ``k`` (or ``K``), ``M``, ``G``, ``T`` (powers of 1000): ``5M``, ``1.5G``, ``250k``;
* bytes (``activation_memory``): a whole number of bytes, or a number with a unit: ``B``, ``kB``,
  ``MB``, ``GB``, ``TB`` (powers of 1000) or ``KiB``, ``MiB``, ``GiB``, ``TiB`` (powers of 1024):
  ``2GiB``, ``512MB``. A bare ``G`` is refused for bytes (GB or GiB: say which);

no space between the number and its unit, units case-sensitive as written here, and a
fraction of a unit rounded down to a whole number (``1.0005k`` is 1000).
"""
from __future__ import annotations

import re
from .record import record

from . import codes
from .diagnostics import WARNING, Diagnostic, Span

COUNT_UNITS = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_NUM = r"[0-9]{1,15}(\.[0-9]{1,15})?"
# `$(?!\n)`: Python's `$` also matches before a final newline (schema.IDENT says the same)
COUNT_PATTERN = rf"^([0-9]{{1,30}}|{_NUM}[kKMGT])$(?!\n)"
BYTES_PATTERN = rf"^([0-9]{{1,30}}|{_NUM}(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB))$(?!\n)"
_SPLIT = r"([0-9]+(\.[0-9]+)?)([A-Za-z]*)\Z"  # compiled when first used (re caches it)

COUNT_TEXT = "a count: a whole number (5000000) or a number with k, M, G or T (5M, 1.5G; powers of 1000)"
BYTES_TEXT = ("a number of bytes: a whole number, or a number with a unit: B, kB, MB, GB, TB (powers of "
              "1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 2GiB")
KINDS = {"params": "count", "macs": "count", "activation_memory": "bytes"}
FLAGS = {"params": "--max-params", "macs": "--max-macs", "activation_memory": "--max-activation-memory",
         "batch_size": "--batch-size"}


def schema_definitions() -> dict:
    """The JSON Schema of the budget section (schema.py puts it in the spec's schema)."""
    def quantity(kind, pattern, text):
        return {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": pattern}],
                "description": text, "x-nnspec": f"quantity:{kind}"}
    return {
        "count": quantity("count", COUNT_PATTERN, COUNT_TEXT),
        "bytes": quantity("bytes", BYTES_PATTERN, BYTES_TEXT),
        "budget": {
            "type": "object", "additionalProperties": False, "x-nnspec": "budget",
            "description": "limits nnspec validate checks (an over-budget error each): parameters, MACs per "
                           "example, activation memory at batch_size; the command line's --max-params, --max-macs, "
                           "--max-activation-memory and --batch-size override them",
            "properties": {
                "params": {"$ref": "#/definitions/count", "description": "at most this many parameters (all "
                           "weights, trainable or not), e.g. 5M"},
                "macs": {"$ref": "#/definitions/count", "description": "at most this many multiply-accumulates "
                         "per example, e.g. 1G"},
                "activation_memory": {"$ref": "#/definitions/bytes", "description": "at most this many bytes of "
                                      "activations (every tensor, held at once) at batch_size, e.g. 2GiB"},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                               "description": "a whole number, at least 1: the batch size activation_memory is "
                                              "counted at (default 1)"},
            },
        },
    }


def parse(value, kind: str) -> int:
    """A limit as written (an integer, or text in the syntax above) -> the whole number.
    ``kind``: 'count' or 'bytes'. Raises ValueError(expected, hint) for anything else."""
    if isinstance(value, bool):
        raise ValueError(*explain(value, kind))
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:  # YAML's 1e9
        return int(value)
    if isinstance(value, str) and re.match(COUNT_PATTERN if kind == "count" else BYTES_PATTERN, value):
        m = re.match(_SPLIT, value)
        units = COUNT_UNITS if kind == "count" else BYTE_UNITS
        from fractions import Fraction
        return int(Fraction(m.group(1)) * (units[m.group(3)] if m.group(3) else 1))  # exact, rounded down
    raise ValueError(*explain(value, kind))


def explain(value, kind: str) -> tuple[str, str | None]:
    """(what was expected, a hint for this value) for a limit ``parse`` refuses."""
    expected = COUNT_TEXT if kind == "count" else BYTES_TEXT
    units = COUNT_UNITS if kind == "count" else BYTE_UNITS
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return expected, "a limit is 0 or more"
    if isinstance(value, float):
        return expected, "a whole number, or write the fraction with a suffix (1.5M)"
    if not isinstance(value, str):
        return expected, None
    text = value.strip()
    if text != value or " " in text:
        joined = text.replace(" ", "")
        if re.match(COUNT_PATTERN if kind == "count" else BYTES_PATTERN, joined):
            return expected, f"write it without spaces: {joined}"
    m = re.match(_SPLIT, text.replace(" ", ""))
    if m is None:
        return expected, None
    number, unit = m.group(1), m.group(3)
    if unit in units or not unit:  # the syntax is right: the number is too long
        return expected, "at most 30 digits, or 15 and 15 decimals with a unit (1T is 10^12)"
    if kind == "bytes" and (unit in COUNT_UNITS or unit == "KB"):
        u = unit[0].upper()
        return expected, (f"say which: {number}{u}iB (powers of 1024) or {number}{'k' if u == 'K' else u}B "
                          "(powers of 1000)")
    if kind == "count" and unit in BYTE_UNITS:
        return expected, f"this is a count, not bytes: {number}{'' if unit == 'B' else unit[0]}"
    lower = {u.lower(): u for u in units}
    if unit.lower() in lower:
        return expected, f"units are case-sensitive: {number}{lower[unit.lower()]}"
    return expected, f"the suffixes are {', '.join(units)}"


def checker(kind: str):
    """An argparse ``type=`` for a limit on the command line: checks the syntax, keeps the text."""
    import argparse

    def check(text: str):
        try:
            parse(text, kind)
        except ValueError as e:
            expected, hint = e.args
            raise argparse.ArgumentTypeError(f"expected {expected}; found {text!r}" +
                                             (f"; hint: {hint}" if hint else ""))
        return text
    return check


def batch_size(text: str) -> int:
    import argparse
    if not re.match(r"[0-9]{1,9}\Z", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; found {text!r}")
    return int(text)


@record(frozen=True)
class Limit:
    value: int
    text: str  # as written: 5M
    source: str  # where it was set, for the message: "budget: params" or "--max-params"
    span: Span


def of_doc(doc) -> dict:
    """The spec's own limits (a schema-valid document): key -> Limit."""
    out = {}
    for key, value in (doc.data.get("budget") or {}).items():
        number = value if key == "batch_size" else parse(value, KINDS[key])
        out[key] = Limit(number, str(value), f"budget: {key}", doc.span(("budget", key), key=True))
    return out


def merge(own: dict, given: dict | None, file: str) -> dict:
    """The spec's limits with the caller's (``given``: key -> an int or text, as on the command line)
    over them; a given limit points at the spec's top and is named by its flag."""
    out = dict(own)
    for key, value in (given or {}).items():
        if value is None:
            continue
        if key not in FLAGS:
            raise ValueError(f"unknown budget key {key!r}; expected one of {', '.join(FLAGS)}")
        if key == "batch_size":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"batch_size must be a whole number of at least 1; found {value!r}")
            number = value
        else:
            try:
                number = parse(value, KINDS[key])
            except ValueError as e:
                expected, hint = e.args
                raise ValueError(f"{key}: expected {expected}; found {value!r}" + (f"; hint: {hint}" if hint else ""))
        out[key] = Limit(number, str(value), FLAGS[key], Span(file, 1, 1))
    return out


# ---------------------------------------------------------------- the check
_WORDS = {"params": "params", "macs": "MACs per example", "activation_memory": "bytes of activations"}
_VERBS = {"params": "has", "macs": "needs", "activation_memory": "needs"}


def _fmt(key, n) -> str:
    from .cost import fmt_bytes, fmt_count
    return fmt_bytes(n) if key == "activation_memory" else fmt_count(n).replace(" ", "")


def _figures(spec, key: str, batch: int) -> tuple[int, list]:
    """(the figure summed over what nnspec can count, the layers it cannot count)."""
    from .cost import layer_macs, tensor_bytes
    if key == "params":
        values = {n.name: (None if n.op == "Custom" else sum(spec.params.get(n.name, (0, 0)))) for n in spec.nodes}
    elif key == "macs":
        values = layer_macs(spec)
    else:
        values = {t: tensor_bytes(spec, t, batch) for t in list(spec.inputs) + [n.name for n in spec.nodes]}
    return sum(v for v in values.values() if v is not None), [k for k, v in values.items() if v is None]


def _largest(key: str, rows, n: int = 3) -> str:
    """The rows of `nnspec summary` (block calls collapsed; ``rows``: [(row, (macs, bytes))]) that
    contribute most to ``key``."""
    column = {"params": lambda row, cost: row[3], "macs": lambda row, cost: cost[0],
              "activation_memory": lambda row, cost: cost[1]}[key]
    values = [(v, row[0]) for row, cost in rows for v in [column(row, cost)] if isinstance(v, int) and v]
    top = sorted(values, key=lambda x: -x[0])[:n]
    unit = {"params": " params", "macs": " MACs", "activation_memory": ""}[key]
    return ", ".join(f"'{name}' {_fmt(key, v)}{unit if i == 0 else ''}" for i, (v, name) in enumerate(top))


def check(spec, limits: dict) -> list[Diagnostic]:
    """``over-budget`` errors (and ``budget-unchecked`` warnings where a figure is unknown) for
    ``limits`` (key -> Limit: of_doc, merge) on a spec whose shapes were inferred without error."""
    out = []
    batch_limit = limits.get("batch_size")
    batch = batch_limit.value if batch_limit else 1
    rows = []  # summary's collapsed table with its costs, made once if a limit is exceeded

    def largest(key):
        if not rows:
            from . import summary
            table = summary.rows(spec, expand=False)
            rows.extend(zip(table, summary.costs(spec, table, batch)))
        return _largest(key, rows)
    for key in ("params", "macs", "activation_memory"):
        limit = limits.get(key)
        if limit is None:
            continue
        figure, unknown = _figures(spec, key, batch)
        at = ""
        if key == "activation_memory":
            at = f" at batch size {batch}" + (f" ({batch_limit.source})" if batch_limit else " (the default)")
        shown = f"{figure:,} {_WORDS[key]} ({_fmt(key, figure)})"
        given = limit.text if limit.text == f"{limit.value}" else f"{limit.text} = {limit.value:,}"
        if figure > limit.value:
            least = "at least " if unknown else ""
            msg = (f"the model {_VERBS[key]} {least}{shown}{at}, over the budget of {given} ({limit.source}) "
                   f"by {figure - limit.value:,}")
            hint = f"the largest: {largest(key)}; shrink them, or raise the limit"
            out.append(Diagnostic(codes.OVER_BUDGET, msg, limit.span, hint))
        elif unknown:
            names = ", ".join(f"'{u}'" for u in unknown[:3]) + (f" and {len(unknown) - 3} more"
                                                                if len(unknown) > 3 else "")
            out.append(Diagnostic(
                codes.BUDGET_UNCHECKED, f"cannot check the budget of {given} {_WORDS[key]} ({limit.source}): nnspec "
                f"cannot count {names} (a size is unknown, or a Custom layer)" +
                (f"; what it can count needs {shown}{at}" if figure else ""), limit.span,
                "give every input a fixed size (the largest you serve) to check it", WARNING))
    return out
