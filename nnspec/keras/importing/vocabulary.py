"""The reverse vocabulary: a Keras layer and its config -> a spec item (``{Type: args}``).

Initializers, regularizers, constraints and activations back to nnspec's words; each catalog arg
read from the layer's config, left out where it is the op's default; the item checked by building
nnspec's layer from it and comparing configs; registered classes as ``Custom`` items.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .. import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from ... import vocab  # noqa: E402
from ...ops import CATALOG  # noqa: E402
from ...ops.base import ACTIVATION, CONSTRAINT, INITIALIZER, REGULARIZER, REQUIRED, Op  # noqa: E402
from ..layers import _CONSTRAINT_CLASSES, _INITIALIZER_CLASSES, keras_class, make_layer  # noqa: E402
from .common import (ModelImportError,  # noqa: E402
                     _class_ref, _f32, _is_num, _named_value, _plain, _registered_name, _same,
                     _short, _signature_defaults, _Unexpressible)

_BASE_KEYS = ("name", "trainable", "dtype")


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
        from ..objects import WeightNormConstraint
        defaults = _signature_defaults(WeightNormConstraint)
        args = {k: v for k, v in config.items() if not (k in defaults and _same(v, defaults[k]))}
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
    hooks = op.import_hooks
    if hooks is not None and arg.name in hooks.nested:  # a wrapper's layer: a nested item
        return _layer_item(hooks.nested[arg.name](layer), ctx, nested=True)
    if arg.name not in config:
        return REQUIRED
    value = config[arg.name]
    schema = arg.schema  # what the arg holds, as the record declares it
    if schema == INITIALIZER:
        value = initializer_value(value)
    elif schema == REGULARIZER:
        value = regularizer_value(value)
    elif schema == CONSTRAINT:
        value = constraint_value(value, ctx.modules)
    elif schema == ACTIVATION:
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
    derived = op.import_hooks.derived if op is not None and op.import_hooks is not None else ()
    if op is not None and key not in op.arg_index and key not in derived:
        raise ModelImportError(f"{where}: {shown} = {_short(original)} cannot be written in nnspec: {op.name} has "
                               f"no argument '{key}' (nnspec builds it with {_short(ours)})")
    raise ModelImportError(f"{where}: {shown} = {_short(original)} cannot be written in nnspec (the spec "
                           f"{_short(item_args)} builds {_short(ours)})")


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
    if op.import_hooks is not None and op.import_hooks.implied is not None:  # args Keras fills in itself
        op.import_hooks.implied(args, [tuple(t.shape) for t in inputs or ()])
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
        from ..layers import call_layer
        call_layer(op, ref, [keras.KerasTensor(t.shape, dtype=t.dtype) for t in inputs])
        _verify(op, layer, ref, args)
    return {op.name: {**args, **common}}


def _rebuild_regularizer(value):
    from ..layers import regularizer
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
