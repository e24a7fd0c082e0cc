"""Safe YAML -> plain data plus a position for every key and value.

Specs are untrusted. We never construct arbitrary objects: we read PyYAML's
*event* stream (the libyaml parser when available, which is iterative) and
build dicts, lists and scalars ourselves with an explicit stack. That gives us,
in one pass and in bounded time and memory:

* positions: ``Document.pos[path] = (key_line, key_col, value_line, value_col)``
  for every node, where ``path`` is a tuple of keys and indices;
* refusals instead of surprises: duplicate keys, unknown or Python tags,
  several documents, non-finite numbers, nesting deeper than ``MAX_DEPTH``;
* one scalar model, YAML 1.2's core schema (``on``/``yes`` are text, ``1e-3`` a
  number), with the spellings YAML 1.1 reads otherwise (``yes``, ``0777``,
  ``1_000``, ``1:20``, dates) refused: see ``_plain``;
* a node budget, charged for every scalar, collection and alias as it is
  read, so an alias bomb ("billion laughs") or a huge flow list ends in a
  diagnostic before the rest of the file is read;
* the same ``too-deep`` refusal whichever libyaml reads the text: libyaml
  0.2.6 stops deep flow nesting itself (its scanner looks ahead) with a
  syntax error, which we report as ``too-deep``.

We do not use PyYAML's composer: the libyaml one recurses in C and crashes
the interpreter on deeply nested input (``[[[[...]]]]``).
"""
from __future__ import annotations

import math
import re

import yaml
from yaml import events as ev

from .. import codes
from ..diagnostics import Diagnostic, Span
from ..document import Document  # noqa: F401 (the loader returns one; passes take it from nnspec.document)

MAX_BYTES = 2 * 1024 * 1024  # 20,000 layers (MAX_LAYERS) take about 1 MiB
MAX_DEPTH = 32  # a spec needs about 10 (blocks with nested repeats: 20); each level costs time per node
MAX_NODES = 100_000  # after alias expansion; a 10,000-layer spec has ~50,000
MAX_INT_DIGITS = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


def _mark(m) -> tuple[int, int]:
    return (m.line + 1, m.column + 1)


class _Refused(Exception):
    def __init__(self, code, message, mark=None, hint=None, line_col=None):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint
        self.line_col = line_col or (_mark(mark) if mark is not None else (1, 1))


