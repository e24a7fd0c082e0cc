"""Spec data -> canonical text: ``to_dsl`` (the .nns form) and ``to_yaml``.

Both are lossless: ``load_dsl(to_dsl(d)).data == d`` and
``load_yaml(to_yaml(d)).data == d`` for any spec data (and for most invalid
data too: what the DSL's statements cannot say falls back to its literal
forms, ``{...}`` maps and whole-section values). Both are canonical: the same
data always gives the same text, so ``fmt`` is idempotent.

Comments travel with statements: ``parse_dsl`` and ``yaml_comments`` give them
as ``{"lead": {path: [lines]}, "trail": {path: text}, "end": [lines]}`` keyed
by statement paths (``("layers", 3)``, ``("blocks", "b", "layers", 0)``, ...),
and both writers put them back above or after the same statement.
"""
from __future__ import annotations

import json
import re
import unicodedata

import yaml

from ..naming import TOP_KEYS

WIDTH = 100
INDENT = "    "
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_REF = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\Z")  # enc.state_h: one output of a layer
_MUST_QUOTE = {"true", "false", "null", "expr"}  # words the DSL reads as something else
_HEADER = {"nnspec": "nnspec", "name": "model", "description": "description", "seed": "seed",
           "requires_import": "requires_import", "allow_import": "allow_import", "weights": "weights",
           "budget": "budget"}
# a number with a unit (budget: 5M, 2GiB): the DSL reads it bare, as text (dsl.lark's QUANTITY)
_QUANTITY = re.compile(r"^\d+(\.\d+)?(KiB|MiB|GiB|TiB|kB|MB|GB|TB|[kKMGTB])\Z")


class ConvertError(ValueError):
    """The data cannot be written in the requested form."""


# ================================================================ DSL
def _is_word(s) -> bool:
    return isinstance(s, str) and bool(_NAME.match(s)) and s not in _MUST_QUOTE


def _is_key(s) -> bool:
    return isinstance(s, str) and bool(_NAME.match(s))


