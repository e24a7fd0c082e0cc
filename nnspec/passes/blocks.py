"""Blocks and `repeat`: expand reusable modules into plain layers.

    blocks:
      conv_bn_relu:
        params: {filters: int, kernel: {default: 3}, strides: {default: 1}}
        layers:
          - Conv2D: {filters: $filters, kernel_size: $kernel, strides: $strides, padding: same}
          - BatchNormalization: {}
          - ReLU: {}
    layers:
      - conv_bn_relu: {filters: 96, name: stem}
      - repeat: {times: 4, layers: [GRU: {units: 64, return_sequences: true}]}

Rules:
* a block call names its layers under the call's name: `stem_conv2d`,
  `stem_batch_normalization` (with `_`, as keras.applications does:
  `conv2_block1_1_conv`; Keras forbids `/` in layer names). The block's
  output layer (its last layer, or the first of `outputs:`) takes the call's
  own name, `stem`, when it has no name of its own; a named one keeps
  `stem_out` and the call's name refers to it (an alias). A block that ends
  with a `repeat` outputs the last layer the repeat makes.
* `$param` stands for a parameter's value (a whole string `$filters` keeps
  the value's type; inside a longer string it is text: `conv$i`);
  `$in` (or `$<input>` for blocks with `inputs: [a, b]`) is the call's input.
* inside a block, `from:` names the block's own layers or its inputs; a block
  cannot reach outside itself.
* `repeat` makes `times` distinct copies (own weights), `$i` = 0, 1, ...;
  weights are shared only where the spec says `reuse`.
* recursion between blocks is an error.

Expansion works on the document (data + positions): each expanded layer keeps
the positions of its definition, and its spans carry the call sites (`via`),
so a diagnostic inside a block points at the definition line and notes where
it was instantiated. The expanded document then goes through the schema and
the other passes as if it had been written flat.
"""
from __future__ import annotations

import functools
import math
import re

from .. import codes
from ..diagnostics import Diagnostic, Span, did_you_mean
from ..document import Document
from ..naming import COMMON_ARGS, AutoNamer, is_expansion, item_type
from ..ops import CATALOG

# Limits, all checked before the work they bound (README "Limits"):
MAX_LAYERS = 20_000           # layers in the document, and after expansion (validate: ~1.3 s)
MAX_EXPANDED = MAX_LAYERS
MAX_EXPANDED_NODES = 100_000  # values in the expanded layers, + 1 per repeat copy and block call,
                              # + the length of each ${...} evaluated
MAX_EXPANDED_BYTES = 8 * 1024 * 1024  # characters of text in the expanded layers
MAX_REPEAT = 10_000           # times, as the schema says for top-level repeats; also inside blocks
MAX_INT = 2 ** 63             # |integer| results of ${...}
SEPARATOR = "_"  # stem_conv2d; keras.applications names its layers this way (conv2_block1_1_conv)
MAX_DEPTH = 32
_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "any": object}
_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_ARITH = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCAL_NAME = re.compile(r"[A-Za-z0-9_]+")  # inside a block (prefixed): 1_conv, as keras.applications


class _Stop(Exception):
    pass


def check_layer_count(doc: Document) -> list[Diagnostic]:
    """A document with more than MAX_LAYERS layers, refused before the schema
    and the other passes look at them (the layers after expansion are counted
    by expand(), before it expands)."""
    layers = doc.data.get("layers") if isinstance(doc.data, dict) else None
    if isinstance(layers, list) and len(layers) > MAX_LAYERS:
        return [Diagnostic(codes.TOO_MANY_LAYERS, f"the spec has {len(layers):,} layers; the limit is {MAX_LAYERS:,}",
                           doc.span(("layers", MAX_LAYERS)), "split the model; blocks and repeat shorten repeated layers")]
    return []


def needs_expansion(data: dict) -> bool:
    if data.get("blocks"):
        return True
    return any(isinstance(e, dict) and any(is_expansion(k) for k in e)
               for e in data.get("layers", ()))


def expand(doc: Document) -> tuple[Document, list[Diagnostic]]:
    """The document with every block call and repeat replaced by plain layers."""
    ex = _Expander(doc)
    try:
        _Cost(ex).check(doc.data["layers"])
        layers, _ = ex.items(doc.data["layers"], ("layers",), scope=None, via=())
    except _Stop:
        return doc, ex.diags
    data = {k: v for k, v in doc.data.items() if k != "blocks"}
    data["layers"] = layers
    pos = {k: v for k, v in doc.pos.items() if not (k[:1] == ("layers",) and len(k) > 1)}
    pos.update(ex.pos)
    pos[("layers",)] = doc.pos.get(("layers",), (0, 0, 1, 1))
    if ex.aliases:
        _apply_aliases(data, pos, ex.aliases)
    return Document(doc.file, data, pos, doc.text, {"calls": ex.calls, "owner": ex.owner, "aliases": ex.aliases}), ex.diags


