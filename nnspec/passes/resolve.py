"""Schema-valid document -> IR: names, references, inputs of each layer, cycles,
outputs and penalties that name real tensors, layers that reach nothing.

Collects every problem instead of stopping at the first.
"""
from __future__ import annotations

import keyword
import math
import re

from .. import codes
from ..diagnostics import WARNING, Diagnostic, did_you_mean
from ..ir import Input, Node, Output, Penalty, Spec, layer_of
from ..naming import COMMON_ARGS, AutoNamer, item_type
from ..ops import CATALOG
from ..ops.base import ShapeError
from ..trust import module_allowed



def _custom_refs(node, path=()):
    """(path, module:attr) of every `custom` object under a spec node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "custom" and isinstance(v, str):
                yield path + (k,), v
            else:
                yield from _custom_refs(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _custom_refs(v, path + (i,))


def _grant_hint(root: str) -> str:
    return f'run with --allow-import {root}, or add allow_import = ["{root}"] under [tool.nnspec] in pyproject.toml'


def _check_imports(doc, declared, allowed, diags) -> tuple:
    """Every `custom:` / Custom reference: refused outright (trust.py), or its module must be allowed
    by the person running nnspec (``allowed``); the spec's ``requires_import`` only declares. Imports
    nothing. Returns the modules referenced."""
    from ..trust import module_refused, refused, serialized_object_path
    for i, module in enumerate(declared):
        why = module_refused(module)
        if why:
            diags.append(Diagnostic(codes.IMPORT_REFUSED, f"module '{module}' is never imported for a spec: {why}",
                                    doc.span(("requires_import", i)), "remove it from requires_import"))
    refs = list(_custom_refs(doc.data.get("outputs", {}), ("outputs",)))
    refs += list(_custom_refs(doc.data["layers"], ("layers",)))
    for i, entry in enumerate(doc.data["layers"]):
        args = entry.get("Custom")
        if isinstance(args, dict) and "class" in args:
            refs.append((("layers", i, "Custom", "class"), args["class"]))
            where = serialized_object_path(args.get("args"), ("layers", i, "Custom", "args"))
            if where is not None:
                diags.append(Diagnostic(codes.IMPORT_REFUSED, "a Custom layer's args may not hold a serialized Keras "
                                        "object (a mapping with class_name): Keras would load whatever class it "
                                        "names", doc.span(where), "write the arguments as plain values"))
    modules = []
    for path, ref in refs:
        module = ref.split(":")[0]
        root = module.split(".")[0]
        modules.append(module)
        why = refused(ref)
        if why:
            diags.append(Diagnostic(codes.IMPORT_REFUSED, f"'{ref}' is never imported for a spec: {why}",
                                    doc.span(path), "use an op from `nnspec ops`, or a layer class of your own"))
        elif module_allowed(ref, allowed):
            continue
        elif module_allowed(ref, declared):
            diags.append(Diagnostic(codes.IMPORT_NOT_ALLOWED,
                                    f"'{ref}' needs module '{module}', which the spec declares "
                                    "(requires_import) but you have not allowed", doc.span(path), _grant_hint(root)))
        else:
            diags.append(Diagnostic(codes.IMPORT_NOT_ALLOWED,
                                    f"'{ref}' needs nnspec to import module '{module}', which is not allowed",
                                    doc.span(path), f"declare it in the spec with requires_import: [{root}], and "
                                    + _grant_hint(root)))
    return tuple(dict.fromkeys(modules))


def _check_constraint_exprs(doc, diags) -> None:
    """`kernel_constraint: {expr: ...}` and friends: an expression over the weight `w`."""
    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("_constraint") and isinstance(v, dict) and isinstance(v.get("expr"), str):
                    _check_expr(v["expr"], {"w": None}, doc.span(path + (k, "expr")), diags)
                else:
                    walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))
    walk(doc.data["layers"], ("layers",))


class LazySpans:
    """arg name -> Span, computed when a diagnostic asks (most never do)."""

    __slots__ = ("doc", "path")

    def __init__(self, doc, path):
        self.doc, self.path = doc, path

    def get(self, key, default=None):
        if self.path + (key,) in self.doc.pos:
            return self.doc.span(self.path + (key,))
        return default

    def __getitem__(self, key):
        return self.doc.span(self.path + (key,))


def _name_rule(name: str, what: str, span, diags) -> bool:
    """Names the schema's pattern allows but TensorFlow refuses: a name scope
    (every layer, input and the model) cannot start with `_`; an input is a
    keyword argument of the serving signature, so it cannot be a Python keyword
    or `self`."""
    if name.startswith("_"):
        diags.append(Diagnostic(codes.BAD_NAME, f"{what} name '{name}' starts with '_': TensorFlow refuses it (a name "
                                "scope must start with a letter, a digit or '.')", span,
                                f"e.g. {name.lstrip('_') or 'x'}"))
        return False
    if what == "input" and (keyword.iskeyword(name) or name == "self"):
        diags.append(Diagnostic(codes.BAD_NAME, f"input name '{name}' is "
                                f"{'a Python keyword' if name != 'self' else 'reserved'}: inputs are the keyword "
                                "arguments of the SavedModel's serving signature, which refuses it", span,
                                f"e.g. {name}_in"))
        return False
    return True


def freeze(spec: Spec, names, file: str) -> list[Diagnostic]:
    """``--freeze NAME`` (compile, check, summary): as ``trainable: false`` written on the layer, or on
    the top-level block call, named NAME: its weights (a call's: every layer it makes) are not trained,
    and the calls that reuse a frozen layer share its flag. Run before the shapes pass, which counts
    frozen weights as non-trainable. A name of no layer or call is an unknown-layer error."""
    from ..diagnostics import Span
    diags = []
    for name in dict.fromkeys(names or ()):
        hit = {n.layer for n in spec.nodes if not n.reuse and (n.name == name or spec.owner.get(n.name) == name)}
        if not hit:
            known = [n.name for n in spec.nodes if not n.reuse] + list(spec.calls)
            what = "an input, not a layer" if name in spec.inputs else "not a layer or block call of this spec"
            diags.append(Diagnostic(codes.UNKNOWN_LAYER, f"--freeze {name}: '{name}' is {what}", Span(file),
                                    did_you_mean(name, known) or "give the name of a layer or of a top-level "
                                    "block call (`nnspec summary` lists them)"))
            continue
        for n in spec.nodes:
            if n.layer in hit:
                n.trainable = False
    return diags


def _input_range(value, span, diags):
    """`range: [lo, hi]` of an input: two finite numbers, lo <= hi; else a bad-range error and None."""
    numbers = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not numbers:
        diags.append(Diagnostic(codes.BAD_RANGE, f"range must be [lo, hi], two finite numbers; found {value!r}", span,
                                "e.g. range: [0, 1] (every element of the input in [0, 1])"))
        return None
    if value[0] > value[1]:
        diags.append(Diagnostic(codes.BAD_RANGE, f"range [{value[0]}, {value[1]}] has lo > hi", span,
                                f"write range: [{value[1]}, {value[0]}]"))
        return None
    return float(value[0]), float(value[1])


def build_ir(doc, allow_import=()) -> tuple[Spec, list[Diagnostic]]:
    """``allow_import``: the modules the person running nnspec allows (--allow-import, their
    pyproject.toml); the only permission there is. The spec's ``requires_import`` declares."""
    data = doc.data
    diags: list[Diagnostic] = []
    spec = Spec(file=doc.file, name=data["name"], description=data.get("description", ""),
                seed=data.get("seed"), training=data.get("training") or {},
                allow_import=tuple(allow_import), requires_import=tuple(data.get("requires_import", ())),
                calls=dict(doc.meta.get("calls", {})), owner=dict(doc.meta.get("owner", {})),
                aliases=dict(doc.meta.get("aliases", {})))
    _name_rule(spec.name, "model", doc.span(("name",)), diags)
    if "weights" in data:
        spec.weights, spec.weights_span = data["weights"], doc.span(("weights",))
        _check_weights_path(spec.weights, spec.weights_span, diags)
    if "budget" in data:
        from ..budget import of_doc
        spec.budget = of_doc(doc)
    spec.custom_modules = _check_imports(doc, spec.requires_import, spec.allow_import, diags)
    _check_constraint_exprs(doc, diags)
    defined: dict[str, object] = {}  # tensor name -> Span of its definition

    def define(name, span, what="layer"):
        _name_rule(name, what, span, diags)  # and define it still: one diagnostic, no follow-on ones
        if name in defined:
            diags.append(Diagnostic(codes.DUPLICATE_NAME, f"name '{name}' is already used", span,
                                    "give each input and layer a unique name",
                                    related=(("first defined here", defined[name]),)))
            return False
        defined[name] = span
        return True

    for name, value in data["inputs"].items():
        shape, dtype = (value["shape"], value.get("dtype", "float32")) if isinstance(value, dict) else (value, "float32")
        span = doc.span(("inputs", name), key=True)
        define(name, span, "input")
        spec.inputs[name] = Input(name, (None, *shape), dtype, span)
        if isinstance(value, dict) and "range" in value:
            spec.inputs[name].range = _input_range(value["range"], doc.span(("inputs", name, "range")), diags)
            spec.inputs[name].range_span = doc.span(("inputs", name, "range"))

    # names first (explicit ones), so auto names avoid them, like Keras's uniquify
    taken = {e[k].get("name") for e in data["layers"] for k in e if isinstance(e[k], dict) and e[k].get("name")}
    taken |= set(data["inputs"])
    auto_name = AutoNamer(taken)

    previous = None  # the previous item's output tensor
    layer_nodes: dict[str, Node] = {}
    froms: dict[int, tuple] = {}  # id(node) -> (its item's path, its from: as written)
    pending_reuse = []
    for i, entry in enumerate(data["layers"]):
        (key, args), = entry.items()
        args = args or {}
        path = ("layers", i, key)
        span = doc.span(path, key=True)
        name = args.get("name") or auto_name(item_type(key, args))
        if "from" in args:
            inputs, roles = args["from"], None
            if isinstance(inputs, str):
                inputs = [inputs]
            elif isinstance(inputs, dict):
                roles = inputs
            from_span = doc.span(path + ("from",))
        else:
            if previous is None:
                if len(spec.inputs) == 1:
                    inputs = [next(iter(spec.inputs))]
                else:
                    diags.append(Diagnostic(codes.MISSING_FROM,
                                            f"the first layer has no input: the model has {len(spec.inputs)} inputs",
                                            span, "say which with from: <input name>"))
                    inputs = []
            else:
                inputs = [previous]
            roles, from_span = None, None
        given = {k: v for k, v in args.items() if k not in COMMON_ARGS and not (key == "reuse" and k == "layer")}
        if key == "reuse":
            node = Node(name=name, op="", args={}, given={}, inputs=inputs, span=span, from_span=from_span,
                        layer=args["layer"], reuse=True)
            pending_reuse.append((node, doc.span(path + ("layer",)), roles))
        else:
            op = CATALOG[key]
            node = Node(name=name, op=key, args=op.fill(given), given=given, inputs=inputs, span=span,
                        arg_spans=LazySpans(doc, path), from_span=from_span,
                        trainable=args.get("trainable", True),
                        activity_regularizer=args.get("activity_regularizer"))
            if key == "Expr":
                if roles is not None and any(isinstance(v, list) for v in roles.values()):
                    r = next(k for k, v in roles.items() if isinstance(v, list))
                    diags.append(Diagnostic(codes.BAD_FROM, f"Expr input '{r}' takes one tensor, not a list",
                                            from_span or span, "name each tensor: from: {a: x, b: y}"))
                    roles = {k: v[0] if isinstance(v, list) else v for k, v in roles.items()}
                node.args["names"] = _expr_layer(node, args.get("from"), roles, doc, path, diags)
            elif roles is not None:
                node.inputs, node.ports = _order_roles(op, roles, node, diags)
            layer_nodes[name] = node
        define(name, doc.span(path + ("name",)) if "name" in args else span)
        if "from" in args:
            froms[id(node)] = (path, args["from"])
        spec.nodes.append(node)
        previous = name

    for node, layer_span, roles in pending_reuse:
        target = layer_nodes.get(node.layer)
        if target is None:
            hint = did_you_mean(node.layer, layer_nodes) or "reuse names a layer defined in layers:"
            what = "an input, not a layer" if node.layer in spec.inputs else "not a layer in this spec"
            diags.append(Diagnostic(codes.UNKNOWN_LAYER, f"reuse: '{node.layer}' is {what}", layer_span, hint))
            continue
        node.op, node.args, node.given = target.op, target.args, target.given
        node.trainable, node.activity_regularizer = target.trainable, target.activity_regularizer
        node.arg_spans = {"layer": layer_span}
        if target.op == "Expr":
            _expr_reuse(node, roles, diags)
        elif roles is not None:
            node.inputs, node.ports = _order_roles(CATALOG[target.op], roles, node, diags)

    by_node = {n.name: n for n in spec.nodes}
    for node in spec.nodes:  # the names of the outputs of layers with several
        if node.op:
            try:
                node.outputs = CATALOG[node.op].output_names(node.args)
            except (KeyError, TypeError, ValueError, AttributeError, ShapeError):
                node.outputs = ()  # args the schema refused, or a wrapped item the shapes pass refuses
    valid = set(defined) | {t for n in spec.nodes for t in n.tensors()}

    def ref_problem(ref: str, unknown) -> tuple | None:
        """None if ``ref`` names a tensor; else (code, message, hint) of its diagnostic.
        ``unknown(name)`` gives those for a name that is nothing at all."""
        if ref in valid:
            return None
        m = re.match(_INDEXED, ref)
        if m and m.group(1) in defined:
            base, i = m.group(1), int(m.group(2))
            node = by_node.get(base)
            outs = node.outputs if node is not None else ()
            if i == 0:
                hint = f"write {base} (its first output)"
            elif i < len(outs):
                hint = f"write {base}.{outs[i]}"
            else:
                hint = f"its outputs are: {_outputs_text(node)}" if outs else f"'{base}' has one output: write {base}"
            return codes.BAD_REFERENCE, f"'{ref}': outputs are referred to by name, not by index", hint
        base, _, out = ref.partition(".")
        if not out or base not in defined:
            return unknown(base)
        if base in spec.inputs:
            return codes.NO_SUCH_OUTPUT, f"'{ref}': '{base}' is an input, one tensor", f"write {base}"
        node = by_node[base]
        op = CATALOG.get(node.op)
        if op is None:
            return unknown(base)
        enable = op.outputs.enable.get(out) if op.outputs is not None else None
        if enable and out not in node.outputs:
            what, _, where = enable.partition(" on ")  # "return_state: true on the layer inside"
            hint = f"add {what} to " + (f"{where} '{base}'" if where else f"'{base}'")
            return codes.OUTPUT_NOT_ENABLED, f"'{ref}': {op.name} '{base}' gives '{out}' only with {enable}", hint
        message = f"'{ref}': {op.name} '{base}' has no output '{out}'"
        if not node.outputs:
            return codes.NO_SUCH_OUTPUT, message, f"'{base}' has one output: write {base}"
        close = did_you_mean(out, node.outputs)
        return codes.NO_SUCH_OUTPUT, message, (f"{close} " if close else "") + f"its outputs are: {_outputs_text(node)}"

    def ref_span(node, ref):
        """Where ``ref`` is written in the node's from: (the item in a list or a port), else from:."""
        if id(node) in froms:
            path, value = froms[id(node)]
            path = path + ("from",)
            where = [()] if value == ref else [(i,) for i, v in enumerate(value) if v == ref] \
                if isinstance(value, list) else []
            if isinstance(value, dict):
                for k, v in value.items():
                    where += [(k,)] if v == ref else [(k, i) for i, x in enumerate(v) if x == ref] \
                        if isinstance(v, list) else []
            if where and path + where[0] in doc.pos:
                return doc.span(path + where[0])
        return node.from_span or node.span

    # every input reference exists; input counts fit the op
    for node in spec.nodes:
        for ref in node.refs():
            problem = ref_problem(ref, lambda base, node=node, ref=ref: (
                codes.UNKNOWN_REFERENCE, f"'{node.name}' takes input from '{ref}', which is not defined",
                did_you_mean(base, defined) or "from: names an input or a layer"))
            if problem is not None:
                code, message, hint = problem
                base = layer_of(ref)
                related = (((f"'{base}' is defined here", by_node[base].span),)
                           if code == codes.OUTPUT_NOT_ENABLED and base in by_node else ())
                diags.append(Diagnostic(code, message, ref_span(node, ref), hint, related=related))
        if node.op and node.inputs:
            lo, hi = CATALOG[node.op].inputs
            n = len(node.inputs)
            if n < lo or (hi is not None and n > hi):
                want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
                hint = "list them: from: [a, b]" if lo > 1 else "give it one input"
                ports = CATALOG[node.op].ports
                if ports and n > hi:
                    hint = (f"give the {' and '.join(p.name for p in ports)} by name: from: "
                            f"{{{CATALOG[node.op].input_names[0]}: {node.inputs[0]}, {ports[0].name}: "
                            f"{'[...]' if ports[0].many else '...'}}}")
                diags.append(Diagnostic(codes.INPUT_COUNT, f"{node.op} '{node.name}' takes {want} input"
                                        f"{'s' if lo != 1 or hi != 1 else ''}; found {n}",
                                        node.from_span or node.span, hint))

    for name, value in data["outputs"].items():
        value = value or {}
        span = doc.span(("outputs", name), key=True)
        problem = ref_problem(name, lambda base, name=name: (
            codes.UNKNOWN_OUTPUT, f"output '{name}' is not a layer or input of this spec",
            did_you_mean(base, defined) or "outputs name tensors defined in layers:"))
        if problem is not None:
            code, message, hint = problem
            diags.append(Diagnostic(code, message, span, hint))
        if "weight" in value and "loss" not in value:
            diags.append(Diagnostic(codes.WEIGHT_WITHOUT_LOSS, f"output '{name}' has a loss weight but no loss",
                                    doc.span(("outputs", name, "weight"), key=True), "add loss: ... or drop weight"))
        if isinstance(value.get("loss"), dict) and "expr" in value["loss"]:
            _check_expr(value["loss"]["expr"], {"y_true": None, "y_pred": None},
                        doc.span(("outputs", name, "loss", "expr")), diags)
        for j, m in enumerate(value.get("metrics") or []):
            _check_metric(m, ("outputs", name, "metrics", j), doc, diags)
        spec.outputs[name] = Output(name, value.get("loss"), value.get("weight", 1.0),
                                    list(value.get("metrics", [])), span)
        if isinstance(value.get("loss"), dict) and "expr" in value["loss"]:
            spec.outputs[name].expr_span = doc.span(("outputs", name, "loss", "expr"))
        spec.outputs[name].metric_spans = LazySpans(doc, ("outputs", name, "metrics"))

    for i, p in enumerate(data.get("penalties") or []):
        spec_p = _penalty(p, ("penalties", i), doc, defined, diags, valid, ref_problem)
        if spec_p:
            spec.penalties.append(spec_p)

    if any(d.code in (codes.UNKNOWN_REFERENCE, codes.UNKNOWN_LAYER, codes.MISSING_FROM, codes.DUPLICATE_NAME,
                      codes.NO_SUCH_OUTPUT, codes.OUTPUT_NOT_ENABLED, codes.BAD_REFERENCE) for d in diags):
        return spec, diags
    spec.nodes = _toposort(spec, diags)
    if not diags:
        _unreachable(spec, diags)
    return spec, diags


def _check_weights_path(path: str, span, diags) -> None:
    """A spec's `weights:` names a file the spec's author chose: only below the spec's own
    directory (compile checks again with symbolic links resolved), never absolute or through '..'."""
    parts = re.split(r"[\\/]", path)
    why = None
    if path.startswith(("/", "\\", "~")) or re.match(r"[A-Za-z]:", path):
        why = "is absolute"
    elif ".." in parts:
        why = "goes up with '..'"
    elif not path.endswith((".keras", ".weights.h5")):
        why = "does not end in .keras or .weights.h5"
    if why:
        diags.append(Diagnostic(codes.WEIGHTS_PATH, f"weights: {path!r} {why}: a spec may name a weights file below "
                                "its own directory only", span, "put the file beside the spec (weights: "
                                "base.weights.h5), or give your own path with nnspec compile --weights FILE"))


def _check_metric(m, path, doc, diags) -> None:
    """A metric mapping holds one metric; `name` goes with `expr` only (a class takes it among its
    arguments: {AUC: {curve: PR, name: pr_auc}}); an expression names y_true and y_pred only."""
    if not isinstance(m, dict):
        return
    keys = [k for k in m if k != "name"]
    if len(keys) != 1:
        diags.append(Diagnostic(codes.BAD_METRIC,
                                f"a metric mapping holds one metric; found {', '.join(keys) or 'only name'}",
                                doc.span(path), "write each metric as its own list item: [{AUC: {}}, mae]"
                                if len(keys) > 1 else "add the metric: {expr: \"...\", name: ...}"))
        return
    if "name" in m and keys[0] != "expr":
        diags.append(Diagnostic(codes.BAD_METRIC, f"name goes beside expr only; {keys[0]} takes it among its arguments",
                                doc.span(path + ("name",), key=True),
                                f"write {{{keys[0]}: {{name: {m['name']}}}}}" if keys[0] != "custom"
                                else "a custom metric has its own name"))
    if keys[0] == "expr" and isinstance(m["expr"], str):
        _check_expr(m["expr"], {"y_true": None, "y_pred": None}, doc.span(path + ("expr",)), diags)


def _flat(values) -> list:
    return [t for v in values for t in (v if isinstance(v, list) else [v])]


def _order_roles(op, roles: dict, node: Node, diags) -> tuple[list, dict]:
    """`from: {query: q, value: v}` -> ([q, v], {}); an op's keyword ports (`initial_state: [h, c]`)
    go to the second: {port: [tensor, ...]}."""
    names = op.input_names or ()
    ports = {p.name: p for p in op.ports}
    span = node.from_span or node.span
    if not names and not ports:
        diags.append(Diagnostic(codes.BAD_FROM, f"{op.name} has no named inputs; from: takes a name or a list here",
                                span, f"write from: [{', '.join(_flat(roles.values()))}]"))
        return _flat(roles.values()), {}
    unknown = [r for r in roles if r not in names and r not in ports]
    every = list(names) + list(ports)
    for r in unknown:
        diags.append(Diagnostic(codes.BAD_FROM, f"{op.name} has no input '{r}'", span,
                                did_you_mean(r, every) or f"its inputs are: {', '.join(every)}"))
    bad = False
    for r, v in roles.items():
        port = ports.get(r)
        if isinstance(v, list) and (port is None or not port.many):
            diags.append(Diagnostic(codes.BAD_FROM, f"{op.name} input '{r}' takes one tensor, not a list", span,
                                    f"write {r}: {v[0]}" if v else f"write {r}: <tensor>"))
            bad = True
    ordered = []
    for r in names:
        if r in roles:
            ordered.append(roles[r])
        else:
            break
    missing = [r for r in names[: op.inputs[0]] if r not in roles]
    for r in missing:
        diags.append(Diagnostic(codes.BAD_FROM, f"{op.name} '{node.name}' needs input '{r}'", span,
                                f"add {r}: <tensor> to from:"))
    if unknown or missing or bad:
        return _flat(roles.values()), {}
    given = {r: (v if isinstance(v, list) else [v]) for r, v in roles.items() if r in ports}
    return ordered, given


def _expr_layer(node, written, roles, doc, path, diags) -> list:
    """The names an Expr layer's expression uses for its inputs: the keys of a `from:` map,
    the tensor names of a list, `x` for one input; the expression is parsed and may use
    no other name."""
    if roles is not None:
        names, node.inputs = list(roles), list(roles.values())
    elif isinstance(written, list):
        names = list(node.inputs)
    else:
        names = ["x"]
    text = node.given.get("expr")
    if not isinstance(text, str):
        return names
    from .. import expr as expr_lang
    span = doc.span(path + ("expr",))
    try:
        tree = expr_lang.parse(text)
    except expr_lang.ExprError as e:
        from .shapes import expr_column
        diags.append(Diagnostic(codes.BAD_EXPRESSION, f"Expr '{node.name}': {e.message} (column {e.col} of {text!r})"
                                if e.col else f"Expr '{node.name}': {e.message}",
                                expr_column(span, node.arg_spans, text, e.col), e.hint))
        return names
    for name, col in expr_lang.names(tree):
        if name not in names:
            from .shapes import expr_column
            if names == ["x"]:
                hint = "with one input, the expression calls it x" + (
                    f"; or name it: from: {{{name}: {written}}}" if isinstance(written, str) else "")
            else:
                hint = did_you_mean(name, names) or f"its inputs are {', '.join(names)}; " \
                    "name them with a map, from: {a: tensor_a, b: tensor_b}"
            diags.append(Diagnostic(codes.UNKNOWN_TENSOR, f"Expr '{node.name}': the expression uses '{name}' (column "
                                    f"{col}), which is not one of its inputs ({', '.join(names)})",
                                    expr_column(span, node.arg_spans, text, col), hint))
            break
    return names


def _expr_reuse(node, roles, diags) -> None:
    """A reused Expr takes its inputs by the names of its first call, or in their order."""
    names = node.args.get("names") or ["x"]
    if roles is not None:
        if set(roles) != set(names):
            diags.append(Diagnostic(codes.BAD_FROM, f"reuse of Expr '{node.layer}' names its inputs "
                                    f"{', '.join(roles)}, but its expression uses {', '.join(names)}",
                                    node.from_span or node.span, f"from: {{{', '.join(n + ': ...' for n in names)}}}"))
            return
        node.inputs = [roles[n] for n in names]
    elif len(node.inputs) != len(names):
        diags.append(Diagnostic(codes.INPUT_COUNT, f"reuse of Expr '{node.layer}' takes {len(names)} input(s) "
                                f"({', '.join(names)}); found {len(node.inputs)}", node.from_span or node.span,
                                f"from: [{', '.join(names)}]" if len(names) > 1 else "give it one input"))


def _outputs_text(node) -> str:
    """"enc (or enc.output), enc.state_h, enc.state_c"."""
    first, *rest = node.outputs
    return ", ".join([f"{node.name} (or {node.name}.{first})"] + [f"{node.name}.{o}" for o in rest])


_INDEXED = r"^([A-Za-z_][A-Za-z0-9_]*)\[([0-9]+)\]$"  # compiled when first needed (by re): a wrong ref only


def _penalty(p: dict, path, doc, defined, diags, valid=None, ref_problem=None) -> Penalty | None:
    span = doc.span(path)
    kinds = [k for k in ("l1", "l2", "l1_l2", "expr") if k in p]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        diags.append(Diagnostic(codes.BAD_PENALTY, f"a penalty has exactly one of l1, l2, l1_l2, expr; found {found}",
                                span, "e.g. {on: trunk, l2: 0.01} or {expr: 0.01 * mean(abs(trunk))}"))
        return None
    kind = kinds[0]
    if kind == "expr":
        for extra in ("on", "reduce"):
            if extra in p:
                diags.append(Diagnostic(codes.BAD_PENALTY, f"'{extra}' does not go with expr: the expression names "
                                        "its tensors and reductions itself", doc.span(path + (extra,), key=True),
                                        f"remove {extra}"))
        tree = _check_expr(p["expr"], {n: None for n in (valid or defined)}, doc.span(path + ("expr",)), diags,
                           ref_problem)
        if tree is None:
            return None
        from ..expr import names as expr_names
        used = [n for n, _ in expr_names(tree)]
        return Penalty("expr", list(dict.fromkeys(used)), text=p["expr"], tree=tree, span=span)
    if "on" not in p:
        diags.append(Diagnostic(codes.BAD_PENALTY, f"a {kind} penalty needs on: <tensor name>", span,
                                f"e.g. {{on: trunk, {kind}: 0.01}}"))
        return None
    on = [p["on"]] if isinstance(p["on"], str) else list(p["on"])
    ok = True
    for j, name in enumerate(on):
        if name not in (valid or defined):
            sub = path + ("on",) + ((j,) if isinstance(p["on"], list) else ())
            problem = ref_problem(name, lambda base: None) if ref_problem else None
            code, message, hint = problem or (
                codes.UNKNOWN_TENSOR, f"penalty on '{name}': no such tensor",
                did_you_mean(layer_of(name), defined) or "name a layer or input of this spec")
            diags.append(Diagnostic(code, message, doc.span(sub), hint))
            ok = False
    if not ok:
        return None
    return Penalty(kind, on, coef=p[kind], reduce=p.get("reduce", "sum"), span=span)


def _check_expr(text, names, span, diags, ref_problem=None):
    from .. import expr as expr_lang  # lark loads only for specs with expressions
    try:
        tree = expr_lang.parse(text)
    except expr_lang.ExprError as e:
        diags.append(Diagnostic(codes.BAD_EXPRESSION, f"expression: {e.message} (column {e.col} of {text!r})"
                                if e.col else f"expression: {e.message}", span, e.hint))
        return None
    for name, col in expr_lang.names(tree):
        if name not in names and "." in name and ref_problem is not None:
            problem = ref_problem(name, lambda base: None)
            if problem is not None:
                code, message, hint = problem
                diags.append(Diagnostic(code, f"expression: {message} (column {col} of {text!r})", span, hint))
                return None
        if name not in names:
            diags.append(Diagnostic(codes.UNKNOWN_TENSOR,
                                    f"expression: unknown name '{name}' (column {col} of {text!r})",
                                    span, did_you_mean(name, names) or
                                    ("here the names are " + ", ".join(sorted(names)) if len(names) < 8 else None)))
            return None
    return tree


def _toposort(spec: Spec, diags) -> list:
    """Nodes in dependency order (stable: spec order where free). Reports cycles."""
    by_name = {n.name: n for n in spec.nodes}
    order_index = {n.name: i for i, n in enumerate(spec.nodes)}
    deps = {n.name: list(dict.fromkeys(layer_of(r) for r in n.refs() if layer_of(r) in by_name)) for n in spec.nodes}
    # a reuse call must come after the layer it reuses is built
    for n in spec.nodes:
        if n.reuse and n.layer in by_name:
            deps[n.name].append(n.layer)
    indeg = {k: len(v) for k, v in deps.items()}
    users: dict[str, list] = {k: [] for k in deps}
    for k, v in deps.items():
        for d in v:
            users[d].append(k)
    import heapq
    ready = [(order_index[k], k) for k, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(by_name[k])
        for u in users[k]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, (order_index[u], u))
    if len(out) < len(spec.nodes):
        left = {k for k, d in indeg.items() if d > 0}
        cycle = _find_cycle(left, deps)
        first = by_name[cycle[0]]
        diags.append(Diagnostic(codes.CYCLE, "layers form a cycle: " + " -> ".join(cycle + [cycle[0]]),
                                first.from_span or first.span, "a layer cannot take input from its own output; "
                                "check the from: of these layers"))
        out += [n for n in spec.nodes if n.name in left]
    return out


def _find_cycle(left, deps):
    start = min(left)
    path, seen = [start], {start}
    while True:
        nxt = next(d for d in deps[path[-1]] if d in left)
        if nxt in seen:
            return path[path.index(nxt):]
        path.append(nxt)
        seen.add(nxt)


def _unreachable(spec: Spec, diags) -> None:
    """Layers that feed no output are dropped by Keras: warn. A penalty on such a
    tensor would silently never apply: error."""
    needed = spec.upstream(spec.outputs)
    for p in spec.penalties:
        for t in p.on:
            if t not in needed:
                diags.append(Diagnostic(codes.PENALTY_UNREACHABLE,
                                        f"penalty on '{t}': '{t}' does not feed any output, so the model would "
                                        "never compute it", p.span,
                                        f"penalise a tensor on the way to an output, or add {t}: null to outputs:"))
    for n in spec.nodes:
        if n.name not in needed and not any(t in needed for t in n.tensors()):
            diags.append(Diagnostic(codes.UNUSED_LAYER, f"layer '{n.name}' does not reach any output",
                                    n.span, "add it to outputs:, use it as an input, or remove it",
                                    severity=WARNING))
    for name, inp in spec.inputs.items():
        if name not in needed:
            diags.append(Diagnostic(codes.UNUSED_INPUT, f"input '{name}' is not used", inp.span,
                                    "remove it or feed it to a layer with from:", severity=WARNING))
