"""A Keras model -> nnspec spec data (`nnspec import`).

``import_model(model)`` walks a Functional (or Sequential) model's graph from
its outputs back to its inputs and writes one spec item per layer call, in a
topological order that follows chains (so most items need no ``from``):

* the first call of a layer is a layer item named as the layer; later calls of
  the same layer object are ``reuse`` items (shared weights);
* nested Functional / Sequential models are flattened into the outer spec
  (their layers keep their names; a name used twice is refused);
* each layer is written with the arguments that differ from the op's defaults,
  taken from ``layer.get_config()`` and turned back into nnspec's vocabulary
  (``GlorotUniform()`` -> ``glorot_uniform``, ``L2(0.01)`` -> ``{l2: 0.01}``);
* every layer item is then checked by building nnspec's layer from the
  written arguments and comparing its config with the original's: anything
  nnspec cannot express (an argument it lacks, a mixed-precision policy, a
  custom initializer) is refused with the layer, argument and value;
* layers outside the catalog are refused, except classes registered with
  ``keras.saving.register_keras_serializable``, which become ``Custom`` items
  (their modules are declared in ``requires_import``: a declaration; whoever
  compiles the spec allows them with --allow-import); nnspec's own ``Penalty``
  layers become ``penalties`` again;
* a compiled model's losses, loss weights, metrics and optimizer are carried
  where nnspec can express them (what it cannot is left out, with a note).
"""
from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field

from . import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from .. import vocab  # noqa: E402
from ..ops import CATALOG  # noqa: E402
from ..ops.base import REQUIRED, ImportRefused, Op  # noqa: E402
from ..naming import snake_case  # noqa: E402
from ..schema import DTYPES, SCHEMA_ID  # noqa: E402
from .layers import _CONSTRAINT_CLASSES, _INITIALIZER_CLASSES, keras_class, make_layer  # noqa: E402

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")  # written unquoted: x, enc.state_h
_BASE_KEYS = ("name", "trainable", "dtype")


class ModelImportError(ValueError):
    """The model cannot be written as an nnspec spec; the message says which layer and why."""


class _Unexpressible(Exception):
    """A value nnspec's vocabulary has no word for (caught and reworded with the layer's name)."""


@dataclass
class ImportResult:
    data: dict  # the spec, as plain data (what the YAML holds)
    notes: list = field(default_factory=list)  # things the reader should know (custom layers, dropped settings)
    outputs: list = field(default_factory=list)  # spec output name of each model output, in model.outputs order
    custom_modules: list = field(default_factory=list)  # modules the spec declares in requires_import


# ------------------------------------------------------------------ small helpers
def _plain(value):
    """Tuples -> lists, numpy scalars -> Python, recursively."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same(a, b) -> bool:
    """Equal as Keras would read them: tuples == lists, a scalar == a list of that scalar
    (kernel_size 3 == [3, 3]), numbers up to float32 rounding."""
    a_seq, b_seq = isinstance(a, (list, tuple)), isinstance(b, (list, tuple))
    if a_seq and b_seq:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a_seq:
        return len(a) > 0 and all(_same(x, b) for x in a)
    if b_seq:
        return len(b) > 0 and all(_same(a, y) for y in b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_num(a) and _is_num(b):
        return a == b or math.isclose(a, b, rel_tol=1e-6, abs_tol=0.0)
    return a == b


def _f32(v):
    """A float read back from a float32 variable (0.0010000000474974513) -> its shortest form (0.001)."""
    if isinstance(v, float) and math.isfinite(v) and v != 0:
        short = float(str(np.float32(v)))
        if np.float32(short) == np.float32(v):
            return short
    return v


def _options(schema: dict) -> list:
    return schema.get("anyOf", [schema])


def _simplify(value, schema: dict):
    """[3, 3] -> 3 and [[1, 1], [1, 1]] -> 1 where the arg's schema takes a number too."""
    if not isinstance(value, list):
        return value
    opts = _options(schema)
    item = next((o.get("items") for o in opts if o.get("type") == "array" and isinstance(o.get("items"), dict)),
                None)
    if item is not None:
        value = [_simplify(v, item) for v in value]
    scalar_ok = any(o.get("type") in ("integer", "number") for o in opts)
    if (scalar_ok and value and all(_is_num(v) for v in value) and all(v == value[0] for v in value)):
        return value[0]
    return value