def _apply_aliases(data: dict, pos: dict, aliases: dict) -> None:
    """A call's name where its output layer has its own name: point references at that layer."""
    def target(name):
        seen = set()
        if isinstance(name, str) and "." in name:  # call.state_h: an output of the call's output layer
            base, _, out = name.partition(".")
            return target(base) + "." + out
        while isinstance(name, str) and name in aliases and name not in seen:
            seen.add(name)
            name = aliases[name]
        return name

    def remap(value):
        if isinstance(value, list):
            return [target(v) for v in value]
        if isinstance(value, dict):
            return {k: remap(v) for k, v in value.items()}
        return target(value)

    for item in data["layers"]:
        (key, args), = item.items()
        if isinstance(args, dict):
            if key == "Expr" and _names_list(args.get("from")):
                args["from"] = {v: v for v in args["from"]}  # its expression says the names as written
            if "from" in args:
                args["from"] = remap(args["from"])
            if key == "reuse" and "layer" in args:
                args["layer"] = target(args["layer"])
    outputs = data.get("outputs")
    if isinstance(outputs, dict):
        renamed = {}
        for k, v in outputs.items():
            t = target(k)
            if t != k:
                for q in [q for q in pos if q[:2] == ("outputs", k)]:
                    pos[("outputs", t) + q[2:]] = pos[q]
            renamed[t] = v
        data["outputs"] = renamed
    for p in data.get("penalties") or ():
        if isinstance(p, dict) and "on" in p:
            p["on"] = remap(p["on"])


class _Scope:
    """One block instantiation: its prefix, parameters, inputs and local names."""

    def __init__(self, block: str, prefix: str, params: dict, inputs: dict, outputs: list,
                 top: str, output_named: bool):
        self.block, self.prefix, self.params, self.inputs = block, prefix, params, inputs
        self.outputs = outputs  # local names of the block's outputs
        # an unnamed output layer takes the call's own name; a named one is
        # prefix_name like the others, and the call's name becomes an alias of it
        self.output_named = output_named
        self.top = top  # the top-level call this scope belongs to (for the summary)
        self.local: dict[str, str] = {}  # local name -> global name
        self.auto = AutoNamer()  # local names: the prefix makes them unique