def _num(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    text = repr(float(v))
    if text in ("inf", "-inf", "nan"):
        raise ConvertError(f"number {text} cannot be written in a spec")
    return text



def expr_ok(text) -> bool:
    """Can ``text`` be written bare as an expression (and read back to the same text)?"""
    if not isinstance(text, str) or not text or text != text.strip() or any(c in text for c in "\n\r#\"\\"):
        return False
    from ..expr.expr import parses
    return parses(text)


def dsl_value(v, lit: bool = False) -> str:
    """One value in DSL syntax. ``lit``: dicts as {...} maps (never call syntax)."""
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return _num(v)
    if isinstance(v, str):
        if _is_word(v) or _REF.match(v) or _DOTTED.match(v) or _QUANTITY.match(v):
            return v
        return _dsl_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(dsl_value(x, lit) for x in v) + "]"
    if isinstance(v, dict):
        if len(v) == 1 and not lit:
            (k, x), = v.items()
            if k == "expr":
                if expr_ok(x):
                    return f"expr({x})"
            elif _is_word(k):
                if isinstance(x, dict) and x and all(_is_key(a) for a in x):
                    return f"{k}(" + ", ".join(f"{a}={dsl_value(b)}" for a, b in x.items()) + ")"
                if x == {}:
                    return f"{k}()"
                return f"{k}({dsl_value(x)})"
        return "{" + ", ".join(f"{_dsl_key(k)}: {dsl_value(x, lit)}" for k, x in v.items()) + "}"
    raise ConvertError(f"cannot write a {type(v).__name__} in a spec")


def _dsl_key(k) -> str:
    if _is_key(k):
        return k
    if not isinstance(k, str):
        raise ConvertError(f"keys must be text, not {type(k).__name__}")
    return _dsl_str(k)


def _raw_ok(ch: str) -> bool:
    """May ``ch`` stand in a spec's text as it is? Not control, format (bidi) or
    separator characters, nor surrogates: those are written as escapes."""
    return ch.isprintable() or (ch != "\x85" and unicodedata.category(ch) in ("Zs", "Co"))


def _dsl_str(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if _raw_ok(ch):
            out.append(ch)
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ConvertError(f"the text {json.dumps(s[:40])} has a lone surrogate; a spec cannot hold it")
        else:
            out.append(json.dumps(ch))  # \uXXXX, or a surrogate pair
    return "".join(x[1:-1] if len(x) > 1 and x.startswith('"') else x for x in out)


def _wrap(head: str, parts: list[str], tail: str, indent: str) -> str:
    """head + parts joined by ', ' + tail, broken after commas past WIDTH and
    aligned under the first part."""
    one = head + ", ".join(parts) + tail
    if len(indent) + len(one) <= WIDTH or len(parts) < 2:
        return one
    pad = " " * len(head)
    lines, cur = [], head
    for i, p in enumerate(parts):
        piece = p + ("," if i < len(parts) - 1 else tail)
        if cur != head and len(indent) + len(cur) + len(piece) + 1 > WIDTH:
            lines.append(cur)
            cur = pad + piece
        else:
            cur = cur + ("" if cur == head else " ") + piece
    lines.append(cur)
    return ("\n" + indent).join(lines)


class _Dsl:
    def __init__(self, data, comments):
        self.data = data
        self.comments = comments or {"lead": {}, "trail": {}, "end": []}
        self.out: list[str] = []
        self.paths: list = []  # the statements written, in order (comments attach to these)

    def emit(self, path, text, indent=""):
        self.paths.append(path)
        for c in self.comments["lead"].get(path, ()):
            self.out.append(indent + c)
        trail = self.comments["trail"].get(path)
        text = indent + text
        if trail:
            text += "  " + trail
        self.out.append(text)

    def blank(self):
        if self.out and self.out[-1] != "":
            self.out.append("")

    def run(self) -> str:
        d = self.data
        if not isinstance(d, dict):
            raise ConvertError("a spec is a mapping of keys")
        unknown = [k for k in d if k not in TOP_KEYS]
        if unknown:
            raise ConvertError(f"the DSL has no statement for top-level key '{unknown[0]}'")
        for k, word in _HEADER.items():
            if k in d:
                self.emit((k,), f"{word} {dsl_value(d[k], lit=k == 'budget')}")
        for section in ("blocks", "inputs", "layers", "outputs", "penalties"):  # each has a method
            if section in d:
                self.blank()
                getattr(self, section)(d[section])
        if "training" in d:
            self.blank()
            t = d["training"]
            if isinstance(t, dict) and list(t) == ["optimizer"]:
                self.emit(("training",), f"optimizer {dsl_value(t['optimizer'])}")
            else:
                t = _ordered(t, _ORDER["training"]) if isinstance(t, dict) else t
                self.emit(("training",), f"training {dsl_value(t, lit=True)}")
        if self.comments["end"]:
            self.blank()
            self.out.extend(self.comments["end"])
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out) + "\n"

    # ------------------------------------------------------------ sections
    def inputs(self, inputs):
        if not isinstance(inputs, dict) or not inputs or not all(_is_key(k) for k in inputs):
            self.emit(("inputs",), f"inputs {dsl_value(inputs, lit=True)}")
            return
        for name, v in inputs.items():
            if isinstance(v, dict) and set(v) == {"shape", "dtype"}:
                text = f"input {name} {dsl_value(v['shape'])} dtype {dsl_value(v['dtype'])}"
            else:
                text = f"input {name} {dsl_value(v, lit=True)}"
            self.emit(("inputs", name), text)

    def outputs(self, outputs):
        ok = isinstance(outputs, dict) and outputs and all(
            (_is_key(k) or (isinstance(k, str) and _DOTTED.match(k))) and (v is None or isinstance(v, dict))
            for k, v in outputs.items())
        if not ok:
            self.emit(("outputs",), f"outputs {dsl_value(outputs, lit=True)}")
            return
        for name, v in outputs.items():
            if isinstance(v, dict):
                v = _ordered(v, _ORDER["output"])
            if v is None:
                text = f"output {name}"
            elif v and all(_is_key(k) for k in v):
                text = f"output {name}  " + "  ".join(f"{k} {dsl_value(x)}" for k, x in v.items())
            else:
                text = f"output {name} {dsl_value(v, lit=True)}"
            self.emit(("outputs", name), text)

    def penalties(self, penalties):
        if not isinstance(penalties, list) or not penalties or not all(isinstance(p, dict) for p in penalties):
            self.emit(("penalties",), f"penalties {dsl_value(penalties, lit=True)}")
            return
        for i, p in enumerate(penalties):
            path = ("penalties", i)
            p = _ordered(p, _ORDER["penalty"])
            if isinstance(p, dict) and list(p) == ["expr"] and expr_ok(p["expr"]) \
                    and not re.match(r"on\b", p["expr"]):
                text = f"penalty {p['expr']}"
            elif isinstance(p, dict) and "on" in p and all(_is_key(k) for k in p):
                text = f"penalty on {dsl_value(p['on'])}" + "".join(
                    f"  {k} {dsl_value(x)}" for k, x in p.items() if k != "on")
            else:
                text = f"penalty {dsl_value(p, lit=True)}"
            self.emit(path, text)

    def blocks(self, blocks):
        if not isinstance(blocks, dict) or not blocks or not all(
                _is_key(k) and self.block_ok(v) for k, v in blocks.items()):
            self.emit(("blocks",), f"blocks {dsl_value(blocks, lit=True)}")
            return
        for name, b in blocks.items():
            self.blank()
            b = _ordered(b, _ORDER["block"], ("layers",))
            params = b.get("params")
            plist = []
            inline_params = isinstance(params, dict) and params and all(_is_key(k) for k in params)
            if inline_params:
                for p, spec in params.items():
                    plist.append(_param(p, spec))
            opts = "".join(f"  {k} {dsl_value(v)}" for k, v in b.items()
                           if k != "layers" and not (k == "params" and inline_params))
            head = _wrap(f"block {name}(", plist, ")", "") if plist else f"block {name}()"
            self.emit(("blocks", name), f"{head}{opts}:")
            self.body(b["layers"], ("blocks", name, "layers"), INDENT)

    @staticmethod
    def block_ok(b) -> bool:
        return (isinstance(b, dict) and all(_is_key(k) for k in b) and isinstance(b.get("layers"), list)
                and bool(b["layers"]) and all(_item_ok(e, nested=True) for e in b["layers"]))

    def layers(self, layers):
        if not isinstance(layers, list) or not layers or not all(_item_ok(e) for e in layers):
            self.emit(("layers",), f"layers {dsl_value(layers, lit=True)}")
            return
        seen, dup = set(), set()
        for e in layers:
            for a in e.values():
                n = a.get("name") if isinstance(a, dict) else None
                if isinstance(n, str):
                    (dup if n in seen else seen).add(n)
        for i, e in enumerate(layers):
            self.item(e, ("layers", i), "", dup)

    def body(self, layers, path, indent):
        for i, e in enumerate(layers):
            self.item(e, path + (i,), indent, set())

    def item(self, e, path, indent, dup):
        (key, args), = e.items()
        if isinstance(args, dict) and key == "repeat" and _repeat_ok(args):
            name = args.get("name")
            target = f"{name} = " if isinstance(name, str) and _is_key(name) and name not in dup else ""
            rest = "".join(f"  {k} {dsl_value(v)}" for k, v in args.items()
                           if k not in ("times", "layers") and not (k == "name" and target))
            self.emit(path, f"{target}repeat {dsl_value(args['times'])}{rest}:", indent)
            self.body(args["layers"], path + ("repeat", "layers"), indent + INDENT)
            return
        self.emit(path, layer_call(key, args, dup, indent), indent)


def _param(p, spec) -> str:
    if spec is None:
        return p
    if isinstance(spec, dict) and list(spec) == ["default"]:
        return f"{p}={dsl_value(spec['default'])}"
    if isinstance(spec, dict) and set(spec) == {"type", "default"} and isinstance(spec["type"], str):
        return f"{p}: {dsl_value(spec['type'])} = {dsl_value(spec['default'])}"
    return f"{p}: {dsl_value(spec, lit=True)}"


def _item_ok(e, nested=False) -> bool:
    """Can this layer item be a statement?"""
    if not isinstance(e, dict) or len(e) != 1:
        return False
    (key, args), = e.items()
    if not _is_word(key) or not isinstance(args, dict) or not all(_is_key(k) for k in args):
        return False
    if key == "repeat" and _repeat_ok(args):
        return all(_item_ok(x, nested=True) for x in args["layers"])
    return True


def _repeat_ok(args) -> bool:
    return ("times" in args and isinstance(args.get("layers"), list) and bool(args["layers"])
            and all(isinstance(x, dict) and len(x) == 1 for x in args["layers"]))


def layer_call(key, args, dup=frozenset(), indent="") -> str:
    args = dict(args)
    name = args.get("name")
    target = ""
    if isinstance(name, str) and _is_key(name) and name not in dup:
        target = f"{name} = "
        del args["name"]
    parts = []
    if key == "reuse" and isinstance(args.get("layer"), str):
        parts.append(dsl_value(args.pop("layer")))
        if "from" in args:
            parts += _from_parts(args.pop("from"))
    elif key != "reuse" and "from" in args:
        parts += _from_parts(args.pop("from"))
    parts += [f"{k}={dsl_value(v)}" for k, v in args.items()]
    return _wrap(f"{target}{key}(", parts, ")", indent)


def _from_parts(f) -> list[str]:
    if isinstance(f, list) and len(f) >= 2:
        return [dsl_value(x, lit=True) for x in f]
    return [dsl_value(f, lit=True)]


def to_dsl(data, comments=None) -> str:
    """Canonical .nns text for spec data (``comments`` as parse_dsl or yaml_comments give them)."""
    if comments and (comments["lead"] or comments["trail"]):
        probe = _Dsl(data, None)
        probe.run()
        comments = _rehome(comments, probe.paths)
    return _Dsl(data, comments).run()


# ================================================================ YAML
_resolver = yaml.resolver.Resolver()
_PLAIN = re.compile(r"^\$?[A-Za-z_][A-Za-z0-9_.]*\Z")
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$]*\Z")
_ORDER = {
    "penalty": ("on", "l1", "l2", "l1_l2", "reduce", "expr"),
    "output": ("loss", "weight", "metrics"),
    "input": ("shape", "dtype"),
    "training": ("optimizer",),
    "block": ("description", "params", "inputs", "outputs"),
}


