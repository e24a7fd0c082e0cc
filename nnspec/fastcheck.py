"""A fast yes/no JSON Schema check, compiled into closures.

Why: jsonschema's ``iter_errors`` costs ~0.4 ms per layer here (it resolves
``$ref`` through its registry at every step), so a 10,000-layer spec took 4 s.
Valid specs are the common case in CI, so ``validate`` first asks this
compiled check, which only answers valid / invalid, and runs jsonschema (for
its positioned, complete error list) only on specs that fail it.

It supports exactly the draft-07 keywords nnspec's schema uses, and refuses to
compile a schema with any other keyword, so it can never silently skip a rule
(definitions and properties compile when first reached; tests/test_fastcheck.py compiles nnspec's
whole schema eagerly, so an unsupported keyword fails there, not in a user's run).
tests/test_fastcheck.py checks it agrees with jsonschema on generated documents.
"""
from __future__ import annotations

import re

_IGNORED = {"description", "default", "title", "$schema", "$id", "x-nnspec", "$comment", "definitions"}


def _is_type(value, t: str) -> bool:
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if t == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float))
    raise ValueError(f"unknown type {t}")


def _same(a, b) -> bool:
    """jsonschema's equality: booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


class Compiler:
    def __init__(self, root: dict, eager: bool = False):
        self.root, self.eager = root, eager
        self.refs: dict[str, object] = {}

    def ref(self, ref: str):
        """A definition, compiled when a value first reaches it: a spec names a few of the ~100 op
        definitions, and compiling them all took a fifth of validating one small spec. Recursion-safe
        (a definition that refers to itself gets this same function)."""
        fn = self.refs.get(ref)
        if fn is None:
            if not ref.startswith("#/definitions/"):
                raise ValueError(f"unsupported $ref {ref}")
            definition = self.root["definitions"][ref.split("/")[-1]]
            cell = []

            def fn(v):
                if not cell:
                    cell.append(self.compile(definition))
                return cell[0](v)
            self.refs[ref] = fn
        return fn

    def compile_all(self) -> None:
        """Compile every definition now: raises ValueError on any keyword fastcheck does not support
        (tests/test_fastcheck.py runs it on nnspec's schema, since ``ref`` compiles lazily)."""
        self.compile(self.root)
        for definition in self.root.get("definitions", {}).values():
            self.compile(definition)

    def compile(self, schema) -> object:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        checks = []
        unknown = set(schema) - _IGNORED - _KEYWORDS
        if unknown:
            raise ValueError(f"fastcheck does not support {sorted(unknown)}")
        for key, fn in _KEYWORD_FNS:
            if key in schema:
                checks.append(fn(self, schema[key], schema))
        checks = [c for c in checks if c is not None]
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)


def _k_ref(c, ref, s):
    return c.ref(ref)


def _k_type(c, t, s):
    types = t if isinstance(t, list) else [t]
    if len(types) == 1:
        t0 = types[0]
        return lambda v: _is_type(v, t0)
    return lambda v: any(_is_type(v, x) for x in types)


def _k_enum(c, values, s):
    hashable = all(isinstance(x, str) for x in values)
    if hashable:
        vs = frozenset(values)
        return lambda v: isinstance(v, str) and v in vs
    return lambda v: any(_same(v, x) for x in values)


def _k_const(c, value, s):
    return lambda v: _same(v, value)


def _k_properties(c, props, s):
    # each property's schema compiles when a value first has the key (a layer uses a few of its
    # op's 20-40 arguments; compiling them all was most of validating one small spec's schema)
    compiled = {k: c.compile(v) for k, v in props.items()} if c.eager else {}
    patterns = [(re.compile(p), c.compile(v)) for p, v in s.get("patternProperties", {}).items()]
    extra = s.get("additionalProperties", True)
    extra_fn = None if extra is False else c.compile(extra)

    def check(v):
        if not isinstance(v, dict):
            return True
        for k, x in v.items():
            fn = compiled.get(k)
            if fn is None and k in props:
                fn = compiled[k] = c.compile(props[k])
            matched = fn is not None
            if matched and not fn(x):
                return False
            for rx, pfn in patterns:
                if rx.search(k):
                    matched = True
                    if not pfn(x):
                        return False
            if not matched:
                if extra_fn is None or not extra_fn(x):
                    return False
        return True
    return check