def _line_col_of_offset(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    if len(raw) > MAX_BYTES:
        return None, [Diagnostic(codes.FILE_TOO_LARGE,
                                 f"spec is {len(raw):,} bytes; the limit is {MAX_BYTES:,}",
                                 Span(file), "split the spec or use blocks")]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        good = raw[: e.start].decode("utf-8", "replace")
        line, col = _line_col_of_offset(good, len(good))
        return None, [Diagnostic(codes.INVALID_UTF8,
                                 f"file is not valid UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start}",
                                 Span(file, line, col), "save the spec as UTF-8 text")]
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _line_col_of_offset(text, nul)
        return None, [Diagnostic(codes.BINARY_FILE, "file contains a NUL byte; expected YAML text",
                                 Span(file, line, col), "is this a binary file?")]
    return text, []


def load_yaml(raw: bytes | str, file: str = "<string>") -> tuple[Document | None, list[Diagnostic]]:
    """Parse one YAML document. Returns (document or None, diagnostics)."""
    if isinstance(raw, bytes):
        text, diags = decode(raw, file)
        if text is None:
            return None, diags
    else:
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            return decode(text.encode("utf-8", "surrogatepass"), file)
    try:
        data, pos = _compose(text)
    except _Refused as r:
        return None, [Diagnostic(r.code, r.message, Span(file, *r.line_col), r.hint)]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line_col = _mark(mark) if mark is not None else (1, 1)
        if "nesting depth" in (e.problem or ""):  # libyaml >= 0.2.6 refuses deep flow nesting while scanning
            return None, [Diagnostic(codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", Span(file, *line_col),
                                     "flatten the document")]
        problem = e.problem or e.context or "invalid YAML"
        ctx = ""
        if e.context and e.problem:
            ctx = f" ({e.context}"
            if e.context_mark is not None and e.context_mark is not mark:
                ctx += " that starts at {}:{}".format(*_mark(e.context_mark))
            ctx += ")"
        return None, [Diagnostic(codes.YAML_SYNTAX, f"YAML syntax error: {problem}{ctx}",
                                 Span(file, *line_col), "check indentation, colons and brackets near here")]
    except yaml.YAMLError as e:  # reader errors (control characters) and friends
        mark = getattr(e, "position", None)
        line_col = _line_col_of_offset(text, mark) if isinstance(mark, int) else (1, 1)
        return None, [Diagnostic(codes.YAML_SYNTAX, f"YAML error: {e}".splitlines()[0],
                                 Span(file, *line_col), "remove control characters; specs are UTF-8 text")]
    return Document(file, data, pos, text), []


class _Frame:
    __slots__ = ("kind", "value", "path", "anchor", "key", "key_lc", "keys", "merges", "start")

    def __init__(self, kind, value, path, anchor, start):
        self.kind, self.value, self.path, self.anchor, self.start = kind, value, path, anchor, start
        self.key = None  # pending mapping key (None: expecting a key)
        self.key_lc = None
        self.keys = {}  # key -> position of first occurrence (duplicate detection)
        self.merges = []


_NO_KEY = object()


def _compose(text: str):
    loader = _Loader(text)
    get_event = loader.get_event
    pos: dict = {}
    anchors: dict = {}  # name -> (value, {relative path: pos}, node count)
    budget = MAX_NODES
    stack: list[_Frame] = []
    root = _NO_KEY
    docs = 0
    plain: dict = {}  # memo: plain scalar text -> value (specs repeat "64", "relu", ...)
    Scalar, MapStart, SeqStart, Alias = ev.ScalarEvent, ev.MappingStartEvent, ev.SequenceStartEvent, ev.AliasEvent
    Ends = (ev.MappingEndEvent, ev.SequenceEndEvent)
    while True:
        event = get_event()
        cls = type(event)
        parent = stack[-1] if stack else None
        if cls is Scalar and parent is not None and parent.kind == "map" and parent.key is None:
            _take_key(parent, event)
            continue
        if cls is Scalar or cls is MapStart or cls is SeqStart or cls is Alias:
            if parent is None:
                path = ()
            elif parent.kind == "seq":
                path = parent.path + (len(parent.value),)
            else:
                if parent.key is None:
                    _take_key(parent, event)  # refuses non-scalar keys
                path = parent.path + (parent.key,)
            m = event.start_mark
            start = (m.line + 1, m.column + 1)
            budget -= 1
            if budget < 0:
                raise _Refused(codes.TOO_MANY_NODES, f"the document has more than {MAX_NODES:,} nodes", m,
                               "split the spec")
            if cls is Scalar:
                if event.tag is None and event.implicit[0] and not event.style:
                    value = plain.get(event.value, _NO_KEY)
                    if value is _NO_KEY:
                        value = plain[event.value] = _scalar(loader, event)
                else:
                    value = _scalar(loader, event)
                if event.anchor:
                    anchors[event.anchor] = (value, {}, 1)
            elif cls is Alias:
                if event.anchor not in anchors:
                    raise _Refused(codes.YAML_SYNTAX, f"unknown alias '*{event.anchor}'", m,
                                   "define the anchor (&name) before using it")
                value, rel, count = anchors[event.anchor]
                budget -= count
                if budget < 0:
                    raise _Refused(codes.TOO_MANY_NODES,
                                   f"aliases expand the document to more than {MAX_NODES:,} nodes",
                                   m, "this looks like an alias bomb; avoid nested aliases")
                for r, p in rel.items():
                    pos[path + r] = p
            else:
                if event.tag not in (None, "!", _SEQ, _MAP):
                    raise _Refused(codes.YAML_TAG, f"YAML tag '{event.tag}' is not allowed in a spec", m,
                                   "remove the tag; specs hold plain mappings, lists and scalars")
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", m, "flatten the document")
                kind = "map" if cls is MapStart else "seq"
                stack.append(_Frame(kind, {} if kind == "map" else [], path, event.anchor, start))
                continue
            root = _deliver(stack, value, path, start, pos, root)
            continue
        if cls in Ends:
            frame = stack.pop()
            if frame.merges:
                _apply_merges(frame, pos)
            if frame.anchor:
                anchors[frame.anchor] = _snapshot(frame.value, frame.path, pos)
            root = _deliver(stack, frame.value, frame.path, frame.start, pos, root)
            continue
        if cls is ev.StreamEndEvent:
            break
        if cls is ev.DocumentStartEvent:
            docs += 1
            if docs > 1:
                raise _Refused(codes.MULTIPLE_DOCUMENTS, "the file holds more than one YAML document",
                               event.start_mark, "put one spec per file; remove the '---' separator")
    if root is _NO_KEY:
        root = None
    return root, pos


def _take_key(frame: _Frame, event) -> None:
    if isinstance(event, ev.ScalarEvent):
        if event.tag == _MERGE or (event.value == "<<" and event.implicit[0]):
            frame.key = _MERGE
        else:
            if event.tag not in (None, "!", _STR):
                raise _Refused(codes.YAML_TAG, f"YAML tag '{event.tag}' is not allowed in a spec", event.start_mark,
                               "remove the tag")
            frame.key = event.value  # keys stay text: `on:` is the key "on", not True
        frame.key_lc = _mark(event.start_mark)
        if frame.key in frame.keys and frame.key is not _MERGE:
            first = frame.keys[frame.key]
            raise _Refused(codes.DUPLICATE_KEY,
                           f"duplicate key '{frame.key}' (first defined at line {first[0]}, column {first[1]})",
                           event.start_mark, "YAML keeps only the last one; remove or rename one of them")
        if frame.key is not _MERGE:
            frame.keys[frame.key] = frame.key_lc
        return
    if isinstance(event, ev.AliasEvent):
        raise _Refused(codes.BAD_KEY, "an alias cannot be used as a mapping key", event.start_mark,
                       "use a plain text key")
    raise _Refused(codes.BAD_KEY, "mapping keys must be plain text, not lists or mappings", event.start_mark,
                   "use a plain text key")


def _deliver(stack, value, path, start, pos, root):
    if not stack:
        pos[()] = (0, 0) + start
        return value
    parent = stack[-1]
    if parent.kind == "seq":
        pos[path] = (0, 0) + start
        parent.value.append(value)
    else:
        if parent.key is _MERGE:
            parent.merges.append((value, path, start))
        else:
            pos[path] = parent.key_lc + start
            parent.value[parent.key] = value
        parent.key = None
    return root


def _apply_merges(frame: _Frame, pos) -> None:
    """`<<: *defaults`: keys the mapping does not set itself come from the merged
    mappings; their positions point at the merged value (not copied deeper)."""
    for value, _path, start in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for src in sources:
            if not isinstance(src, dict):
                raise _Refused(codes.YAML_SYNTAX, "a merge key '<<' needs a mapping or a list of mappings",
                               line_col=start)
            for k, v in src.items():
                if k not in frame.value:
                    frame.value[k] = v
                    pos[frame.path + (k,)] = (0, 0) + start


def _snapshot(value, path, pos):
    n = len(path)
    rel = {q[n:]: p for q, p in pos.items() if q[:n] == path} if isinstance(value, (dict, list)) else {}
    return value, rel, max(1, len(rel))


# ---------------------------------------------------------------- scalars: YAML 1.2, core schema
# A plain scalar is read as YAML 1.2's core schema reads it (what editors using
# the published schema see); the spellings that YAML 1.1 readers (PyYAML and
# friends) read as something else are refused, so no reader can silently
# disagree with nnspec about a value.
_CORE_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"[-+]?[0-9]+\Z")
_CORE_INT8 = re.compile(r"0o[0-7]+\Z")
_CORE_INT16 = re.compile(r"0x[0-9a-fA-F]+\Z")
_CORE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_CORE_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_CORE_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+\Z")  # YAML 1.1: octal; YAML 1.2: decimal
# what YAML loaders in use read as numbers, beyond the spec: ruamel.yaml's YAML 1.2 patterns
# (1_000, 0b101, +0o7 are numbers to it, text to the spec; .5e3 is text to it, a number to the spec)
_LOOSE_INT = re.compile(r"(?=[-+0-9])[-+]?(?:0b[0-1_]+|0o?[0-7_]+|[0-9_]+|0x[0-9a-fA-F_]+)\Z")
_LOOSE_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+"
                          r"|\.[0-9_]+(?:[eE][-+][0-9]+)?)\Z")