class _Expander:
    def __init__(self, doc: Document):
        self.doc = doc
        self.blocks = doc.data.get("blocks") or {}
        self.diags: list[Diagnostic] = []
        self.pos: dict = {}
        self.out_count = 0
        self.stack: list[str] = []  # block names being expanded (recursion check)
        taken = {e[k]["name"] for e in doc.data["layers"] for k in e
                      if isinstance(e[k], dict) and isinstance(e[k].get("name"), str)}
        taken |= set(doc.data.get("inputs", {}))
        self.auto_name = AutoNamer(taken)
        self.calls: dict[str, str] = {}  # call name -> block name, every level
        self.aliases: dict[str, str] = {}  # call name -> its output layer, where they differ
        self.owner: dict[str, str] = {}  # expanded layer -> the top-level call it belongs to
        self._index = None

    # ------------------------------------------------------------ positions
    def _prefix_index(self):
        if self._index is None:
            # items are entries of a `layers` list (top level, blocks, repeats): index the paths
            # under each (layers, j) only; indexing every prefix of every path took O(nodes x depth)
            # time and memory (76 s and 4 GB for 200,000 values nested 56 deep)
            index: dict = {}
            for key, value in self.doc.pos.items():
                start = 0
                while "layers" in key[start:]:
                    i = key.index("layers", start)
                    if i + 1 < len(key) and isinstance(key[i + 1], int):
                        index.setdefault(key[:i + 2], []).append((key[i + 2:], value))
                    start = i + 1
            self._index = index
        return self._index

    def _place(self, src: tuple, dst_index: int, via: tuple) -> None:
        """Copy the positions of the item whose type key is at ``src`` (path
        of the item + its key) to layers[dst_index]."""
        item_path, key = src[:-1], src[-1]
        for suffix, value in self._prefix_index().get(item_path, ()):
            if suffix[:1] == (key,):
                self.pos[("layers", dst_index) + suffix] = tuple(value[:4]) + (via,) if via else value
        entry = self.doc.pos.get(item_path)
        if entry is not None:
            self.pos[("layers", dst_index)] = tuple(entry[:4]) + (via,) if via else entry

    def span(self, path, via=(), key=False) -> Span:
        s = self.doc.span(path, key=key)
        return Span(s.file, s.line, s.col, via) if via else s

    def error(self, code, message, span, hint=None):
        self.diags.append(Diagnostic(code, message, span, hint))

    # ------------------------------------------------------------ expansion
    def items(self, entries, path, scope: _Scope | None, via: tuple, subst: dict | None = None,
              previous=None) -> tuple[list, object]:
        """Expand a list of entries. ``previous`` is the tensor the first entry
        takes by default (None: the spec's own default). Returns (items, the
        last entry's output name)."""
        out = []
        if scope is not None and previous is None:
            previous = scope.inputs.get("$default")
        for j, entry in enumerate(entries):
            ipath = path + (j,)
            if not isinstance(entry, dict) or len(entry) != 1:
                out.append(entry)  # the schema reports malformed items
                previous = None
                continue
            (key, args), = entry.items()
            if args is None:
                args = {}
            if not isinstance(args, dict):
                out.append(entry)
                previous = None
                continue
            if subst:
                try:
                    args = _substitute(args, subst)
                except _SubstError as e:
                    self.error(codes.BAD_BLOCK_EXPRESSION, str(e), self.span(ipath + (key,), via),
                               "write ${param * 2 + 1} with numeric parameters")
                    raise _Stop
            if key == "repeat":
                produced, previous = self.repeat(args, ipath + (key,), scope, via, previous, subst)
            elif key in CATALOG or key == "reuse":
                item = self.plain(key, args, ipath, scope, via, previous)
                produced, previous = [item], _name_of(item)
            elif key in self.blocks:
                produced, previous = self.call(key, args, ipath, scope, via, previous)
            else:
                hint = did_you_mean(key, list(CATALOG) + list(self.blocks) + ["repeat", "reuse"])
                self.error(codes.UNKNOWN_LAYER_TYPE, f"unknown layer type or block '{key}'",
                           self.span(ipath + (key,), via, key=True),
                           hint or "layer types are Keras class names (nnspec ops); blocks are defined under blocks:")
                raise _Stop
            out += produced
        return out, previous

    def _emit(self, key, args, src_path, via):
        index = self.out_count
        self.out_count += 1
        if self.out_count > MAX_EXPANDED:  # the pre-count (_Cost) refuses this first; a backstop
            self.error(codes.TOO_MANY_LAYERS, f"blocks and repeat expand to more than {MAX_EXPANDED:,} layers",
                       self.span(src_path, via), "check repeat counts and nesting")
            raise _Stop
        self._place(src_path, index, via)
        return {key: args}

    def unresolved(self, args, path, scope, via, known=None) -> None:
        """A `$name` left after substitution names no parameter: say so."""
        for k, v in args.items():
            if k == "from":
                continue
            if isinstance(v, dict):
                self.unresolved(v, path + (k,), scope, via, known)
            elif isinstance(v, list):
                self.unresolved(dict(enumerate(v)), path + (k,), scope, via, known)
            elif isinstance(v, str):
                for m in _REF.finditer(v):
                    if known is None:
                        known = sorted(scope.params)
                    where = f"block '{scope.block}'" if scope else "repeat (it has $i)"
                    self.error(codes.UNKNOWN_BLOCK_PARAMETER, f"'${m.group(1)}' is not a parameter of {where}",
                               self.span(path + (k,), via),
                               did_you_mean(m.group(1), known) or
                               (f"its parameters are: {', '.join('$' + n for n in known)}" if known else
                                "declare it under params:"))
                    raise _Stop

    def plain(self, key, args, ipath, scope, via, previous):
        args = dict(args)
        if scope is not None:
            self.unresolved(args, ipath + (key,), scope, via)
            local = args.get("name")
            self.check_name(local, ipath + (key, "name"), via, top=False)
            if local is None:
                local = scope.auto(item_type(key, args))
            args["name"] = self.global_name(scope, local)
            scope.local[local] = args["name"]
            self.owner[args["name"]] = scope.top
            if key == "Expr" and _names_list(args.get("from")):
                # its expression says the names as written in the block ($in as in)
                args["from"] = {v.lstrip("$"): v for v in args["from"]}
            if "from" in args:
                args["from"] = self.refs(args["from"], scope, ipath + (key, "from"), via)
            elif previous is not None:
                args["from"] = previous
            if key == "reuse" and isinstance(args.get("layer"), str):
                args["layer"] = self.ref(args["layer"], scope, ipath + (key, "layer"), via)
        else:
            if previous is not None and "from" not in args:
                args["from"] = previous
            if "name" not in args:  # named now, so that a block call after it can take it as input
                args["name"] = self.auto_name(item_type(key, args))
        return self._emit(key, args, ipath + (key,), via)

    def check_name(self, name, path, via, top: bool) -> None:
        """A name given inside a block or on a block call: it becomes part of
        other names (prefix_local), so it is checked here, before it is used.
        A top-level call's name starts the names of all its layers: TensorFlow
        refuses a scope name that starts with `_`."""
        if name is None or (isinstance(name, str) and (_NAME if top else _LOCAL_NAME).fullmatch(name)
                            and len(name) <= 128 and not (top and name.startswith("_"))):
            return
        found = f"{type(name).__name__} {name!r}" if not isinstance(name, str) else repr(name)
        if isinstance(name, str) and name.startswith("_") and top:
            self.error(codes.BAD_NAME, f"invalid name {found}: a layer name cannot start with '_' (TensorFlow's "
                       "name scopes must start with a letter, a digit or '.')", self.span(path, via),
                       f"e.g. name: {name.lstrip('_') or 'block1'}")
        else:
            self.error(codes.BAD_NAME, f"invalid name {found}: expected a name: letters, digits and _"
                       + (", not starting with a digit" if top else ""), self.span(path, via), "e.g. name: conv1")
        raise _Stop

    def check_call_args(self, args, path, via) -> None:
        """A block call's own arguments besides its parameters."""
        if "trainable" in args and not isinstance(args["trainable"], bool):
            self.error(codes.BAD_TYPE, f"block call: trainable must be true or false; found "
                       f"{type(args['trainable']).__name__} {args['trainable']!r}",
                       self.span(path + ("trainable",), via), "trainable: false freezes every layer of the call")
            raise _Stop
        src = args.get("from")
        if src is not None and not isinstance(src, str) and not (
                isinstance(src, (list, dict)) and all(isinstance(v, str) for v in
                                                      (src.values() if isinstance(src, dict) else src))):
            self.error(codes.BAD_FROM, f"block call: from must be a name, a list of names or a map of names; found "
                       f"{type(src).__name__} {src!r}", self.span(path + ("from",), via),
                       "e.g. from: stem or from: [a, b]")
            raise _Stop

    def apply_call_args(self, args, produced, first_index, output_name, path, via) -> None:
        """`trainable: false` on a call freezes every layer it makes;
        `activity_regularizer` on a call regularises the call's output, so it
        goes to the layer that gives it (the one the call's name refers to).
        The positions of these arguments stay at the call, for diagnostics."""
        if args.get("trainable") is False:
            for j, item in enumerate(produced):
                (key, item_args), = item.items()
                if key != "reuse" and isinstance(item_args, dict):
                    item_args["trainable"] = False
                    self._copy_pos(path + ("trainable",), ("layers", first_index + j, key, "trainable"))
        reg = args.get("activity_regularizer")
        if reg is None:
            return
        for j, item in enumerate(produced):
            (key, item_args), = item.items()
            if isinstance(item_args, dict) and item_args.get("name") == output_name:
                if key == "reuse" or item_args.get("activity_regularizer") is not None:
                    why = ("is a reuse of another layer" if key == "reuse" else
                           "has an activity_regularizer of its own")
                    self.error(codes.BAD_BLOCK_ARGUMENT, f"activity_regularizer on this call would go to its output "
                               f"layer '{output_name}', which {why}", self.span(path + ("activity_regularizer",),
                                                                                via, key=True),
                               "put it on a layer inside the block, or use a penalty: {on: "
                               f"{output_name}, l2: ...}}")
                    raise _Stop
                item_args["activity_regularizer"] = reg
                self._copy_pos(path + ("activity_regularizer",), ("layers", first_index + j, key,
                                                                  "activity_regularizer"))
                return
        if "." in output_name:  # one output of a layer with several: no layer to put it on
            self.error(codes.BAD_BLOCK_ARGUMENT, f"activity_regularizer on this call would go to its output "
                       f"'{output_name}', one output of a layer with several, which Keras cannot regularise alone",
                       self.span(path + ("activity_regularizer",), via, key=True),
                       f"use a penalty: {{on: {output_name}, l2: ...}}")
            raise _Stop

    def _copy_pos(self, src, dst) -> None:
        for k, v in self.doc.pos.items():
            if k[:len(src)] == src:
                self.pos[dst + k[len(src):]] = v

    def global_name(self, scope: _Scope, local: str) -> str:
        if scope.outputs and local == scope.outputs[0] and not scope.output_named:
            return scope.prefix
        return f"{scope.prefix}{SEPARATOR}{local}"

    def ref(self, name, scope: _Scope, path, via):
        if not isinstance(name, str):
            return name
        if "." in name and not name.startswith("$"):  # lstm.state_h: an output of the block's layer lstm
            base, _, out = name.partition(".")
            return self.ref(base, scope, path, via) + "." + out
        if name.startswith("$"):
            key = name[1:]
            if key in scope.inputs:
                return scope.inputs[key]
            inputs = ", ".join("$" + i for i in scope.inputs if not i.startswith("$"))
            self.error(codes.UNKNOWN_BLOCK_INPUT, f"block '{scope.block}' has no input '{name}'",
                       self.span(path, via), f"its inputs are: {inputs}")
            return name
        if name in scope.local:
            return scope.local[name]
        if name in _local_names(self.blocks[scope.block]["layers"]):  # a later layer of the block
            return self.global_name(scope, name)
        self.error(codes.UNKNOWN_REFERENCE, f"'{name}' is not a layer of block '{scope.block}'",
                   self.span(path, via), did_you_mean(name, scope.local) or
                   "inside a block, from: names the block's layers, or $in for its input")
        return name

    def refs(self, value, scope, path, via):
        if isinstance(value, list):
            return [self.ref(v, scope, path + (i,), via) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.refs(v, scope, path + (k,), via) for k, v in value.items()}
        return self.ref(value, scope, path, via)

    def call(self, block, args, ipath, scope, via, previous):
        definition = self.blocks[block]
        call_span = self.span(ipath + (block,), via, key=True)
        if block in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(block):] + [block])
            self.error(codes.BLOCK_RECURSION, f"blocks call each other in a cycle: {cycle}", call_span,
                       "a block cannot contain itself")
            raise _Stop
        if len(self.stack) >= MAX_DEPTH:
            self.error(codes.TOO_DEEP, f"blocks nested deeper than {MAX_DEPTH}", call_span)
            raise _Stop
        self.check_name(args.get("name"), ipath + (block, "name"), via, top=scope is None)
        self.check_call_args(args, ipath + (block,), via)
        params = self.bind(block, definition, args, ipath + (block,), via)
        if scope is not None:
            local = args.get("name") or scope.auto(block)
            name = self.global_name(scope, local)
            scope.local[local] = name
            sources = self.refs(args["from"], scope, ipath + (block, "from"), via) if "from" in args else previous
        else:
            name = args.get("name") or self.auto_name(block)
            sources = args.get("from", previous)
            if sources is None:
                sources = self.top_previous()
        self.calls[name] = block
        in_names = definition.get("inputs") or ["in"]
        inputs = self.bind_inputs(block, in_names, sources, ipath + (block,), via, call_span)
        ends_with_repeat = not definition.get("outputs") and _last_key(definition["layers"]) == "repeat"
        if ends_with_repeat:  # the output is the last layer the repeat makes
            outputs, named = [], True
        else:
            outputs = definition.get("outputs") or [_last_local(definition["layers"])]
            named = bool(definition.get("outputs")) or _last_is_named(definition["layers"])
        inner_scope = _Scope(block, name, params, inputs, outputs,
                             top=scope.top if scope is not None else name, output_named=named)
        if named and outputs:
            self.aliases[name] = f"{name}{SEPARATOR}{outputs[0]}"
        note = (f"in block '{block}', called here as '{name}'", call_span)
        self.stack.append(block)
        first_index = self.out_count
        try:
            produced, last = self.items(definition["layers"], ("blocks", block, "layers"), inner_scope,
                                        (note,) + via, subst=params)
        finally:
            self.stack.pop()
        if ends_with_repeat and last is not None:
            self.aliases[name] = last
        out_name, seen = name, set()
        while out_name in self.aliases and out_name not in seen:  # a nested call's output: follow it
            seen.add(out_name)
            out_name = self.aliases[out_name]
        self.apply_call_args(args, produced, first_index, out_name, ipath + (block,), via)
        return produced, name

    def top_previous(self):
        """The input of a top-level block call with no previous item (the
        first thing in the model, or in a repeat that is): the model's input,
        when it has exactly one. Every other top-level item has a previous
        one, since the expansion names them all."""
        inputs = list(self.doc.data.get("inputs", {}))
        return inputs[0] if len(inputs) == 1 else None

    def bind(self, block, definition, args, path, via) -> dict:
        declared = definition.get("params") or {}
        given = {k: v for k, v in args.items() if k not in COMMON_ARGS}
        values = {}
        for p, spec in declared.items():
            typ, default = _param_spec(spec)
            if p in given:
                value = given[p]
                pspan = self.span(path + (p,), via)
                if typ and not _is_type(value, typ) and not (isinstance(value, str) and value.startswith("$")):
                    self.error(codes.BAD_BLOCK_ARGUMENT, f"block '{block}' parameter '{p}' is {typ}; found "
                               f"{type(value).__name__} {value!r}", pspan)
                values[p] = value
            elif default is not _MISSING:
                values[p] = default
            else:
                self.error(codes.MISSING_BLOCK_ARGUMENT, f"block '{block}' needs parameter '{p}'",
                           self.span(path, via, key=True), f"add {p}: ... to the call")
        for p in given:
            if p not in declared:
                self.error(codes.UNKNOWN_BLOCK_ARGUMENT, f"block '{block}' has no parameter '{p}'",
                           self.span(path + (p,), via, key=True),
                           did_you_mean(p, declared) or (f"its parameters are: {', '.join(declared)}"
                                                         if declared else "it takes no parameters"))
        if self.diags:
            raise _Stop
        return values

    def bind_inputs(self, block, in_names, sources, path, via, call_span) -> dict:
        if sources is None:
            self.error(codes.MISSING_FROM, f"block '{block}' call has no input", call_span, "say which with from:")
            raise _Stop
        if isinstance(sources, dict):
            mapping = dict(sources)
        else:
            seq = [sources] if isinstance(sources, str) else list(sources)
            if len(seq) != len(in_names):
                self.error(codes.INPUT_COUNT, f"block '{block}' takes {len(in_names)} input"
                           f"{'s' if len(in_names) != 1 else ''} ({', '.join(in_names)}); found {len(seq)}",
                           self.span(path + ("from",), via) if isinstance(sources, list) else call_span,
                           f"from: [{', '.join(in_names)}]" if len(in_names) > 1 else None)
                raise _Stop
            mapping = dict(zip(in_names, seq))
        missing = [n for n in in_names if n not in mapping]
        if missing:
            self.error(codes.INPUT_COUNT, f"block '{block}' needs input '{missing[0]}'", call_span)
            raise _Stop
        mapping["$default"] = mapping[in_names[0]]
        return mapping

    def repeat(self, args, path, scope, via, previous, subst):
        times, layers = args.get("times"), args.get("layers")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1 or not isinstance(layers, list) \
                or not layers:
            self.error(codes.BAD_REPEAT, "repeat needs times: a positive integer and layers: a non-empty list",
                       self.span(path, via), "e.g. repeat: {times: 4, layers: [GRU: {units: 64}]}")
            raise _Stop
        if times > MAX_REPEAT:
            self.error(codes.OUT_OF_RANGE, f"repeat times is {times:,}; the limit is {MAX_REPEAT:,}",
                       self.span(path + ("times",), via), "nest blocks for more copies, within the layer limit")
            raise _Stop
        extra = set(args) - {"times", "layers"}
        if extra:
            self.error(codes.BAD_REPEAT, f"repeat takes times and layers; found {', '.join(sorted(extra))}",
                       self.span(path + (sorted(extra)[0],), via, key=True))
            raise _Stop
        out = []
        for i in range(times):
            inner = dict(subst or {})
            inner["i"] = i
            try:
                copies = [_substitute(e, inner) for e in layers]
            except _SubstError as e:
                self.error(codes.BAD_BLOCK_EXPRESSION, str(e), self.span(path, via),
                           "write ${i + 1} with numeric parameters")
                raise _Stop
            if scope is None:
                for j, copy in enumerate(copies):
                    if isinstance(copy, dict) and len(copy) == 1:
                        (key, value), = copy.items()
                        if isinstance(value, dict):
                            self.unresolved(value, path + ("layers", j, key), None, via, known=["i"])
            produced, previous = self.items(copies, path + ("layers",), scope, via, None, previous)
            out += produced
        return out, previous


