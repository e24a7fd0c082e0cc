"""The JSON Schema of a spec, generated from the op catalog and the vocabulary,
and the translation of jsonschema's errors into positioned diagnostics.

``schemas/nnspec-v1.schema.json`` is this module's output, committed; a test
fails when they differ (regenerate with ``nnspec schema > schemas/nnspec-v1.schema.json``).

Layer arguments are dispatched on the layer type key (``properties`` of a
one-key mapping), never ``oneOf``: a wrong argument yields "Dense has no
argument 'unit'", not "is not valid under any of the given schemas".
"""
from __future__ import annotations

import functools
import json
import re

from . import budget, codes, vocab
from .naming import STRUCTURAL
from .diagnostics import Diagnostic, closest, did_you_mean
from .ops import CATALOG
from .ops.base import REQUIRED

SCHEMA_ID = "https://raw.githubusercontent.com/nnspec/nnspec/main/schemas/nnspec-v1.schema.json"
# `$(?!\n)`: Python's `$` (jsonschema, fastcheck) also matches before a final newline
IDENT = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$(?!\n)", "maxLength": 128,
         "description": "a name: letters, digits and _, not starting with a digit"}
REF = IDENT  # names of layers inside block calls are prefixed: stem_conv2d
# a tensor: a layer or input, or one output of a layer with several (`enc.state_h`); `enc[1]` passes
# here so that resolve can say which name to write
TENSOR = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]{1,4}\])?$(?!\n)",
          "maxLength": 257, "description": "a tensor: a layer or input name, or layer.output (e.g. enc.state_h)"}
BLOCK_NAME = {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$(?!\n)", "maxLength": 128,
              "description": "a block name: lowercase letters, digits and _ (layer types are capitalised)"}
PARAM_TYPES = ["int", "float", "bool", "str", "any"]
DTYPES = ["float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/definitions/{name}"}


FROM = {
    "description": "input tensor(s): a name, a list of names, or a mapping {input role: name}",
    "anyOf": [
        TENSOR,
        {"type": "array", "items": TENSOR, "minItems": 1, "maxItems": 64},
        {"type": "object", "additionalProperties": {
            "anyOf": [TENSOR, {"type": "array", "items": TENSOR, "minItems": 1, "maxItems": 64}],
            "description": "a tensor, or a list of tensors (initial_state: [h, c])"}, "minProperties": 1},
    ],
}

COMMON_LAYER_ARGS = {
    "name": {**REF, "description": "the layer's (and its output tensor's) name; default: Keras-style, e.g. dense_1"},
    "from": {**FROM, "description": "input tensor(s); default: the previous layer's output"},
    "trainable": {"type": "boolean", "description": "false freezes the layer's weights"},
    "activity_regularizer": {"anyOf": [_ref("regularizer"), {"type": "null"}],
                             "description": "a penalty on the layer's output (Keras divides it by the batch size)"},
}


def op_schema(op) -> dict:
    props = {}
    for arg in op.args:
        s = dict(arg.schema)
        if arg.doc and "description" not in s:
            s["description"] = arg.doc
        if arg.default is not REQUIRED and "$ref" not in s:
            s["default"] = arg.default
        props[arg.name] = s
    props.update({k: _ref(f"common_{k}") for k in COMMON_LAYER_ARGS})
    required = [a.name for a in op.args if a.required]
    out = {"description": op.doc, "type": ["object", "null"] if not required else "object",
           "properties": props, "additionalProperties": False, "x-nnspec": f"args:{op.name}"}
    if required:
        out["required"] = required
    return out


def _dispatch(keys: dict, kind: str, description: str) -> dict:
    return {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": keys,
            "additionalProperties": False, "x-nnspec": kind, "description": description}


class _LazyOpDefinitions(dict):
    """The schema's definitions with each op's made when first looked up (fastcheck's $ref): a spec
    uses a few of the op families, and only those load (ops.CATALOG)."""

    def __missing__(self, key):
        if key.startswith("op_") and key[3:] in CATALOG:
            value = self[key] = op_schema(CATALOG[key[3:]])
            return value
        raise KeyError(key)


def generate() -> dict:
    """The JSON Schema of the spec format (schemas/nnspec-v1.schema.json)."""
    return _generate(False)