# (y/Y/n/N are booleans in YAML 1.1's type list too, but no loader in use reads them so, PyYAML and
# ruamel.yaml included, and x/y/n are everyday tensor names: they stay text)
_YAML11_BOOL = {w: v for ws, v in (("yes Yes YES on On ON", True), ("no No NO off Off OFF", False))
                for w in ws.split()}
_CORE_TAGS = {"tag:yaml.org,2002:null": type(None), "tag:yaml.org,2002:bool": bool,
              "tag:yaml.org,2002:int": int, "tag:yaml.org,2002:float": float}


def _core(text: str, mark):
    """The YAML 1.2 core schema's value for ``text`` (str when it is text)."""
    if text in _CORE_NULL:
        return None
    b = _CORE_BOOL.get(text)
    if b is not None:
        return b
    if _CORE_INT.match(text):
        if sum(ch.isdigit() for ch in text) > MAX_INT_DIGITS:
            raise _Refused(codes.NUMBER_TOO_LARGE, f"integer with more than {MAX_INT_DIGITS} digits", mark,
                           "use a realistic value")
        return int(text, 10)
    if _CORE_INT8.match(text) or _CORE_INT16.match(text):
        if len(text) - 2 > MAX_INT_DIGITS:
            raise _Refused(codes.NUMBER_TOO_LARGE, f"integer with more than {MAX_INT_DIGITS} digits", mark,
                           "use a realistic value")
        return int(text, 0)
    if _CORE_FLOAT.match(text):
        value = float(text)
        if not math.isfinite(value):  # 1e999
            raise _Refused(codes.BAD_NUMBER, f"number '{text[:40]}' is not finite", mark, "use a finite number")
        return value
    if _CORE_INF.match(text) or _CORE_NAN.match(text):
        raise _Refused(codes.BAD_NUMBER, f"number '{text[:40]}' is not finite", mark, "use a finite number")
    return text