class _TooBig(Exception):
    def __init__(self, what, found, limit, code):
        super().__init__(what)
        self.what, self.found, self.limit, self.code = what, found, limit, code


class _Cost:
    """The size of the expansion, computed before anything is expanded.

    A cost is [layers, nodes, bytes, stopped]. It is computed from the
    definitions, not by expanding: a block's cost is memoised per (block,
    parameter values), a repeat multiplies its body's cost by ``times`` (it
    adds the copies one by one only where the body's shape depends on ``$i``:
    a ``times`` or a block argument made from it; each copy adds at least one
    node, so that loop stops at the limit). Strings with ``$`` are charged their
    longest possible length (a ``${...}`` gives at most 24 characters) and the
    length of each ``${...}`` evaluated; inner layers the length of their
    call names. ``stopped``: an error the expansion will report stops the count
    there, as it stops the expansion. The work done here is bounded by the
    limits it checks."""

    LIMITS = (("layers", MAX_EXPANDED, codes.TOO_MANY_LAYERS), ("nodes", MAX_EXPANDED_NODES, codes.TOO_MANY_NODES),
              ("characters of text", MAX_EXPANDED_BYTES, codes.TOO_MUCH_TEXT))
    NUMBER_TEXT = 24  # the longest text of a ${...}: an int below 2**63 or a float's repr

    def __init__(self, ex: "_Expander"):
        self.ex = ex
        self.blocks = ex.blocks
        self.memo: dict = {}
        self.sizes: dict = {}  # id(value) -> (nodes, bytes) of a parameter's value
        self.keep: list = []  # values whose id is a key of sizes, kept alive
        self.shapes: dict = {}  # id(layer list) -> whether its shape depends on $ parameters

    def check(self, entries) -> None:
        """Refuse (one diagnostic, at the top-level entry that crosses a limit) an expansion over the limits."""
        total = [0, 0, 0, False]
        for j, entry in enumerate(entries):
            try:
                c = self.items([entry], None, ())
            except _TooBig as t:
                self._refuse(t, j, entry)
            self._add(total, c)
            try:
                self._limit(total)
            except _TooBig as t:
                self._refuse(t, j, entry)
            if c[3]:
                return

    def _refuse(self, t, j, entry):
        key = next(iter(entry)) if isinstance(entry, dict) and len(entry) == 1 else None
        path = ("layers", j) + ((key,) if key is not None else ())
        what = f"block '{key}' call" if key in self.blocks else ("repeat" if key == "repeat" else "layer")
        self.ex.error(t.code, f"blocks and repeat would expand to more than {t.limit:,} {t.what} "
                      f"(this {what} makes at least {t.found:,})", self.ex.span(path, key=key is not None),
                      "check repeat counts and block nesting; the limits are listed in README.md")
        raise _Stop

    @staticmethod
    def _add(total, c, times=1):
        total[0] += c[0] * times
        total[1] += c[1] * times
        total[2] += c[2] * times
        total[3] = total[3] or c[3]

    def _limit(self, c):
        for k, (what, limit, code) in enumerate(self.LIMITS):
            if c[k] > limit:
                raise _TooBig(what, c[k], limit, code)

    def items(self, entries, env, stack) -> list:
        total = [0, 0, 0, False]
        for entry in entries:
            c = self.entry(entry, env, stack)
            self._add(total, c)
            self._limit(total)
            if total[3]:
                break
        return total

    def entry(self, entry, env, stack) -> list:
        if not isinstance(entry, dict) or len(entry) != 1:
            n, b = self.size(entry, env)
            return [0, n, b, False]
        (key, args), = entry.items()
        if args is None:
            args = {}
        if not isinstance(args, dict):
            n, b = self.size(args, env)
            return [1, n, b, False]
        if key == "repeat":
            return self.repeat(args, env, stack)
        if key in self.blocks and key not in CATALOG and key != "reuse":
            return self.call(key, args, env, stack)
        if key in CATALOG or key == "reuse":
            n, b = self.size(args, env)
            return [1, n + 3, b + 64, False]  # + name and from, written by the expansion
        return [0, 0, 0, True]  # unknown type: the expansion stops there

    def repeat(self, args, env, stack) -> list:
        try:
            times = _substitute(args.get("times"), env) if env else args.get("times")
        except _SubstError:
            return [0, 0, 0, True]
        layers = args.get("layers")
        if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_REPEAT \
                or not isinstance(layers, list) or not layers:
            return [0, 0, 0, True]
        inner = dict(env or {})
        total = [0, times, 0, False]  # a node per copy
        if "i" in inner or not self.depends(layers):
            # $i of an enclosing repeat wins (it is substituted first); otherwise every copy has the same
            # shape, and the last has the longest $i
            inner.setdefault("i", times - 1)
            self._add(total, self.items(layers, inner, stack), times)
            self._limit(total)
            return total
        for i in range(times):
            inner["i"] = i
            self._add(total, self.items(layers, inner, stack))
            self._limit(total)
            if total[3]:
                break
        return total

    def call(self, block, args, env, stack) -> list:
        definition = self.blocks[block]
        if block in stack or len(stack) >= MAX_DEPTH or not isinstance(definition, dict) \
                or not isinstance(definition.get("layers"), list):
            return [0, 0, 0, True]
        try:
            args = _substitute(args, env) if env else args
        except _SubstError:
            return [0, 0, 0, True]
        declared = definition.get("params") or {}
        params = {}
        for p, spec in (declared.items() if isinstance(declared, dict) else ()):
            _, default = _param_spec(spec)
            if p in args:
                params[p] = args[p]
            elif default is not _MISSING:
                params[p] = default
        key = (block, _frozen(params))
        c = self.memo.get(key)
        if c is None:
            c = self.items(definition["layers"], params, stack + (block,))
            self.memo[key] = c
        name = args.get("name")
        prefix = (len(name) if isinstance(name, str) else len(block) + 5) + 1  # auto: block_12
        n, b = self.size(args, None)  # the call's arguments, copied when they are substituted
        out = [c[0], c[1] + n, c[2] + b + c[0] * prefix, c[3]]
        self._limit(out)
        return out

    def depends(self, layers) -> bool:
        """Whether copies of these layers may differ in shape: a nested repeat's
        times, or a block call's arguments, written with $."""
        key = id(layers)
        if key not in self.shapes:
            found = False
            for entry in layers:
                if isinstance(entry, dict) and len(entry) == 1:
                    (k, a), = entry.items()
                    if not isinstance(a, dict):
                        continue
                    if k == "repeat":
                        if isinstance(a.get("times"), str) or \
                                (isinstance(a.get("layers"), list) and self.depends(a["layers"])):
                            found = True
                    elif k in self.blocks and _has_dollar(a):
                        found = True
                if found:
                    break
            self.shapes[key] = found
            self.keep.append(layers)
        return self.shapes[key]

    def size(self, value, env) -> tuple:
        """(nodes, characters) of ``value`` once substituted: an upper bound."""
        if isinstance(value, str):
            if "$" not in value or not env:
                return 1, len(value)
            whole = _REF.fullmatch(value)
            if whole and whole.group(1) in env:
                return self.param_size(env[whole.group(1)])
            evaluated = sum(len(m.group(1)) for m in _ARITH.finditer(value))
            grow = self.NUMBER_TEXT * value.count("${")
            for m in _REF.finditer(value):
                if m.group(1) in env:
                    grow += self.param_size(env[m.group(1)])[1]
            return 1 + evaluated, len(value) + grow
        if isinstance(value, dict):
            n, b = 1, 0
            for k, v in value.items():
                vn, vb = self.size(v, env)
                n, b = n + vn, b + vb + len(k)
            return n, b
        if isinstance(value, list):
            n, b = 1, 0
            for v in value:
                vn, vb = self.size(v, env)
                n, b = n + vn, b + vb
            return n, b
        return 1, 0 if value is None or isinstance(value, bool) else 24

    def param_size(self, value) -> tuple:
        if isinstance(value, (dict, list)):
            key = id(value)
            if key not in self.sizes:
                self.sizes[key] = self.size(value, None)
                self.keep.append(value)
            return self.sizes[key]
        if isinstance(value, str):
            return 1, len(value)
        return 1, len(str(value)) if isinstance(value, (int, float)) else 5


