"""The training configuration of a compiled model: losses, loss weights, metrics and the optimizer,
where nnspec can express them (what it cannot is left out, with a note)."""
from __future__ import annotations

import inspect
import re

from .. import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from ... import vocab  # noqa: E402
from ...naming import snake_case  # noqa: E402
from .common import _f32, _named_value, _plain, _registered_name, _same, _short  # noqa: E402
from .graph import _functional  # noqa: E402

# ------------------------------------------------------------------ training configuration
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