@functools.lru_cache(maxsize=2)
def _generate(lazy: bool) -> dict:
    """With ``lazy``, the op definitions are made when looked up (for fastcheck, which reaches them
    through $ref only): the same schema, a lookup away."""
    from .ops import names
    defs = _LazyOpDefinitions() if lazy else {}
    defs.update(vocab.definitions())
    defs.update({f"common_{k}": v for k, v in COMMON_LAYER_ARGS.items()})
    if not lazy:
        for name in sorted(CATALOG):
            defs[f"op_{name}"] = op_schema(CATALOG[name])
    ops = {name: _ref(f"op_{name}") for name in sorted(CATALOG if not lazy else names())}
    defs["layer_item"] = _dispatch(ops, "layer", "a layer: a one-key mapping {Type: {args}}")
    defs["layer_entry"] = _dispatch(
        {**ops, "reuse": _ref("reuse"), "repeat": _ref("repeat")}, "layer",
        "a layer {Type: {args}}, {reuse: {layer, from, name}} to call an existing layer again, "
        "{repeat: {times, layers}}, or a call of a block defined under blocks:")
    defs["layer_entry"]["patternProperties"] = {
        BLOCK_NAME["pattern"]: {"type": ["object", "null"], "description": "a call of a block: {param: value, ...}"}}
    defs["block_entry"] = {"type": "object", "minProperties": 1, "maxProperties": 1, "x-nnspec": "layer",
                           "description": "a layer inside a block or repeat: {Type: {args}} where args may "
                                          "use $param; checked once expanded"}
    defs["repeat"] = {
        "type": "object", "required": ["times", "layers"], "additionalProperties": False, "x-nnspec": "repeat",
        "description": "times distinct copies of layers (own weights); $i is the copy's index",
        "properties": {"times": {"type": "integer", "minimum": 1, "maximum": 10000},
                       "layers": {"type": "array", "minItems": 1, "items": _ref("block_entry")}}}
    param = {"anyOf": [{"enum": PARAM_TYPES, "description": "a type: " + ", ".join(PARAM_TYPES)},
                       {"type": "object", "additionalProperties": False, "minProperties": 1,
                        "properties": {"type": {"enum": PARAM_TYPES}, "default": {}},
                        "description": "{type, default}"}],
             "description": "a parameter: its type, or {type, default}"}
    defs["block"] = {
        "type": "object", "required": ["layers"], "additionalProperties": False, "x-nnspec": "block",
        "description": "a reusable module: typed parameters, inputs, outputs and layers",
        "properties": {"description": {"type": "string"},
                       "params": {"type": "object", "propertyNames": IDENT, "additionalProperties": param},
                       "inputs": {"type": "array", "items": IDENT, "minItems": 1, "uniqueItems": True,
                                  "description": "input names, referred to as $name (default: [in], $in)"},
                       "outputs": {"type": "array", "items": TENSOR, "minItems": 1, "uniqueItems": True,
                                   "description": "output layers (default: the last); the first takes the call's name"},
                       "layers": {"type": "array", "minItems": 1, "items": _ref("block_entry")}}}
    defs["reuse"] = {
        "type": "object", "required": ["layer"], "additionalProperties": False, "x-nnspec": "args:reuse",
        "description": "call an already defined layer again (shared weights) on another tensor",
        "properties": {"layer": {**REF, "description": "the name of the layer to call again"},
                       "from": COMMON_LAYER_ARGS["from"], "name": COMMON_LAYER_ARGS["name"]},
    }
    shape = {"type": "array", "maxItems": 8,
             "items": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, {"type": "null"}],
                       "description": "a positive size, or null for unknown"},
             "description": "a shape without the batch axis, e.g. [1, 64]; null for an unknown size"}
    defs["input"] = {
        "description": "a shape without the batch axis ([1, 64]) or {shape, dtype}",
        "anyOf": [shape, {"type": "object", "required": ["shape"], "additionalProperties": False,
                          "x-nnspec": "input", "description": "{shape, dtype, range}",
                          "properties": {"shape": shape, "dtype": {"enum": DTYPES},
                                         # checked by resolve (bad-range): lo <= hi are two numbers
                                         "range": {"description": "[lo, hi]: every element of the input lies "
                                                   "in it (the default box of nnspec bounds)"}}}],
    }
    defs["output"] = {
        "type": ["object", "null"], "additionalProperties": False, "x-nnspec": "output",
        "description": "null (returned, no loss) or {loss, weight, metrics}",
        "properties": {"loss": _ref("loss"),
                       "weight": {"type": "number", "minimum": 0, "description": "loss weight (default 1)"},
                       "metrics": {"type": "array", "items": _ref("metric")}},
    }
    names = {"anyOf": [TENSOR, {"type": "array", "items": TENSOR, "minItems": 1}],
             "description": "a tensor name or a list of names"}
    defs["penalty"] = {
        "type": "object", "additionalProperties": False, "x-nnspec": "penalty",
        "description": "{on, l1|l2|l1_l2, reduce} or {expr}: a term added to the training loss",
        "properties": {"on": names, "l1": vocab.NONNEG_NUM, "l2": vocab.NONNEG_NUM,
                       "l1_l2": vocab.REGULARIZERS["l1_l2"],
                       "reduce": {"enum": ["sum", "mean"], "default": "sum"},
                       "expr": vocab.EXPR},
    }
    defs.update(budget.schema_definitions())
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "nnspec model spec, format 1",
        "type": "object",
        "required": ["nnspec", "name", "inputs", "layers", "outputs"],
        "additionalProperties": False,
        "x-nnspec": "spec",
        "properties": {
            "nnspec": {"const": 1, "description": "format version: 1"},
            "name": {**IDENT, "description": "the model's name"},
            "description": {"type": "string", "maxLength": 10000},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                     "description": "makes initial weights reproducible"},
            "inputs": {"type": "object", "minProperties": 1, "propertyNames": IDENT,
                       "additionalProperties": _ref("input"), "description": "name -> shape"},
            "layers": {"type": "array", "minItems": 1, "items": _ref("layer_entry"),
                       "description": "ordered; each item's input defaults to the previous item"},
            "blocks": {"type": "object", "propertyNames": BLOCK_NAME, "additionalProperties": _ref("block"),
                       "description": "reusable modules, called from layers: like a layer type"},
            "outputs": {"type": "object", "minProperties": 1, "propertyNames": TENSOR,
                        "additionalProperties": _ref("output"),
                        "description": "tensor name -> {loss, weight, metrics} or null"},
            "penalties": {"type": "array", "items": _ref("penalty")},
            "requires_import": {"type": "array", "items": vocab.MODULE, "uniqueItems": True,
                                "description": "modules whose objects the spec's `custom:` references need; a "
                                               "declaration, not a permission: the person running nnspec allows "
                                               "them with --allow-import or [tool.nnspec] allow_import in "
                                               "pyproject.toml"},
            "weights": {"type": "string", "minLength": 1, "maxLength": 1000,
                        "description": "initial weights: a .keras or .weights.h5 file, relative to the spec and "
                                       "inside its directory (no absolute path, no '..'), loaded by layer name by "
                                       "nnspec compile and check"},
            "training": {"type": "object", "additionalProperties": False, "x-nnspec": "training",
                         "properties": {"optimizer": _ref("optimizer")}},
            "budget": _ref("budget"),
        },
        "definitions": defs,
    }