def _has_dollar(value) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(_has_dollar(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_dollar(v) for v in value)
    return False


def _frozen(value):
    """A hashable stand-in for a parameter value (for the cost memo)."""
    if isinstance(value, dict):
        return ("{", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[", tuple(_frozen(v) for v in value))
    return (type(value).__name__, value)


class _Missing:
    pass


_MISSING = _Missing()


def _param_spec(spec):
    """`int` | {type: int, default: 3} | {default: 3} -> (type name or None, default or _MISSING)."""
    if isinstance(spec, str):
        return spec, _MISSING
    if isinstance(spec, dict):
        return spec.get("type"), spec.get("default", _MISSING)
    return None, _MISSING


def _is_type(value, typ: str) -> bool:
    py = _TYPES.get(typ, object)
    if typ in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, py)


class _SubstError(Exception):
    pass


def _substitute(value, params: dict):
    """Replace ${arithmetic} and $param references (not $inputs: those are
    resolved with from:). A string that is one reference keeps the value's type."""
    if isinstance(value, str) and "$" in value:
        whole = _ARITH.fullmatch(value)
        if whole:
            return _arith(whole.group(1), params)
        if "${" in value:
            value = _ARITH.sub(lambda m: _text(_arith(m.group(1), params)), value)
        whole = _REF.fullmatch(value)
        if whole:
            key = whole.group(1)
            return params[key] if key in params else value  # unknown: maybe an input ($in)
        return _REF.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), value)
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    return value


