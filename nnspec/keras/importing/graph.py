"""The graph walk: a Functional model's nodes, from its outputs back to its inputs, in an order that
follows chains, one spec item per layer call (reuse items for later calls of a layer, nested models
flattened, nnspec's Penalty layers back to ``penalties``)."""
from __future__ import annotations

import re

from .. import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from ...ops import CATALOG  # noqa: E402
from ...ops.base import ImportRefused, Op  # noqa: E402
from ...schema import DTYPES  # noqa: E402
from .common import ModelImportError, _plain, _registered_name, _short  # noqa: E402
from .vocabulary import _class_path, _common_args, _Ctx, _custom_item, _foreign_op, _layer_item, _ops_by_class  # noqa: E402

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


# ------------------------------------------------------------------ the graph
def _history(t):
    return t._keras_history


_MASK_KWARGS = ("mask", "query_mask", "value_mask", "key_mask")


def _call_parts(node) -> tuple[list, dict]:
    """(args, kwargs) of a call without the masks Keras passed itself (a mask propagated from an
    Embedding with mask_zero, say): nnspec's rebuilt model propagates them the same way."""
    args, kwargs = list(node.arguments.args), dict(node.arguments.kwargs)
    auto = {id(m) for t in keras.tree.flatten(args) if keras.backend.is_keras_tensor(t)
            for m in [getattr(t, "_keras_mask", None)] if m is not None}
    for k in _MASK_KWARGS:
        if k in kwargs and all(m is None or id(m) in auto for m in keras.tree.flatten(kwargs[k])):
            del kwargs[k]
    return args, kwargs


def _data_tensors(node) -> list:
    args, kwargs = _call_parts(node)
    return [t for t in keras.tree.flatten((args, kwargs)) if keras.backend.is_keras_tensor(t)]


def _node_of(t):
    op, node_index, _ = _history(t)
    return op._inbound_nodes[node_index]


def _functional(model):
    """The Functional graph of a model (a built Sequential's inner one), or raise."""
    if isinstance(model, keras.Sequential):
        inner = getattr(model, "_functional", None)
        if inner is None:
            raise ModelImportError(f"Sequential model '{model.name}' has no input shape yet; give it one "
                                   "(keras.Input(shape) as its first layer, or call model.build(shape))")
        return inner
    if not hasattr(model, "_inbound_nodes") or not hasattr(model, "outputs") or not hasattr(model, "_operations"):
        raise ModelImportError(f"model '{model.name}' ({type(model).__name__}) is not a Functional or Sequential "
                               "model; subclassed models have no graph to read")
    try:
        model.outputs  # noqa: B018
    except Exception:  # noqa: BLE001
        raise ModelImportError(f"model '{model.name}' ({type(model).__name__}) has no graph (outputs) to read; "
                               "subclassed models cannot be imported") from None
    return model


def _all_names(model, out: set) -> set:
    for op in _functional(model).operations:
        out.add(op.name)
        if isinstance(op, keras.Model):
            _all_names(op, out)
    return out