def _yaml_str(s: str) -> str:
    if (_PLAIN.match(s) and not s.endswith(".") or _QUANTITY.match(s)) and \
            _resolver.resolve(yaml.ScalarNode, s, (True, False)) == "tag:yaml.org,2002:str":
        return s
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif 0xD800 <= o <= 0xDFFF:
            raise ConvertError(f"the text {json.dumps(s[:40])} has a lone surrogate; YAML cannot hold it")
        elif o < 0x20 or 0x7F <= o <= 0xA0 or o in (0xFEFF, 0xFFFE, 0xFFFF) or not _raw_ok(ch):
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _yaml_key(k) -> str:
    if not isinstance(k, str):
        raise ConvertError(f"keys must be text, not {type(k).__name__}")
    if _PLAIN_KEY.match(k):
        return k
    return _yaml_str(k) if not _PLAIN.match(k) else k


def yaml_flow(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return _num(v)
    if isinstance(v, str):
        return _yaml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(yaml_flow(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_yaml_key(k)}: {yaml_flow(x)}" for k, x in v.items()) + "}"
    raise ConvertError(f"cannot write a {type(v).__name__} in a spec")


def _ordered(d: dict, first=(), last=()) -> dict:
    out = {k: d[k] for k in first if k in d}
    out.update({k: v for k, v in d.items() if k not in first and k not in last})
    out.update({k: d[k] for k in last if k in d})
    return out


def _yaml_flow_wrapped(prefix: str, d: dict) -> str:
    """``prefix{k: v, ...}`` broken after commas past WIDTH, aligned under the first key."""
    parts = [f"{_yaml_key(k)}: {yaml_flow(x)}" for k, x in d.items()]
    return _wrap(prefix + "{", parts, "}", "") if parts else prefix + "{}"


class _Yaml:
    def __init__(self, data, comments=None):
        self.data = data
        self.comments = comments or {"lead": {}, "trail": {}, "end": []}
        self.out: list[str] = []
        self.paths: list = []  # the statements written, in order (comments attach to these)

    def blank(self):
        if self.out and self.out[-1] != "":
            self.out.append("")

    def emit(self, path, text, indent=""):
        """One statement's text (maybe several lines): its leading comments
        above it, at its indentation; its trailing comment after it."""
        self.paths.append(path)
        for c in self.comments["lead"].get(path, ()):
            self.out.append(indent + c)
        trail = self.comments["trail"].get(path)
        self.out.append(text + ("  " + trail if trail else ""))

    def run(self) -> str:
        d = self.data
        if not isinstance(d, dict):
            return yaml_flow(d) + "\n"
        d = _ordered(d, TOP_KEYS)
        for k in _HEADER:
            if k in d:
                self.emit((k,), f"{k}: {yaml_flow(d[k])}")
        for k, v in d.items():
            if k in _HEADER:
                continue
            self.blank()
            if k == "inputs" and isinstance(v, dict) and v:
                self.emit((k,), "inputs:")
                for n, x in v.items():
                    x = _ordered(x, _ORDER["input"]) if isinstance(x, dict) else x
                    self.emit((k, n), f"  {_yaml_key(n)}: {yaml_flow(x)}", "  ")
            elif k == "blocks" and isinstance(v, dict) and v:
                self.emit((k,), "blocks:")
                for n, b in v.items():
                    if isinstance(b, dict) and isinstance(b.get("layers"), list) and b["layers"]:
                        self.emit((k, n), f"  {_yaml_key(n)}:", "  ")
                        b = _ordered(b, _ORDER["block"], ("layers",))
                        for bk, bv in b.items():
                            if bk != "layers":
                                self.out.append(f"    {_yaml_key(bk)}: {yaml_flow(bv)}")
                        self.out.append("    layers:")
                        self.items(b["layers"], "      ", (k, n, "layers"))
                    else:
                        self.emit((k, n), f"  {_yaml_key(n)}: {yaml_flow(b)}", "  ")
            elif k == "layers" and isinstance(v, list) and v:
                self.emit((k,), "layers:")
                self.items(v, "  ", (k,))
            elif k == "outputs" and isinstance(v, dict) and v:
                self.emit((k,), "outputs:")
                for n, x in v.items():
                    x = _ordered(x, _ORDER["output"]) if isinstance(x, dict) else x
                    self.emit((k, n), f"  {_yaml_key(n)}: {yaml_flow(x)}", "  ")
            elif k == "penalties" and isinstance(v, list) and v:
                self.emit((k,), "penalties:")
                for i, p in enumerate(v):
                    p = _ordered(p, _ORDER["penalty"]) if isinstance(p, dict) else p
                    self.emit((k, i), f"  - {yaml_flow(p)}", "  ")
            elif k == "training" and isinstance(v, dict) and v:
                self.emit((k,), "training:")
                for tk, tv in _ordered(v, _ORDER["training"]).items():
                    self.out.append(f"  {_yaml_key(tk)}: {yaml_flow(tv)}")
            else:
                self.emit((k,), f"{_yaml_key(k)}: {yaml_flow(v)}")
        if self.comments["end"]:
            self.blank()
            self.out.extend(self.comments["end"])
        return "\n".join(self.out) + "\n"

    def items(self, layers, indent, path):
        for i, e in enumerate(layers):
            ipath = path + (i,)
            if isinstance(e, dict) and len(e) == 1:
                (key, args), = e.items()
                if key == "repeat" and isinstance(args, dict) and isinstance(args.get("layers"), list) \
                        and args["layers"]:
                    self.emit(ipath, f"{indent}- repeat:", indent)
                    for rk, rv in _ordered(args, ("times",), ("layers",)).items():
                        if rk != "layers":
                            self.out.append(f"{indent}    {_yaml_key(rk)}: {yaml_flow(rv)}")
                    self.out.append(f"{indent}    layers:")
                    self.items(args["layers"], indent + "      ", ipath + ("repeat", "layers"))
                    continue
                if isinstance(args, dict):
                    if key == "reuse":
                        args = _ordered(args, ("layer", "from", "name"))
                    else:
                        args = _ordered(args, (), ("name", "from"))
                    self.emit(ipath, _yaml_flow_wrapped(f"{indent}- {_yaml_key(key)}: ", args), indent)
                    continue
            self.emit(ipath, f"{indent}- {yaml_flow(e)}", indent)


def to_yaml(data, comments=None) -> str:
    """Canonical YAML text for spec data, in the layout of the shipped specs;
    ``comments`` as ``yaml_comments`` or ``parse_dsl`` give them."""
    if comments and (comments["lead"] or comments["trail"]):
        probe = _Yaml(data)
        probe.run()
        comments = _rehome(comments, probe.paths)
    return _Yaml(data, comments).run()


# ================================================================ comments
def _rehome(comments, paths):
    """Comments keyed by statements the output does not write (a section written
    whole, a YAML section key) move to the nearest statement it does write: the
    first one inside (as leading comments), else the nearest enclosing one."""
    written = set(paths)
    order = {p: i for i, p in reversed(list(enumerate(paths)))}
    moved = []  # (target, kind, source path length, seq, lines)
    seq = 0
    for kind in ("lead", "trail"):
        for path, c in comments[kind].items():
            lines = list(c) if kind == "lead" else [c]
            seq += 1
            if path in written:
                moved.append((path, kind, len(path), seq, lines))
                continue
            inner = next((p for p in paths if p[:len(path)] == path), None)
            if inner is not None:
                moved.append((inner, "lead", len(path), seq, lines))
                continue
            outer = next((path[:n] for n in range(len(path) - 1, 0, -1) if path[:n] in written), None)
            if outer is not None:
                moved.append((outer, kind, len(path), seq, lines))
            else:
                moved.append((None, "end", len(path), seq, lines))
    lead, trail, end = {}, {}, []
    # leading comments from enclosing statements come first, as they did in the source
    for target, kind, _n, _s, lines in sorted(moved, key=lambda m: (order.get(m[0], -1), m[2], m[3])):
        if kind == "lead":
            lead.setdefault(target, []).extend(lines)
        elif kind == "trail":
            trail.setdefault(target, []).extend(lines)
        else:
            end.extend(lines)
    return {"lead": lead, "trail": {k: "  ".join(v) for k, v in trail.items()},
            "end": end + list(comments["end"])}


def statements(data) -> list:
    """The statement paths of spec data, as the DSL and the YAML emitter write them."""
    out = []
    if not isinstance(data, dict):
        return out

    def items(layers, path):
        for i, e in enumerate(layers):
            out.append(path + (i,))
            if isinstance(e, dict) and len(e) == 1 and isinstance(e.get("repeat"), dict) \
                    and isinstance(e["repeat"].get("layers"), list):
                items(e["repeat"]["layers"], path + (i, "repeat", "layers"))

    for k, v in data.items():
        out.append((k,))
        if k in ("inputs", "outputs") and isinstance(v, dict):
            out += [(k, n) for n in v]
        elif k == "blocks" and isinstance(v, dict):
            for n, b in v.items():
                out.append((k, n))
                if isinstance(b, dict) and isinstance(b.get("layers"), list):
                    items(b["layers"], (k, n, "layers"))
        elif k == "layers" and isinstance(v, list):
            items(v, (k,))
        elif k == "penalties" and isinstance(v, list):
            out += [(k, i) for i in range(len(v))]
    return out


def yaml_comments(doc) -> dict:
    """The comments of a YAML spec, attached to its statements by the DSL's rules
    (dsl.attach_comments): a statement is a top-level key, a section's entry or
    item, a layer item in ``layers``, a block or a repeat; it spans the lines of
    everything in it but the statements inside it."""
    from .dsl import attach_comments
    paths = statements(doc.data)
    owned = set(paths)
    parents = {p[:-1] for p in paths}
    span = {}  # path -> [first line, last line]
    for p in paths:
        q = doc.pos.get(p)
        if q:
            line = q[0] or q[2]  # a key's line; a list item's own
            span[p] = [line, line]
    for q, where in doc.pos.items():
        for n in range(len(q), 0, -1):
            if q[:n] in owned:
                s = span.get(q[:n])
                if s is not None:
                    # `layers:` (or a section's key) belongs to its statement; the statements under it do not
                    last = where[0] if q in parents and where[0] else max(where[0], where[2])
                    if last > s[1]:
                        s[1] = last
                break
    stmts = [(s[0], s[1], p) for p, s in span.items()]
    return attach_comments(_yaml_comment_lines(doc.text), stmts)


def _yaml_comment_lines(text):
    """(line, text, own line?) of every comment: a '#' at the start of a line or
    after a blank, outside every scalar (the parser's marks say where those are)."""
    import bisect
    lines = text.splitlines()
    from .yaml_loader import _Loader
    try:  # marks count characters, with libyaml too
        spans = sorted((e.start_mark.index, e.end_mark.index) for e in yaml.parse(text, Loader=_Loader)
                       if isinstance(e, yaml.ScalarEvent))
    except yaml.YAMLError:  # pragma: no cover - the text was loaded before
        spans = []
    starts = [s for s, _ in spans]
    out = []
    offset = 0
    for n, line in enumerate(lines, 1):
        i = line.find("#")
        while i >= 0:
            if i == 0 or line[i - 1] in " \t":
                at = offset + i
                k = bisect.bisect_right(starts, at) - 1
                if k < 0 or not (spans[k][0] <= at < spans[k][1]):
                    out.append((n, line[i:].rstrip(), not line[:i].strip()))
                    break
            i = line.find("#", i + 1)
        offset += len(line) + _break_len(text, offset + len(line))
    return out


def _break_len(text, at):
    return 2 if text.startswith("\r\n", at) else (1 if at < len(text) else 0)