def dumps() -> str:
    return json.dumps(generate(), indent=2, sort_keys=False) + "\n"


@functools.lru_cache(maxsize=1)
def validator():
    from jsonschema import Draft7Validator
    return Draft7Validator(generate())


# ------------------------------------------------------------ error translation
_TYPE_WORDS = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}
_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
               "number": (int, float), "null": type(None)}


def _found(value) -> str:
    word = _TYPE_WORDS.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return word
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{word} {text}" if not isinstance(value, type(None)) else "null"


def _expected(schema: dict) -> str:
    if "description" in schema and ("anyOf" in schema or "enum" in schema or "pattern" in schema
                                    or "minimum" in schema or "exclusiveMinimum" in schema):
        return schema["description"]
    if "enum" in schema:
        vals = schema["enum"]
        shown = ", ".join(json.dumps(v) for v in vals[:8]) + (", ..." if len(vals) > 8 else "")
        return f"one of {shown}"
    t = schema.get("type")
    if isinstance(t, list):
        return " or ".join(_type_word(x) for x in t)
    if t:
        return _type_word(t)
    return schema.get("description", "a valid value")


def _type_word(t: str) -> str:
    return {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false",
            "integer": "an integer", "number": "a number", "null": "null"}.get(t, t)


def _matches_type(schema: dict, value) -> bool:
    t = schema.get("type")
    if t is None:
        if "enum" in schema:
            return any(type(v) is type(value) or (isinstance(v, (int, float)) and isinstance(value, (int, float)))
                       for v in schema["enum"])
        return True  # $ref, anyOf, {}: no type of its own to rule the value out
    types = t if isinstance(t, list) else [t]
    for name in types:
        py = _JSON_TYPES[name]
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, py):
            return True
    return False