def _short(value, limit: int = 120) -> str:
    try:
        text = json.dumps(_plain(value), default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _registered_name(obj_or_cls) -> str | None:
    """'package>Name' for a class registered with register_keras_serializable, else None."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    name = keras.saving.get_registered_name(cls)
    if ">" in name and keras.saving.get_registered_object(name) is cls:
        return name
    return None


def _class_ref(cls) -> str:
    """module:Class of an importable class, or raise."""
    module, qual = cls.__module__, cls.__qualname__
    if module == "__main__" or "." in qual or "<" in qual:
        raise _Unexpressible(f"class {qual} is defined in {module!r}, not importable by name; "
                             "move it to a module of its own")
    if getattr(sys.modules.get(module), qual, None) is not cls:
        raise _Unexpressible(f"class {module}.{qual} cannot be found again by its name")
    return f"{module}:{qual}"


def _signature_defaults(cls) -> dict:
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


# ------------------------------------------------------------------ vocabulary: Keras configs -> spec values
_INIT_NAMES = {cls: name for name, cls in _INITIALIZER_CLASSES.items()}
_CONSTRAINT_NAMES = {cls: name for name, cls in _CONSTRAINT_CLASSES.items()}


def _serialized(value):
    """(class_name, config, registered_name) of a serialized Keras object (or an object)."""
    if isinstance(value, dict) and "class_name" in value:
        registered = value.get("registered_name")
        return value["class_name"], value.get("config") or {}, registered if ">" in str(registered) else None
    if hasattr(value, "get_config"):
        return type(value).__name__, value.get_config(), _registered_name(value)
    raise _Unexpressible(f"{_short(value)} is not a Keras object nnspec knows")


def _named_value(name: str, args: dict):
    return name if not args else {name: args}


def initializer_value(value):
    """A serialized initializer -> 'glorot_uniform' or {name: {args}} (None seeds and defaults dropped)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = keras.initializers.serialize(keras.initializers.get(value))
    class_name, config, registered = _serialized(value)
    name = _INIT_NAMES.get(class_name)
    if name is None or registered:
        raise _Unexpressible(f"initializer {class_name} is not one of nnspec's "
                             f"({', '.join(sorted(vocab.INITIALIZERS))})")
    defaults = _signature_defaults(getattr(keras.initializers, class_name))
    args = {}
    for k, v in config.items():
        if v is None and defaults.get(k) is None:
            continue
        if k in defaults and _same(v, defaults[k]):
            continue
        if k not in vocab.INITIALIZERS[name]:
            raise _Unexpressible(f"initializer {class_name} with {k}={_short(v)} (nnspec's {name} takes "
                                 f"{', '.join(vocab.INITIALIZERS[name]) or 'no arguments'})")
        args[k] = _plain(v)
    return _named_value(name, args)


def regularizer_value(value):
    """L2(0.01) -> {l2: 0.01}; L1L2 -> {l1_l2: {l1, l2}}; OrthogonalRegularizer -> {orthogonal_regularizer: {...}}."""
    if value is None:
        return None
    if isinstance(value, str):
        value = keras.regularizers.serialize(keras.regularizers.get(value))
    class_name, config, registered = _serialized(value)
    if not registered:
        if class_name == "L1":
            return {"l1": _f32(float(config["l1"]))}
        if class_name == "L2":
            return {"l2": _f32(float(config["l2"]))}
        if class_name == "L1L2":
            parts = {k: _f32(float(config.get(k) or 0.0)) for k in ("l1", "l2")}
            return {"l1_l2": {k: v for k, v in parts.items() if v} or {"l1": 0.0}}
        if class_name == "OrthogonalRegularizer":
            return {"orthogonal_regularizer": {k: _plain(config[k]) for k in ("factor", "mode") if k in config}}
    raise _Unexpressible(f"regularizer {class_name} is not one of nnspec's ({', '.join(vocab.REGULARIZERS)})")


def constraint_value(value, modules: list):
    """MaxNorm(...) -> {max_norm: {...}}; nnspec's WeightNormConstraint / ExprConstraint; a registered
    class without config -> {custom: module:Class}."""
    if value is None:
        return None
    if isinstance(value, str):
        value = keras.constraints.serialize(keras.constraints.get(value))
    class_name, config, registered = _serialized(value)
    if registered == "nnspec>WeightNormConstraint":
        args = {k: v for k, v in config.items() if not _same(v, 1e-12)}
        return _named_value("weight_norm", args)
    if registered == "nnspec>ExprConstraint":
        return {"expr": config["expr"]}
    name = None if registered else _CONSTRAINT_NAMES.get(class_name)
    if name is not None:
        defaults = _signature_defaults(getattr(keras.constraints, class_name))
        args = {k: _plain(v) for k, v in config.items() if not (k in defaults and _same(v, defaults[k]))}
        bad = [k for k in args if k not in vocab.CONSTRAINTS[name]]
        if bad:
            raise _Unexpressible(f"constraint {class_name} with {bad[0]}={_short(args[bad[0]])}")
        return _named_value(name, args)
    if registered:
        cls = keras.saving.get_registered_object(registered)
        if cls is None:
            raise _Unexpressible(f"constraint {registered} is not registered in this process")
        if config:
            raise _Unexpressible(f"constraint {class_name} has arguments {_short(config)}; a custom: constraint "
                                 "is made without arguments")
        ref = _class_ref(cls)
        modules.append(ref.split(":")[0])
        return {"custom": ref}
    raise _Unexpressible(f"constraint {class_name} is not one of nnspec's ({', '.join(vocab.CONSTRAINTS)})")


def activation_value(value):
    if value is None:
        return None
    if isinstance(value, str) and value in vocab.ACTIVATIONS:
        return value
    raise _Unexpressible(f"activation {_short(value)} is not one of Keras's named activations")


def _act_same(a, b) -> bool:
    return (a or "linear") == (b or "linear")


# ------------------------------------------------------------------ one layer -> {Type: args}
@dataclass
class _Ctx:
    notes: list
    modules: list  # custom modules the spec declares in requires_import


def _ops_by_class() -> dict:
    if not hasattr(_ops_by_class, "cache"):
        import nnspec.keras.registry  # noqa: F401  (nnspec's own layers, so their classes resolve)
        table = {}
        for op in CATALOG.values():
            if op.name == "Custom":
                continue
            try:
                table[keras_class(op)] = op
            except (AttributeError, ImportError):
                continue
        _ops_by_class.cache = table
    return _ops_by_class.cache


def _arg_value(op: Op, arg, layer, config: dict, ctx: _Ctx):
    """The spec value of one catalog arg, or REQUIRED when it is the default (left out)."""
    if arg.name == "layer" and op.name in ("Bidirectional", "TimeDistributed", "WeightNorm"):
        inner = layer.forward_layer if op.name == "Bidirectional" else layer.layer
        return _layer_item(inner, ctx, nested=True)
    if arg.name not in config:
        return REQUIRED
    value = config[arg.name]
    if arg.name.endswith("_initializer"):
        value = initializer_value(value)
    elif arg.name.endswith("_regularizer"):
        value = regularizer_value(value)
    elif arg.name.endswith("_constraint"):
        value = constraint_value(value, ctx.modules)
    elif arg.name in ("activation", "recurrent_activation"):
        value = activation_value(value)
        if not arg.required and _act_same(value, arg.default):
            return REQUIRED
        return value
    else:
        value = _plain(value)
    if not arg.required and _same(value, arg.default):
        return REQUIRED
    return _simplify(value, arg.schema)


def _layer_args(op: Op, layer, ctx: _Ctx) -> dict:
    config = layer.get_config()
    out = {}
    for arg in op.args:
        try:
            value = _arg_value(op, arg, layer, config, ctx)
        except _Unexpressible as e:
            raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}): {arg.name} = "
                                   f"{_short(config.get(arg.name))} cannot be written in nnspec: {e}") from None
        if value is not REQUIRED:
            out[arg.name] = value
    return out