def _text(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


@functools.lru_cache(maxsize=4096)
def _parse_arith(text: str):
    """The tree of a ${...} (cached: a repeat evaluates the same text for every copy)."""
    from ..expr import ExprError, parse
    try:
        return parse(text)
    except ExprError as e:
        raise _SubstError(f"'${{{text}}}': {e.message}") from None


def _arith(text: str, params: dict):
    """`${i + 1}`, `${4 * filters}`: arithmetic over numeric parameters, parsed
    with nnspec's expression grammar and evaluated here (never by Python).
    Every result is checked: integers stay below 2**63 in size (a power's size
    is estimated before it is computed), floats are finite and real."""
    tree = _parse_arith(text)

    def bad(why):
        return _SubstError(f"'${{{text}}}': {why}")

    def checked(v):
        if isinstance(v, int):
            if not -MAX_INT < v < MAX_INT:
                raise bad(f"the value is too large (over 2**63 in size)")
        elif not isinstance(v, float) or not math.isfinite(v):
            raise bad("the result is not a finite real number")
        return v

    def power(a, b):
        if a == 0 and b < 0:
            raise bad("zero to a negative power (division by zero)")
        if a < 0 and isinstance(b, float) and not b.is_integer():
            raise bad("a negative number to a fractional power is not a real number")
        if isinstance(b, int) and abs(b) > 64 and abs(a) not in (0, 1):
            raise bad("power too large (exponents above 64 are refused)")
        if a != 0 and b > 0 and b * math.log2(abs(a)) >= 1024:  # would overflow a float / exceed 2**63 by far
            raise bad("the value is too large (over 2**63 in size)")
        try:
            return a ** b
        except (OverflowError, ZeroDivisionError) as e:
            raise bad(str(e)) from None

    def ev(node):
        kind = node[0]
        if kind == "num":
            return checked(node[1])
        if kind == "name":
            v = params.get(node[1])
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                known = ", ".join(k for k, x in params.items() if isinstance(x, (int, float)) and not isinstance(x, bool))
                raise _SubstError(f"'${{{text}}}': '{node[1]}' is not a numeric parameter"
                                  + (f" (numeric ones here: {known})" if known else ""))
            return checked(v)
        if kind == "neg":
            return checked(-ev(node[1]))
        if kind == "bin":
            a, b = ev(node[2]), ev(node[3])
            op = node[1]
            if op == "+":
                return checked(a + b)
            if op == "-":
                return checked(a - b)
            if op == "*":
                return checked(a * b)  # both below 2**63 (or finite): the product is computed cheaply
            if op == "/":
                if b == 0:
                    raise bad("division by zero")
                if isinstance(a, int) and isinstance(b, int) and a % b == 0:
                    return checked(a // b)
                return checked(a / b)
            return checked(power(a, b))
        raise _SubstError(f"'${{{text}}}': only numbers, parameters and + - * / ** here")
    return ev(tree)


def _names_list(value) -> bool:
    """An Expr's `from:` list of names (the names its expression uses)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value) \
        and len(set(value)) == len(value)


def _name_of(item: dict):
    (key, args), = item.items()
    return args.get("name") if isinstance(args, dict) else None


def _last_local(layers) -> str | None:
    names = _local_names(layers)
    return names[-1] if names else None


def _last_key(layers):
    for entry in reversed(layers):
        if isinstance(entry, dict) and len(entry) == 1:
            return next(iter(entry))
    return None


def _last_is_named(layers) -> bool:
    for entry in reversed(layers):
        if isinstance(entry, dict) and len(entry) == 1:
            (key, args), = entry.items()
            if key == "repeat":
                return False
            return isinstance(args, dict) and isinstance(args.get("name"), str)
    return False


def _local_names(layers) -> list:
    """The local names a block's layer list defines, in order (auto names as
    the expansion will give them)."""
    out, auto = [], AutoNamer()
    for entry in layers:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        (key, args), = entry.items()
        args = args if isinstance(args, dict) else {}
        if key == "repeat":
            continue
        name = args.get("name")
        if not isinstance(name, str):
            name = auto(item_type(key, args))
        out.append(name)
    return out