def _allow_import_in_spec(value, span) -> Diagnostic:
    """The old `allow_import:` key: specs declare (requires_import), only the person running nnspec allows."""
    mods = [m for m in value if isinstance(m, str) and re.match(r"[A-Za-z_][\w.]*\Z", m)] \
        if isinstance(value, list) else []
    root = mods[0].split(".")[0] if mods else "mypkg"
    return Diagnostic(
        codes.ALLOW_IMPORT_IN_SPEC, "a spec cannot allow imports: permission comes from the person running nnspec, "
        "not from the spec", span,
        f"rename allow_import to requires_import (a declaration of what the spec needs: {', '.join(mods) or root}), "
        f'and run with --allow-import {root}, or add allow_import = ["{root}"] under [tool.nnspec] in pyproject.toml')


# At most this many schema diagnostics: jsonschema and the did-you-mean hints take time per
# problem, and a file can hold 100,000 unknown keys (README "Limits")
MAX_DIAGNOSTICS = 100


def translate(error, doc) -> list[Diagnostic]:
    """One jsonschema error -> diagnostics with positions from ``doc``."""
    path = tuple(error.absolute_path)
    v = error.validator
    inst = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = schema.get("x-nnspec", "")
    span = doc.span(path)
    where = _where(path)

    if kind.startswith("quantity:"):  # a budget's limit: one message with the syntax, whatever failed
        expected, hint = budget.explain(inst, kind[9:])
        return [Diagnostic(codes.BAD_QUANTITY, f"{_label(path, error)}: expected {expected}, found {_found(inst)}",
                           span, hint)]
    if v in ("anyOf", "oneOf"):
        return _translate_any(error, doc)
    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        out = []
        for key in inst:
            if key in allowed:
                continue
            if len(out) >= MAX_DIAGNOSTICS:
                break
            kspan = doc.span(path + (key,), key=True)
            if kind == "layer":
                hint = did_you_mean(key, allowed) or "see `nnspec ops` for the layer types"
                if key[:1].islower() and key.title() not in allowed and key not in STRUCTURAL:
                    hint = did_you_mean(key, allowed) or "layer types are Keras class names, e.g. Dense, Conv2D"
                out.append(Diagnostic(codes.UNKNOWN_LAYER_TYPE, f"unknown layer type '{key}'", kspan, hint))
            elif kind.startswith("args:"):
                owner = kind[5:]
                hint = did_you_mean(key, allowed)
                if hint is None:
                    hint = f"{owner} takes: " + ", ".join(a for a in allowed if a not in COMMON_LAYER_ARGS)
                out.append(Diagnostic(codes.UNKNOWN_ARGUMENT, f"{owner} has no argument '{key}'", kspan, hint))
            elif kind == "spec" and key == "allow_import":
                out.append(_allow_import_in_spec(inst.get("allow_import"), kspan))
            else:
                if kind == "metric":
                    hint = did_you_mean(key, allowed) or "a metric is a keras.metrics class, e.g. {AUC: {curve: PR}}" \
                        ", {expr: \"...\", name: ...} or {custom: module:Name}"
                    out.append(Diagnostic(codes.UNKNOWN_METRIC, f"unknown metric '{key}' in {_label(path, error)}",
                                          kspan, hint))
                    continue
                what = {"spec": "top-level key", "output": "output key", "penalty": "penalty key",
                        "training": "training key", "input": "input key",
                        "budget": "budget key"}.get(kind, "key")
                hint = did_you_mean(key, allowed) or ("expected one of: " + ", ".join(allowed) if allowed else None)
                where_text = "" if kind == "spec" else f" in {_label(path, error)}"
                out.append(Diagnostic(codes.UNKNOWN_KEY, f"unknown {what} '{key}'{where_text}", kspan, hint))
        return out
    if v == "required":
        missing = [k for k in error.validator_value if k not in inst]
        owner = kind[5:] if kind.startswith("args:") else None
        kspan = doc.span(path, key=True)
        out = []
        for k in missing:
            if owner:
                msg = f"{owner} needs argument '{k}'"
                hint = f"add {k}: ... to its arguments"
            else:
                msg = f"missing required key '{k}'{_in(where)}"
                hint = None
            out.append(Diagnostic(codes.MISSING_ARGUMENT if owner else codes.MISSING_KEY, msg, kspan, hint))
        return out
    if v == "maxProperties" and kind == "layer":
        keys = list(inst)
        return [Diagnostic(codes.LAYER_ITEM_KEYS,
                           f"a layer item has one key, its type; found {len(keys)} keys: {', '.join(keys[:5])}",
                           doc.span(path + (keys[1],), key=True),
                           f"indent the arguments under '{keys[0]}:' (e.g. - {keys[0]}: {{...}})")]
    if v == "minProperties" and kind == "layer":
        return [Diagnostic(codes.LAYER_ITEM_KEYS, "empty layer item", span, "write a layer as - Type: {args}")]
    if v == "propertyNames":
        return [Diagnostic(codes.BAD_NAME,
                           f"invalid name {json.dumps(inst)}{_in(where)}: expected {IDENT['description']}",
                           doc.span(path + (inst,), key=True), None)]
    if v == "const":
        if path == ("nnspec",):
            return [Diagnostic(codes.BAD_VERSION,
                               f"unsupported format version {json.dumps(inst)}; this nnspec reads format 1",
                               span, "write nnspec: 1")]
        return [Diagnostic(codes.BAD_VALUE, f"expected {json.dumps(error.validator_value)}, found {_found(inst)}",
                           span)]
    if v == "enum":
        hint = did_you_mean(inst, [str(x) for x in error.validator_value]) if isinstance(inst, str) else None
        return [Diagnostic(codes.BAD_VALUE,
                           f"{_label(path, error)}: expected {_expected(schema)}, found {_found(inst)}",
                           span, hint)]
    if v == "type":
        hint = None
        if isinstance(inst, str) and schema.get("type") in ("integer", "number"):
            hint = "write the number without quotes"
        if path and path[-1] == "layers" and isinstance(inst, dict):
            hint = "layers is a list: start each layer with '- '"
        return [Diagnostic(codes.BAD_TYPE, f"{_label(path, error)}: expected {_expected(schema)}, found {_found(inst)}",
                           span, hint)]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        want = schema.get("description") or f"a number {bound} {error.validator_value}"
        return [Diagnostic(codes.OUT_OF_RANGE, f"{_label(path, error)}: expected {want}, found {_found(inst)}", span)]
    if v in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        what = {"minItems": "at least {} items", "maxItems": "at most {} items", "minLength": "at least {} characters",
                "maxLength": "at most {} characters", "minProperties": "at least {} entries",
                "maxProperties": "at most {} entries"}[v].format(error.validator_value)
        return [Diagnostic(codes.BAD_SIZE, f"{_label(path, error)}: expected {what}, found {_size(inst)}", span)]
    if v == "pattern":
        return [Diagnostic(codes.BAD_NAME, f"{_label(path, error)}: expected "
                           f"{schema.get('description', 'a valid name')}, found {_found(inst)}", span)]
    return [Diagnostic(codes.SCHEMA, f"{_label(path, error)}: {error.message}", span)]