def _k_pattern_props(c, pats, s):
    if "properties" in s:
        return None  # handled with properties
    return _k_properties(c, {}, s)


def _k_additional(c, extra, s):
    if "properties" in s or "patternProperties" in s:
        return None  # handled with properties
    fn = c.compile(extra)
    return lambda v: not isinstance(v, dict) or all(fn(x) for x in v.values())


def _k_required(c, req, s):
    return lambda v: not isinstance(v, dict) or all(k in v for k in req)


def _k_property_names(c, schema, s):
    fn = c.compile(schema)
    return lambda v: not isinstance(v, dict) or all(fn(k) for k in v)


def _size(kind, at_least: bool):
    """min/max Properties, Items, Length: a size bound that ignores other types."""
    def make(c, n, s):
        if at_least:
            return lambda v: not isinstance(v, kind) or len(v) >= n
        return lambda v: not isinstance(v, kind) or len(v) <= n
    return make


_k_min_props, _k_max_props = _size(dict, True), _size(dict, False)
_k_min_items, _k_max_items = _size(list, True), _size(list, False)
_k_min_len, _k_max_len = _size(str, True), _size(str, False)


def _k_items(c, schema, s):
    if isinstance(schema, list):
        raise ValueError("tuple-form items is not supported")
    fn = c.compile(schema)
    return lambda v: not isinstance(v, list) or all(fn(x) for x in v)


def _k_pattern(c, p, s):
    rx = re.compile(p)
    return lambda v: not isinstance(v, str) or rx.search(v) is not None


def _k_unique(c, flag, s):
    if not flag:
        return None

    def check(v):
        if not isinstance(v, list):
            return True
        return not any(_same(v[i], v[j]) for i in range(len(v)) for j in range(i + 1, len(v)))
    return check


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _k_minimum(c, n, s):
    return lambda v: not _num(v) or v >= n


def _k_maximum(c, n, s):
    return lambda v: not _num(v) or v <= n


def _k_exmin(c, n, s):
    return lambda v: not _num(v) or v > n


def _k_exmax(c, n, s):
    return lambda v: not _num(v) or v < n


def _k_any(c, subs, s):
    fns = [c.compile(x) for x in subs]
    return lambda v: any(f(v) for f in fns)


def _k_one(c, subs, s):
    fns = [c.compile(x) for x in subs]
    return lambda v: sum(1 for f in fns if f(v)) == 1


def _k_all(c, subs, s):
    fns = [c.compile(x) for x in subs]
    return lambda v: all(f(v) for f in fns)


# cheap, discriminating checks first
_KEYWORD_FNS = (
    ("$ref", _k_ref), ("type", _k_type), ("enum", _k_enum), ("const", _k_const),
    ("minimum", _k_minimum), ("maximum", _k_maximum), ("exclusiveMinimum", _k_exmin), ("exclusiveMaximum", _k_exmax),
    ("minLength", _k_min_len), ("maxLength", _k_max_len), ("pattern", _k_pattern),
    ("minItems", _k_min_items), ("maxItems", _k_max_items), ("uniqueItems", _k_unique),
    ("minProperties", _k_min_props), ("maxProperties", _k_max_props), ("required", _k_required),
    ("propertyNames", _k_property_names), ("properties", _k_properties),
    ("patternProperties", _k_pattern_props), ("additionalProperties", _k_additional),
    ("items", _k_items), ("anyOf", _k_any), ("oneOf", _k_one), ("allOf", _k_all),
)
_KEYWORDS = {k for k, _ in _KEYWORD_FNS}


def compile_schema(schema: dict, eager: bool = False):
    """A function value -> bool that says whether ``value`` is valid under ``schema``. Definitions
    and properties compile when first reached, unless ``eager`` (which also checks every keyword is supported)."""
    c = Compiler(schema, eager)
    if eager:
        c.compile_all()
    return c.compile(schema)