def _common_args(layer, config: dict) -> dict:
    out = {}
    if not layer.trainable:
        out["trainable"] = False
    reg = config.get("activity_regularizer", getattr(layer, "activity_regularizer", None))
    if reg is not None:
        try:
            out["activity_regularizer"] = regularizer_value(reg)
        except _Unexpressible as e:
            raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}): activity_regularizer = "
                                   f"{_short(reg)} cannot be written in nnspec: {e}") from None
    return out


def _strip_names(value):
    """A config without the layer names in it (nested layers are renamed by their wrappers)."""
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in value.items() if k not in ("name", "build_config", "compile_config")}
    if isinstance(value, (list, tuple)):
        return [_strip_names(v) for v in value]
    return value


def _config_diff(a, b, path=()):
    """The first (path, a_value, b_value) where two configs differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                if a.get(k) is None and b.get(k) is None:
                    continue
                return path + (k,), a.get(k), b.get(k)
            d = _config_diff(a[k], b[k], path + (k,))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _config_diff(x, y, path + (i,))
            if d:
                return d
        return None
    return None if _same(a, b) else (path, a, b)  # also axis [-1] (a built layer) == -1


def _verify(op: Op | None, layer, ref_layer, item_args: dict) -> None:
    """Refuse unless nnspec's layer built from ``item_args`` has the original's config."""
    ours, theirs = getattr(ref_layer, "dtype_policy", None), getattr(layer, "dtype_policy", None)
    if getattr(ours, "name", None) != getattr(theirs, "name", None):
        raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}): dtype policy "
                               f"{getattr(theirs, 'name', '?')!r} cannot be written in nnspec (its layers compute in "
                               "float32); hint: import the float32 model")
    want = _plain(_strip_names(layer.get_config()))
    got = _plain(_strip_names(ref_layer.get_config()))
    diff = _config_diff(want, got)
    if diff is None:
        return
    path, original, ours = diff
    key = path[0]
    where = f"layer '{layer.name}' ({type(layer).__name__})"
    if key == "dtype":
        policy = getattr(layer, "dtype_policy", None)
        raise ModelImportError(f"{where}: dtype policy {getattr(policy, 'name', _short(original))!r} cannot be "
                               "written in nnspec (its layers compute in float32); hint: import the float32 model")
    shown = ".".join(str(p) for p in path)
    if op is not None and key not in op.arg_index and key not in ("layer", "backward_layer"):
        raise ModelImportError(f"{where}: {shown} = {_short(original)} cannot be written in nnspec: {op.name} has "
                               f"no argument '{key}' (nnspec builds it with {_short(ours)})")
    raise ModelImportError(f"{where}: {shown} = {_short(original)} cannot be written in nnspec (the spec "
                           f"{_short(item_args)} builds {_short(ours)})")


def _mha_implied(args: dict, shapes: list) -> None:
    """Keras fills in value_dim (= key_dim) and, once built, attention_axes (all but batch and features)."""
    if args.get("value_dim") == args.get("key_dim"):
        args.pop("value_dim", None)
    axes = args.get("attention_axes")
    if axes is not None and shapes:
        rank = len(shapes[0])
        given = [axes] if isinstance(axes, int) else list(axes)
        if [a % rank for a in given] == list(range(1, rank - 1)):
            args.pop("attention_axes")


def _pool_implied(args: dict, shapes: list) -> None:
    """Keras writes strides = pool_size when strides was left out."""
    if "strides" in args and _same(args["strides"], args.get("pool_size", 2)):
        args.pop("strides")


_IMPLIED = {"MultiHeadAttention": _mha_implied,  # op -> drops args equal to what Keras fills in itself
            **{f"{m}Pooling{r}D": _pool_implied for m in ("Max", "Average") for r in (1, 2, 3)}}


def _class_path(layer) -> str:
    return f"{type(layer).__module__}.{type(layer).__name__}"


def _foreign_op(layer) -> Op | None:
    """The catalog op that stands for a Keras class outside keras.layers (its record's ``imports``:
    convnext's LayerScale is a Scale, keras.ops calls are Expr layers), or None."""
    cache = _foreign_op.__dict__.setdefault("cache", {})
    path = _class_path(layer)
    if path not in cache:
        cache[path] = next((op for op in CATALOG.values() if op.imports and op.imports.matches(path)), None)
    return cache[path]


def _layer_item(layer, ctx: _Ctx, nested: bool = False, inputs=None) -> dict:
    """{Type: args} for a catalog layer (checked against the original's config)."""
    op = _ops_by_class().get(type(layer))
    if op is None:
        raise ModelImportError(f"layer '{layer.name}' is a {type(layer).__module__}.{type(layer).__name__}, which "
                               "is not in nnspec's catalog (`nnspec ops` lists it)"
                               + ("" if not nested else "; it is wrapped in another layer"))
    args = _layer_args(op, layer, ctx)
    if op.name in _IMPLIED:
        _IMPLIED[op.name](args, [tuple(t.shape) for t in inputs or ()])
    common = {} if nested else _common_args(layer, layer.get_config())
    try:
        ref = make_layer(op, op.fill(args), name=layer.name,
                         activity_regularizer=_rebuild_regularizer(common.get("activity_regularizer")))
    except Exception as e:  # noqa: BLE001 - Keras refuses the args: name the layer
        raise ModelImportError(f"layer '{layer.name}' ({type(layer).__name__}): nnspec cannot rebuild it from "
                               f"{_short(args)}: {type(e).__name__}: {e}") from None
    ref.trainable = layer.trainable
    if nested:  # checked as part of its wrapper's config (wrappers set some of its flags)
        return {op.name: args}
    try:
        _verify(op, layer, ref, args)
    except ModelImportError:
        # Some layers rewrite their config when built (MultiHeadAttention's attention_axes): build
        # nnspec's layer on inputs like the original's and compare again.
        if not (layer.built and inputs):
            raise
        from .layers import call_layer
        call_layer(op, ref, [keras.KerasTensor(t.shape, dtype=t.dtype) for t in inputs])
        _verify(op, layer, ref, args)
    return {op.name: {**args, **common}}


def _rebuild_regularizer(value):
    from .layers import regularizer
    return regularizer(value)


def _custom_item(layer, out_shape, ctx: _Ctx) -> dict:
    """A registered serializable layer class -> {Custom: {class, args, output_shape}}."""
    cls = type(layer)
    try:
        ref = _class_ref(cls)
    except _Unexpressible as e:
        raise ModelImportError(f"layer '{layer.name}': {e}") from None
    config = layer.get_config()
    args = {k: _plain(v) for k, v in config.items() if k not in _BASE_KEYS and k != "activity_regularizer"}
    try:
        json.dumps(args, allow_nan=False)
    except (TypeError, ValueError):
        raise ModelImportError(f"layer '{layer.name}' ({ref}): its config {_short(args)} is not plain data "
                               "(numbers, text, lists, mappings)") from None
    common = _common_args(layer, config)
    try:
        rebuilt = cls(name=layer.name, **args, **({"activity_regularizer": _rebuild_regularizer(
            common["activity_regularizer"])} if "activity_regularizer" in common else {}))
    except Exception as e:  # noqa: BLE001
        raise ModelImportError(f"layer '{layer.name}' ({ref}): cannot be made again from its config "
                               f"{_short(args)}: {type(e).__name__}: {e}") from None
    rebuilt.trainable = layer.trainable
    _verify(None, layer, rebuilt, args)
    item = {"class": ref}
    if args:
        item["args"] = args
    dims = list(out_shape[1:]) if out_shape is not None else None
    if dims is not None and len(dims) <= 8 and all(d is None or (isinstance(d, int) and d >= 1) for d in dims):
        item["output_shape"] = dims
    module = ref.split(":")[0]
    ctx.modules.append(module)
    root = module.split(".")[0]
    ctx.notes.append(f"layer '{layer.name}' is your own class {ref}: a Custom item; the spec declares module "
                     f"'{module}' (requires_import); compile it with --allow-import {root}, or allow_import = "
                     f"[\"{root}\"] under [tool.nnspec] in pyproject.toml")
    return {"Custom": {**item, **common}}


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
        self.layer_owner: dict = {}  # layer name -> id(layer), to refuse two layers of one name

    # -------------------------------------------------------------- names
    def _fresh(self, base: str) -> str:
        name, i = base, 2
        while name in self.taken or name in self.defined:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
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
            name = layer.name
            self._check_name(name, "layer")
            if name in self.defined:
                raise ModelImportError(f"two layers are named '{name}' (one may be inside a nested model); "
                                       "hint: rename one, weights are matched by name")
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
        self._drop_training(kwargs, layer.name)
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
            name = layer.name
            self._check_name(name, "layer")
            if name in self.defined:
                raise ModelImportError(f"two layers are named '{name}' (one may be inside a nested model); "
                                       "hint: rename one, weights are matched by name")
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
        self._drop_training(kwargs, sub.name)
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
    def _drop_training(kwargs: dict, who: str) -> None:
        # A recorded training=... is overridden whenever the model itself is called with training=True/False
        # (keras.src.models.functional.operation_fn), as in fit, evaluate and predict: nothing to write.
        kwargs.pop("training", None)

    def call_inputs(self, node, op: Op, names: dict) -> list:
        """The spec names of a call's input tensors, in the op's order."""
        layer = node.operation
        args, kwargs = _call_parts(node)
        self._drop_training(kwargs, layer.name)
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

        if op.name == "MultiHeadAttention":
            roles = {}
            for i, role in enumerate(("query", "value", "key")):
                roles[role] = args[i] if i < len(args) else kwargs.pop(role, None)
            if len(args) > 3:
                raise ModelImportError(f"{where} is called with {len(args)} positional arguments")
            no_more(kwargs, quiet=("query_mask", "value_mask", "key_mask"),
                    off=("return_attention_scores", "use_causal_mask"))
            tensors = [roles["query"], roles["value"]]
            if roles["key"] is not None and roles["key"] is not roles["value"]:
                tensors.append(roles["key"])
            return [name_of(t) for t in tensors]
        if op.name == "Attention":
            given = args[0] if args else kwargs.pop("inputs", None)
            no_more({k: v for k, v in kwargs.items()} | {"_extra": args[1:] or None},
                    off=("return_attention_scores", "use_causal_mask"))
            return [name_of(t) for t in given]
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


# ------------------------------------------------------------------ training configuration
_LOSS_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae"}
_METRIC_ALIASES = {"acc": "accuracy"}


def _loss_value(value, notes: list, output: str):
    """A serialized loss -> 'mae' / {name: {args}} / {expr: ...}, or None (with a note) if nnspec has no word."""
    def skip(why):
        notes.append(f"output '{output}': loss {why} cannot be written in nnspec and is left out")
        return None

    if value is None:
        return None
    if isinstance(value, str):
        return value if value in vocab.LOSSES else skip(repr(value))
    if not (isinstance(value, dict) and "class_name" in value):
        return skip(_short(value))
    class_name, config, registered = value["class_name"], value.get("config"), value.get("registered_name")
    if class_name == "function":
        return config if isinstance(config, str) and config in vocab.LOSSES and not registered else skip(_short(config))
    if registered == "nnspec>ExprLoss":
        return {"expr": config["expr"]}
    name = snake_case(class_name)
    cls = getattr(keras.losses, class_name, None)
    if registered or name not in vocab.LOSSES or cls is None:
        return skip(class_name)
    defaults = cls().get_config()
    args = {}
    for k, v in (config or {}).items():
        if k in ("name", "dtype") or _same(v, defaults.get(k, object())):
            continue
        if k not in vocab.LOSSES[name]:
            return skip(f"{class_name} with {k}={_short(v)}")
        args[k] = _plain(v)
    return _named_value(name, args)


def _live_losses(value):
    """compile()'s loss argument, serialized from the live objects: Keras's own serialization drops some
    arguments (Huber's delta), which the objects still hold."""
    if isinstance(value, (list, tuple)):
        return [_live_losses(v) for v in value]
    if isinstance(value, dict):
        return {k: _live_losses(v) for k, v in value.items()}
    if isinstance(value, keras.losses.Loss):
        config = {**value.get_config(), **(getattr(value, "_fn_kwargs", None) or {})}
        return {"class_name": type(value).__name__, "config": config, "registered_name": _registered_name(value)}
    if callable(value) and getattr(value, "__module__", "").startswith("keras"):
        return {"class_name": "function", "config": value.__name__, "registered_name": None}
    if callable(value):
        return {"class_name": getattr(value, "__name__", type(value).__name__), "config": {},
                "registered_name": _registered_name(value) if isinstance(value, type) else None}
    return value


def _metric_value(value, notes: list, output: str):
    def skip(why):
        notes.append(f"output '{output}': metric {why} cannot be written in nnspec and is left out")
        return None

    if isinstance(value, str):
        value = _METRIC_ALIASES.get(value, value)
        return value if value in vocab.METRICS else skip(repr(value))
    if not (isinstance(value, dict) and "class_name" in value):
        return skip(_short(value))
    class_name, config = value["class_name"], value.get("config") or {}
    if class_name == "function":
        return config if isinstance(config, str) and config in vocab.METRICS else skip(_short(config))
    if value.get("registered_name") == "nnspec>ExprMetric" and isinstance(config.get("expr"), str):
        return {"expr": config["expr"], "name": config.get("name") or "expr_metric"}
    name = snake_case(class_name)
    cls = getattr(keras.metrics, class_name, None)
    if value.get("registered_name") or cls is None or class_name not in vocab.METRIC_CLASSES:
        return skip(class_name)
    params = inspect.signature(cls.__init__).parameters
    args = {}
    for k, v in config.items():
        if k == "dtype" or (k in params and params[k].default is not inspect.Parameter.empty
                            and _same(v, params[k].default)):
            continue
        if k == "name":
            auto = isinstance(v, str) and re.fullmatch(rf"{re.escape(name)}(_\d+)?", v)
            if not auto and v != params["name"].default and isinstance(v, str) and v.isidentifier():
                args["name"] = v
            continue
        if k not in vocab.METRIC_CLASSES[class_name]:
            return skip(f"{class_name} with {k}={_short(v)}")
        args[k] = _plain(v)
    if args.get("thresholds") is not None and class_name == "AUC":
        args.pop("num_thresholds", None)  # Keras sets it from the thresholds given
    if not args and name in vocab.METRICS and name != "accuracy":
        return name
    return {class_name: args}


def _per_output(value, output_names: list, spec_names: list, nested_lists: bool):
    """A compile argument (one value, a list per output, or a dict by output name) -> {spec output: value}."""
    if value is None:
        return {}
    if isinstance(value, dict) and not ("class_name" in value and "config" in value):
        return {spec_names[output_names.index(k)]: v for k, v in value.items() if k in output_names}
    if isinstance(value, (list, tuple)) and (len(spec_names) > 1 or not nested_lists or
                                             (value and all(isinstance(v, (list, tuple)) for v in value))):
        if nested_lists and len(spec_names) == 1 and not all(isinstance(v, (list, tuple)) for v in value):
            return {spec_names[0]: value}
        return dict(zip(spec_names, value))
    return {spec_names[0]: value} if len(spec_names) == 1 else {n: value for n in spec_names}


def _optimizer_value(value, notes: list):
    if value is None:
        return None
    if isinstance(value, str):
        return value if value in vocab.OPTIMIZERS else None
    class_name, config = value.get("class_name"), value.get("config") or {}
    name = class_name.lower() if isinstance(class_name, str) else None
    cls = getattr(keras.optimizers, class_name or "", None)
    if value.get("registered_name") or name not in vocab.OPTIMIZERS or cls is None:
        notes.append(f"optimizer {class_name} cannot be written in nnspec and is left out (nnspec's default is adam)")
        return None
    defaults = cls().get_config()
    args = {}
    for k, v in config.items():
        if k == "name":
            continue
        if isinstance(v, dict):
            notes.append(f"optimizer {name}: {k} = {v.get('class_name', _short(v))} (a schedule or object) cannot be "
                         "written in nnspec and is left out")
            continue
        v = _f32(v)
        if _same(v, _f32(defaults.get(k))) or (v is None and defaults.get(k) is None):
            continue
        if k not in vocab.OPTIMIZERS[name]:
            notes.append(f"optimizer {name}: {k} = {_short(v)} cannot be written in nnspec and is left out")
            continue
        args[k] = _plain(v)
    return _named_value(name, args)


def _training(model, spec_outputs: list, notes: list) -> tuple[dict, dict]:
    """({spec output: {loss, weight, metrics}}, training) of a compiled model."""
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return {}, {}
    cfg = model.get_compile_config() or {}
    struct = getattr(_functional(model), "_outputs_struct", None)
    if isinstance(struct, dict):  # compile() keys losses by the dict's keys; model.outputs is in their sorted order
        output_names = list(keras.tree.flatten({k: k for k in struct}))
    else:
        output_names = list(getattr(model, "output_names", None) or spec_outputs)
    if len(output_names) != len(spec_outputs):
        output_names = list(spec_outputs)
    raw = getattr(model, "loss", None)
    losses = _per_output(_live_losses(raw) if raw is not None else cfg.get("loss"), output_names, spec_outputs,
                         nested_lists=False)
    weights = _per_output(cfg.get("loss_weights"), output_names, spec_outputs, nested_lists=False)
    metrics = _per_output(cfg.get("metrics"), output_names, spec_outputs, nested_lists=True)
    if cfg.get("weighted_metrics"):
        notes.append("weighted_metrics cannot be written in nnspec and are left out")
    outputs = {}
    for name in spec_outputs:
        entry = {}
        loss = _loss_value(losses.get(name), notes, name)
        if loss is not None:
            entry["loss"] = loss
            w = weights.get(name)
            if w is not None and not _same(w, 1.0):
                entry["weight"] = _plain(w)
        ms = metrics.get(name) or []
        ms = [m for m in (_metric_value(m, notes, name) for m in (ms if isinstance(ms, list) else [ms])) if m]
        if ms:
            entry["metrics"] = ms
        if entry:
            outputs[name] = entry
    training = {}
    opt = _optimizer_value(cfg.get("optimizer"), notes)
    if opt is not None:
        training["optimizer"] = opt
    return outputs, training


# ------------------------------------------------------------------ the spec
def _spec_name(name: str, notes: list) -> str:
    clean = re.sub(r"\W", "_", name or "model")
    if not clean or clean[0].isdigit():
        clean = "model_" + clean
    if clean != name:
        notes.append(f"model name '{name}' is written as '{clean}' (nnspec names take letters, digits and _)")
    return clean[:128]


def import_model(model) -> ImportResult:
    """The spec of a Keras Functional or Sequential model, with notes for the reader."""
    from .build import deep_recursion
    if not isinstance(model, keras.Model):
        raise ModelImportError(f"expected a keras.Model, got {type(model).__name__}")
    imp = _Importer(model)
    with deep_recursion(len(imp.taken)):
        inputs, outs = imp.run_top()
    notes = imp.ctx.notes
    # outputs: one name per model output
    spec_outputs = []
    struct = getattr(_functional(model), "_outputs_struct", None)
    if isinstance(struct, dict):  # written in the dict's order (model.outputs is sorted by key)
        flat = {id(t): name for t, name in zip(_functional(model).outputs, outs)}
        renamed = [f"'{k}' is '{flat[id(t)]}'" for k, t in struct.items() if id(t) in flat and flat[id(t)] != k]
        if renamed:
            notes.append("outputs are named by their tensors: " + ", ".join(renamed))
        order = [flat[id(t)] for t in struct.values() if id(t) in flat]
        outs_in_order = order if sorted(order) == sorted(outs) else outs
    else:
        outs_in_order = outs
    for name in outs_in_order:
        if name in spec_outputs:
            raise ModelImportError(f"the model returns tensor '{name}' twice; nnspec outputs name each tensor once")
        spec_outputs.append(name)
    loss_outputs, training = _training(model, list(outs), notes)  # in model.outputs order
    # layers: `from` left out where it is the previous item (the spec's default)
    layers = []
    previous = next(iter(inputs)) if len(inputs) == 1 else None
    for item, tensors, name, ports in imp.items:
        (type_name, args), = item.items()
        args = dict(args)
        args["name"] = name
        if isinstance(tensors, dict):  # an Expr's inputs by the names its expression uses
            args["from"] = list(tensors.values()) if all(k == v for k, v in tensors.items()) else dict(tensors)
        elif ports:  # by name: {input: x, initial_state: [h, c]}
            op = CATALOG[type_name if type_name != "reuse" else _item_type(imp.items, args["layer"])]
            args["from"] = {**dict(zip(op.input_names, tensors)),
                            **{k: v if op.port(k).many else v[0] for k, v in ports.items()}}
        elif not (len(tensors) == 1 and tensors[0] == previous):
            args["from"] = tensors[0] if len(tensors) == 1 else list(tensors)
        layers.append({type_name: args})
        previous = name
    data = {"nnspec": 1, "name": _spec_name(model.name, notes)}
    modules = list(dict.fromkeys(imp.ctx.modules))
    if modules:
        data["requires_import"] = modules
    data["inputs"] = inputs
    data["layers"] = layers
    data["outputs"] = {name: loss_outputs.get(name) for name in spec_outputs}
    if imp.penalties:
        data["penalties"] = imp.penalties
    if training:
        data["training"] = training
    return ImportResult(data=data, notes=notes, outputs=list(outs), custom_modules=modules)


def _item_type(items, layer: str) -> str:
    """The type of the item named ``layer``."""
    for item, _, name, _ in items:
        if name == layer:
            return next(iter(item))
    raise KeyError(layer)


def model_to_spec(model) -> dict:
    """The spec data of a Keras model (see ``import_model`` for the notes that go with it)."""
    return import_model(model).data


# ------------------------------------------------------------------ YAML
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


# ------------------------------------------------------------------ loading a model
_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def is_function_ref(ref: str) -> bool:
    return bool(_REF.match(ref)) and not os.path.exists(ref)


def load_model_ref(ref: str, allow=()):
    """A keras.Model from a saved file (`model.keras`) or `module:function` (called without arguments).

    A function is imported only from a module in ``allow`` (ImportNotAllowed otherwise). For a file,
    the allowed modules are imported first, so the classes they register can be loaded."""
    from .custom_objects import ImportNotAllowed, allowing, import_object
    import nnspec.keras.registry  # noqa: F401  (nnspec's own layers in files from nnspec compile --keras)
    if is_function_ref(ref):
        with allowing(allow):
            fn = import_object(ref)
        if not callable(fn):
            raise ModelImportError(f"'{ref}' is not callable")
        model = fn() if not isinstance(fn, keras.Model) else fn
        if not isinstance(model, keras.Model):
            raise ModelImportError(f"'{ref}' returned a {type(model).__name__}, not a keras.Model")
        return model
    if not os.path.isfile(ref):
        raise FileNotFoundError(ref)
    for module in allow:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ImportNotAllowed(f"cannot import allowed module '{module}': {e}") from None
    try:
        return keras.models.load_model(ref, compile=True)
    except Exception as e:  # noqa: BLE001 - Keras's own message, with the file named
        raise ModelImportError(f"cannot load {ref}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                               ) from None