def _size(inst) -> str:
    n = len(inst)
    return f"{n}" if not isinstance(inst, str) else f"{n} characters"


def _where(path) -> str:
    return ".".join(str(p) for p in path)


def _in(where: str) -> str:
    return f" in {where}" if where else " at the top level"


def _label(path, error) -> str:
    """A short name for the offending value: 'Dense units', 'outputs.ttf.weight'."""
    path = [str(p) for p in path]
    if len(path) >= 3 and path[0] == "layers":
        rest = path[3:]
        return f"{path[2]} {'.'.join(rest)}" if rest else path[2]
    return ".".join(path) or "spec"


def _translate_any(error, doc) -> list[Diagnostic]:
    """anyOf/oneOf: report the branch that fits the value's type, else what was expected."""
    inst = error.instance
    branches: dict[int, list] = {}
    for sub in error.context or ():
        branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    alternatives = error.validator_value
    fitting = []
    for i, alt in enumerate(alternatives):
        if _matches_type(_resolve(alt), inst) and i in branches:
            fitting.append(i)
    if len(fitting) == 1:
        out = []
        subs = branches[fitting[0]]
        deepest = max(len(s.absolute_path) for s in subs)
        for sub in subs:
            if len(sub.absolute_path) == deepest or sub.validator not in ("type",):
                out.extend(translate(sub, doc))
        if out:
            return _dedupe(out)
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    want = schema.get("description") or " or ".join(_expected(_resolve(a)) for a in alternatives)
    return [Diagnostic(codes.BAD_TYPE, f"{_label(path, error)}: expected {want}, found {_found(inst)}", doc.span(path))]


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/definitions/"):
        return generate()["definitions"][ref.split("/")[-1]]
    return schema