class _Importer:
    def __init__(self, model):
        self.model = model
        self.items: list = []  # (item, [input names] or {Expr name: input name}, output name, {port: [names]})
        self.first_args: dict = {}  # id(layer) -> the args of its first call's item
        self.last_ports, self.last_call_args = {}, {}  # of the call call_inputs last read
        self.penalties: list = []
        self.ctx = _Ctx(notes=[], modules=[])
        self.first_call: dict = {}  # id(layer) -> spec layer name
        self.calls: dict = {}  # id(layer) -> number of calls so far
        self.taken: set = _all_names(model, set())
        self.defined: set = set()  # spec names given so far (inputs, layer items, reuse items)

    # -------------------------------------------------------------- names
    def _fresh(self, base: str) -> str:
        name, i = base, 2
        while name in self.taken or name in self.defined:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def _first_name(self, layer) -> str:
        """The name of a layer at its first call: one a spec can hold, and no other layer's."""
        name = layer.name
        self._check_name(name, "layer")
        if name in self.defined:
            raise ModelImportError(f"two layers are named '{name}' (one may be inside a nested model); "
                                   "hint: rename one, weights are matched by name")
        return name

    def _check_name(self, name: str, what: str) -> None:
        if not _IDENT.match(name) or len(name) > 128:
            raise ModelImportError(f"{what} '{name}' is not a valid nnspec name (letters, digits and _, not starting "
                                   "with a digit); hint: rename it in the model, weights are matched by name")

    # -------------------------------------------------------------- walking
    def run_top(self) -> tuple[dict, list]:
        graph = _functional(self.model)
        inputs = {}
        names = {}
        for t in graph.inputs:
            layer = _history(t).operation
            name = layer.name
            self._check_name(name, "input")
            if name in inputs:
                raise ModelImportError(f"two inputs are named '{name}'")
            shape = list(t.shape)
            dtype = str(t.dtype)
            if getattr(t, "sparse", False) or getattr(t, "ragged", False):
                raise ModelImportError(f"input '{name}' is sparse or ragged; nnspec inputs are dense tensors")
            if dtype not in DTYPES:
                raise ModelImportError(f"input '{name}' has dtype {dtype}; nnspec inputs take {', '.join(DTYPES)}")
            if shape and shape[0] is not None:
                self.ctx.notes.append(f"input '{name}' had a fixed batch size {shape[0]}; nnspec inputs leave it open")
            dims = [None if d is None else int(d) for d in shape[1:]]
            inputs[name] = dims if dtype == "float32" else {"shape": dims, "dtype": dtype}
            names[id(t)] = name
            self.defined.add(name)
        outs = self.walk(graph, names)
        return inputs, outs

    def walk(self, graph, names: dict) -> list:
        """Emit items for ``graph``'s nodes; ``names`` maps id(input tensor) -> spec name. Returns the spec
        names of its outputs."""
        input_ids = {id(t) for t in graph.inputs}
        missing = [t for t in graph.inputs if id(t) not in names]
        if missing:
            raise ModelImportError(f"model '{graph.name}': an input is not connected")
        order_index = {id(op): i for i, op in enumerate(graph.operations)}
        # the nodes between inputs and outputs
        nodes, stack = {}, list(graph.outputs)
        while stack:
            t = stack.pop()
            if id(t) in input_ids:
                continue
            node = _node_of(t)
            if id(node) in nodes:
                continue
            tensors = _data_tensors(node)
            if not tensors:
                raise ModelImportError(f"model '{graph.name}': tensor of '{node.operation.name}' does not come "
                                       "from the model's inputs")
            nodes[id(node)] = node
            stack.extend(tensors)

        def parents(node):
            return {id(_node_of(t)) for t in _data_tensors(node) if id(t) not in input_ids}

        deps = {k: parents(n) for k, n in nodes.items()}
        users: dict = {}
        for k, ds in deps.items():
            for d in ds:
                users.setdefault(d, []).append(k)

        def key(k):
            n = nodes[k]
            return order_index.get(id(n.operation), len(order_index)), n.operation._inbound_nodes.index(n)

        remaining = {k: len(ds) for k, ds in deps.items()}
        ready = {k for k, c in remaining.items() if c == 0}
        last = None
        while ready:
            follow = [k for k in users.get(last, ()) if k in ready] if last is not None else []
            k = min(follow or ready, key=key)
            ready.discard(k)
            self.emit(nodes[k], names)
            last = k
            for u in users.get(k, ()):
                remaining[u] -= 1
                if remaining[u] == 0:
                    ready.add(u)
        outs = []
        for t in graph.outputs:
            if id(t) not in names:
                raise ModelImportError(f"model '{graph.name}': an output could not be traced to its inputs")
            outs.append(names[id(t)])
        return outs

    def emit(self, node, names: dict) -> None:
        layer = node.operation
        if isinstance(layer, keras.Model):
            self.emit_submodel(node, names)
            return
        if isinstance(layer, keras.layers.InputLayer):
            raise ModelImportError(f"input '{layer.name}' is not one of the model's inputs")
        registered = _registered_name(layer)
        if registered == "nnspec>Penalty":
            self.emit_penalty(node, names)
            return
        foreign = _foreign_op(layer)  # an op record's own reading of the class (before the class table)
        if foreign is not None:
            self.emit_foreign(node, foreign, names)
            return
        op = _ops_by_class().get(type(layer))
        if op is None and registered is None:
            raise ModelImportError(
                f"layer '{layer.name}' is a {type(layer).__module__}.{type(layer).__name__}, which is not in nnspec's "
                "catalog (`nnspec ops` lists the layer types)"
                + ("; hint: write what the Lambda computes as an Expr layer (nnspec's safe expressions: `nnspec ops "
                   "Expr`) or a catalog layer (Slice for indexing)" if type(layer).__name__ ==
                   "Lambda" else "; a class of your own must be registered with "
                   "@keras.saving.register_keras_serializable to become a Custom item"))
        if op is None and len(node.outputs) != 1:
            raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}) returns {len(node.outputs)} "
                                   "tensors; a Custom layer has one output")
        inputs = self.call_inputs(node, op or CATALOG["Custom"], names)
        ports, call_args = self.last_ports, self.last_call_args
        out = node.outputs[0]
        lid = id(layer)
        if lid in self.first_call:  # a later call of a shared layer
            self.calls[lid] += 1
            name = self._fresh(f"{self.first_call[lid]}_call{self.calls[lid]}")
            first_args = self.first_args[lid]
            if any(first_args.get(k, False) != v for k, v in call_args.items()) or \
                    any(first_args.get(k) and k not in call_args for k in op.call_args):
                raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}) is called again with other "
                                       f"{', '.join(op.call_args)}; nnspec's reuse calls a layer as it was first "
                                       "called")
            self.items.append(({"reuse": {"layer": self.first_call[lid]}}, inputs, name, ports))
        else:
            name = self._first_name(layer)
            if op is None:
                item = _custom_item(layer, out.shape, self.ctx)
            else:
                item = _layer_item(layer, self.ctx, inputs=[t for t in _data_tensors(node)][:len(inputs)])
                (type_name, item_args), = item.items()
                item = {type_name: {**item_args, **call_args}}
            first_args = next(iter(item.values()))
            self.first_call[lid] = name
            self.first_args[lid] = first_args
            self.calls[lid] = 1
            self.items.append((item, inputs, name, ports))
        self.defined.add(name)
        outputs = op.output_names(op.fill({k: v for k, v in first_args.items() if k in op.arg_index})) \
            if op is not None else ()
        if len(node.outputs) != max(1, len(outputs)):
            raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}) returns {len(node.outputs)} "
                                   f"tensors; nnspec's {op.name} with these arguments gives "
                                   f"{', '.join(outputs) if outputs else 'one'}")
        names[id(out)] = name
        for o, t in zip(outputs[1:], node.outputs[1:]):
            names[id(t)] = f"{name}.{o}"

    def emit_foreign(self, node, op: Op, names: dict) -> None:
        """A Keras class outside keras.layers that a catalog op stands for (the op record's ``imports``):
        a keras.ops call -> Expr, convnext's LayerScale -> Scale."""
        layer = node.operation
        where = f"layer '{layer.name}' ({_class_path(layer)})"
        args, kwargs = _call_parts(node)
        self._drop_training(kwargs)
        try:
            made = op.imports.make(layer, args, kwargs)
        except ImportRefused as e:
            raise ModelImportError(f"{where} {e.message}" + (f"; hint: {e.hint}" if e.hint else "")) from None
        out = node.outputs[0]
        if len(node.outputs) != 1 or str(out.dtype) != "float32":
            raise ModelImportError(f"{where} gives {len(node.outputs)} tensors of dtype {out.dtype}; nnspec's "
                                   f"{op.name} gives one float32 tensor")

        def name_of(t):
            if id(t) not in names:
                raise ModelImportError(f"{where} is called on {_short(t)}, not a tensor of the model")
            return names[id(t)]

        inputs = {k: name_of(t) for k, t in made.inputs.items()} if isinstance(made.inputs, dict) \
            else [name_of(t) for t in made.inputs]
        lid = id(layer)
        is_layer = isinstance(layer, keras.layers.Layer)
        if lid in self.first_call:  # called again: a shared layer, or a keras.ops Operation used twice
            self.calls[lid] += 1
            name = self._fresh(f"{self.first_call[lid]}_call{self.calls[lid]}")
        else:
            name = self._first_name(layer)
            self.first_call[lid], self.calls[lid] = name, 1
        if is_layer and self.calls[lid] > 1:  # its weights (and an Expr's names) are the first call's
            item = {"reuse": {"layer": self.first_call[lid]}}
        else:  # an Operation has no weights: each call is an item of its own
            common = _common_args(layer, layer.get_config()) if is_layer else {}
            item = {op.name: {**made.args, **common}}
        self.items.append((item, inputs, name, {}))
        self.defined.add(name)
        names[id(out)] = name

    def emit_submodel(self, node, names: dict) -> None:
        sub = node.operation
        graph = _functional(sub)
        args, kwargs = _call_parts(node)
        self._drop_training(kwargs)
        if kwargs.get("mask") is not None:
            raise ModelImportError(f"model '{sub.name}' is called with a mask; nnspec cannot pass masks")
        kwargs.pop("mask", None)
        if kwargs or len(args) != 1:
            raise ModelImportError(f"model '{sub.name}' is called with arguments nnspec cannot write: "
                                   f"{sorted(kwargs) or len(args)}")
        given = args[0]
        struct = graph._inputs_struct
        if isinstance(given, dict) and isinstance(struct, dict):
            given = [given[k] for k in struct]
        given = keras.tree.flatten(given)
        if len(given) != len(graph.inputs):
            raise ModelImportError(f"model '{sub.name}' takes {len(graph.inputs)} inputs but is called with "
                                   f"{len(given)}")
        inner = {}
        for t_in, t_outer in zip(graph.inputs, given):
            if id(t_outer) not in names:
                raise ModelImportError(f"model '{sub.name}' is called on a tensor that is not traced")
            inner[id(t_in)] = names[id(t_outer)]
        outs = self.walk(graph, inner)
        if len(outs) != len(node.outputs):
            raise ModelImportError(f"model '{sub.name}': {len(node.outputs)} outputs, {len(outs)} traced")
        for t, name in zip(node.outputs, outs):
            names[id(t)] = name
        if not any(n.startswith(f"model '{sub.name}'") for n in self.ctx.notes):
            self.ctx.notes.append(f"model '{sub.name}' nested in '{self.model.name}' is flattened: its layers are "
                                  "items of this spec")

    def emit_penalty(self, node, names: dict) -> None:
        """nnspec's Penalty layer (from a model nnspec built) -> a `penalties` entry; the tensor passes through."""
        layer = node.operation
        tensors = self.call_inputs(node, CATALOG["Custom"], names)
        cfg = layer.get_config()
        if cfg["kind"] == "expr":
            if list(cfg.get("names") or []) != tensors:
                raise ModelImportError(f"penalty layer '{layer.name}': its expression names {cfg.get('names')} are not "
                                       f"the tensors it reads ({tensors})")
            entry = {"expr": cfg["expr"]}
        else:
            entry = {"on": tensors[0] if len(tensors) == 1 else tensors, cfg["kind"]: _plain(cfg["coef"])}
            if cfg.get("reduce", "sum") != "sum":
                entry["reduce"] = cfg["reduce"]
        self.penalties.append(entry)
        names[id(node.outputs[0])] = tensors[0]

    @staticmethod
    def _drop_training(kwargs: dict) -> None:
        # A recorded training=... is overridden whenever the model itself is called with training=True/False
        # (keras.src.models.functional.operation_fn), as in fit, evaluate and predict: nothing to write.
        kwargs.pop("training", None)

    def call_inputs(self, node, op: Op, names: dict) -> list:
        """The spec names of a call's input tensors, in the op's order."""
        layer = node.operation
        args, kwargs = _call_parts(node)
        self._drop_training(kwargs)
        where = f"layer '{layer.name}' ({type(layer).__name__})"

        def name_of(t):
            if not keras.backend.is_keras_tensor(t) or id(t) not in names:
                raise ModelImportError(f"{where} is called on {_short(t)}, not a tensor of the model")
            return names[id(t)]

        # the op's keyword ports (initial_state=[h, c]) and the args its call takes (return_attention_scores)
        self.last_ports, self.last_call_args = {}, {}
        for port in op.ports:
            given = kwargs.pop(port.name, None)
            if given is not None and not _all_none(given):
                self.last_ports[port.name] = [name_of(t) for t in (keras.tree.flatten(given) if port.many
                                                                   else [given])]
        for key in op.call_args:
            if kwargs.pop(key, False):
                self.last_call_args[key] = True

        def no_more(kw, quiet=("mask",), off=()):
            for k, v in kw.items():
                if v is None or (k in off and v is False) or (k in quiet and _all_none(v)):
                    continue
                raise ModelImportError(f"{where} is called with {k}={_short(v)}, which nnspec cannot write")

        hooks = op.import_hooks
        if hooks is not None and hooks.call is not None:  # not layer(x) / layer([x, y]): the op reads it
            try:
                tensors, rest = hooks.call(args, kwargs)
            except ImportRefused as e:
                raise ModelImportError(f"{where} {e.message}" + (f"; hint: {e.hint}" if e.hint else "")) from None
            no_more(rest, quiet=hooks.quiet, off=hooks.off)
            return [name_of(t) for t in tensors]
        no_more(kwargs)
        flat = keras.tree.flatten(args)
        if not flat:
            raise ModelImportError(f"{where} is called without a tensor")
        out = [name_of(t) for t in flat]
        lo, hi = op.inputs
        if len(out) < lo or (hi is not None and len(out) > hi):
            raise ModelImportError(f"{where} is called on {len(out)} tensors; nnspec's {op.name} takes "
                                   f"{lo}" + ("" if lo == hi else f" to {hi or 'many'}"))
        return out


def _all_none(v) -> bool:
    return all(x is None for x in keras.tree.flatten(v))