def _plain(loader, text: str, mark):
    """A plain (unquoted, untagged) scalar: YAML 1.2's value, or a refusal where
    YAML 1.1 (or a YAML loader in use) reads the same spelling differently."""
    if text[:1].isalpha() or text[:1] == "_":  # the common case (relu, Dense, a name): words only
        if text in _CORE_NULL:
            return None
        b = _CORE_BOOL.get(text)
        if b is not None:
            return b
        if text not in _YAML11_BOOL:
            return text
    short = text if len(text) <= 40 else text[:37] + "..."
    quote = f'or quote it ("{short}") if you mean the text'
    if _LEADING_ZERO.match(text):
        sign, digits = ("-" if text[0] == "-" else ""), text.lstrip("+-").lstrip("0") or "0"
        octal = all(c in "01234567" for c in digits)
        raise _Refused(codes.YAML_11_SCALAR,
                       f"'{short}' has a leading zero: YAML 1.1 reads it as "
                       f"{f'the octal number {int(text, 8)}' if octal else 'text'}, YAML 1.2 as the decimal "
                       f"{int(text, 10)}", mark,
                       f"write {sign}{digits}" + (f", or {sign}0o{digits} for octal" if octal else "") + f", {quote}")
    value = _core(text, mark)
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and not (_LOOSE_INT.match(text) or _LOOSE_FLOAT.match(text)):
            raise _Refused(codes.YAML_11_SCALAR, f"'{short}' is a number in YAML 1.2, but some YAML loaders "
                           "read it as text", mark, f"write it with a digit before the point: {value!r}")
        return value
    if text in _YAML11_BOOL:
        word = "true" if _YAML11_BOOL[text] else "false"
        raise _Refused(codes.YAML_11_SCALAR,
                       f"'{text}' is the boolean {word} in YAML 1.1 but the text '{text}' in YAML 1.2", mark,
                       f'write {word}, or quote it ("{text}") if you mean the text')
    tag11 = loader.resolve(yaml.ScalarNode, text, (True, False))
    if tag11 != _STR:
        what = {"timestamp": "a date", "value": "a special value ('=')",
                "merge": "a merge key ('<<')"}.get(tag11.rsplit(":", 1)[1], "a number")
        raise _Refused(codes.YAML_11_SCALAR, f"'{short}' is {what} in YAML 1.1 but text in YAML 1.2", mark,
                       f"write the number in decimal, {quote}" if what == "a number" else
                       f'quote it ("{short}"): dates are text in a spec' if what == "a date" else
                       f'quote it ("{short}")')
    if _LOOSE_INT.match(text) or _LOOSE_FLOAT.match(text):
        raise _Refused(codes.YAML_11_SCALAR, f"'{short}' is text in YAML 1.2, but some YAML loaders read it as "
                       "a number", mark, f"write the number in decimal, {quote}")
    return text


def _scalar(loader, event):
    tag = event.tag
    if tag is None and event.implicit[0]:  # plain
        return _plain(loader, event.value, event.start_mark)
    if tag in (None, "!", _STR):  # quoted, or the non-specific tag: text
        return event.value
    kind = _CORE_TAGS.get(tag)
    if kind is None:
        raise _Refused(codes.YAML_TAG, f"YAML tag '{tag}' is not allowed in a spec", event.start_mark,
                       "specs hold plain text, numbers, booleans and null; no Python objects")
    value = _core(event.value, event.start_mark)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise _Refused(codes.BAD_NUMBER if kind in (int, float) else codes.YAML_TAG,
                       f"cannot read '{event.value[:40]}' as {tag.replace('tag:yaml.org,2002:', '!!')}",
                       event.start_mark, "remove the tag, or fix the value")
    return value