def _dedupe(diags):
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


@functools.lru_cache(maxsize=1)
def fast_layer_check():
    from .fastcheck import Compiler
    return Compiler(generate()).ref("#/definitions/layer_entry")


def _failing_layers_only(data):
    """(the data jsonschema needs to see, the index map): jsonschema takes about 0.2 ms a layer,
    so of a long layer list it sees only the items the fast check fails (their errors are then
    mapped back to the items' own indices). (data, None) when there is nothing to leave out."""
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list) or len(layers) < 2:
        return data, None
    ok = fast_layer_check()
    bad = [j for j, item in enumerate(layers) if not ok(item)]
    if len(bad) == len(layers):
        return data, None
    keep = bad or [0]
    return {**data, "layers": [layers[j] for j in keep]}, keep


def _remap_layer_index(error, keep) -> None:
    path = error.path  # relative to the document for a top-level error; nested errors follow their parent
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int) and path[1] < len(keep):
        path[1] = keep[path[1]]


@functools.lru_cache(maxsize=1)
def fast_check():
    from .fastcheck import compile_schema
    return compile_schema(_generate(True))


def check(doc) -> list[Diagnostic]:
    """Validate a loaded document against the schema; every problem, positioned.

    Valid documents take the compiled fast check only (see fastcheck.py);
    jsonschema runs on the ones that fail it, for complete positioned errors.

    Follow-on errors are dropped: inside a malformed layer item only the
    item's own error; a required argument that a misspelt one stands for."""
    if fast_check()(doc.data):
        return []
    data, remap = _failing_layers_only(doc.data)
    found = []  # (path, diagnostic, the argument it says is missing, if it does)
    stands_for = set()  # (path of a layer's args, an argument a misspelt key there stands for)
    for error in validator().iter_errors(data):
        if remap is not None:
            _remap_layer_index(error, remap)
        path = tuple(error.absolute_path)
        diags = translate(error, doc)
        args = isinstance(error.schema, dict) and error.schema.get("x-nnspec", "").startswith("args:")
        if args and error.validator == "required":  # one diagnostic per missing argument, in order
            found.extend(zip([path] * len(diags), diags, [k for k in error.validator_value if k not in error.instance]))
        else:
            found.extend((path, d, None) for d in diags)
        if args and error.validator == "additionalProperties":
            allowed = list(error.schema.get("properties", {}))
            stands_for |= {(path, k) for key in error.instance if key not in allowed for k in closest(key, allowed)}
        if len(found) >= MAX_DIAGNOSTICS:
            break
    broken = [p for p, d, _ in found if d.code == codes.LAYER_ITEM_KEYS]
    out = []
    for path, d, missing in found:
        if d.code != codes.LAYER_ITEM_KEYS and any(path[:len(b)] == b for b in broken):
            continue
        if (path, missing) in stands_for:
            continue
        out.append(d)
    out = _dedupe(out)
    out.sort(key=lambda d: (d.span.line, d.span.col))
    return out
