"""Import the user's own objects (`module:attribute`), only from modules the
person running nnspec allowed by name (--allow-import or their pyproject.toml;
never the spec). Nothing else in a spec can cause code to run.

The resolved object is checked again against nnspec/trust.py: a Keras class
that loads files or runs code (TFSMLayer, Lambda, ...) is refused under any
alias (``keras.src...``, a user module re-exporting it, a subclass), and so is
anything whose module is refused (``os.system`` re-exported as ``mypkg:run``).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib

import keras

from ..trust import DENIED_ATTRS, DENIED_CLASSES, module_allowed, module_refused, refused, serialized_object_path

_allowed: contextvars.ContextVar[tuple] = contextvars.ContextVar("nnspec_allow_import", default=())


class ImportNotAllowed(Exception):
    pass


@contextlib.contextmanager
def allowing(modules):
    token = _allowed.set(tuple(modules))
    try:
        yield
    finally:
        _allowed.reset(token)


@functools.lru_cache(maxsize=1)
def _denied_classes() -> tuple:
    found = []
    for name in sorted(DENIED_CLASSES):
        cls = getattr(keras.layers, name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def object_refused(obj) -> str | None:
    """Why an imported object may not be used for a spec, or None."""
    seen = 0
    while isinstance(obj, functools.partial) and seen < 100:  # what a partial would call
        obj, seen = obj.func, seen + 1
    if isinstance(obj, type):
        for cls in _denied_classes():
            if issubclass(obj, cls):
                return f"it is Keras's {cls.__name__}{'' if obj is cls else ' (a subclass)'}, which loads files or " \
                       "runs code named by its arguments"
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) and callable(obj):  # a callable instance: its class's module
        module = getattr(type(obj), "__module__", None)
    if isinstance(module, str):
        why = module_refused(module, imported=True)
        if why:
            return f"it comes from module '{module}': {why}"
        name = getattr(obj, "__name__", None)
        if name in DENIED_ATTRS and (module.split(".")[0] in ("keras", "tf_keras", "tensorflow")):
            return f"it is {module}.{name}, which loads, deserialises or runs code"
    return None


def import_object(ref: str):
    why = refused(ref)
    if why:
        raise ImportNotAllowed(f"'{ref}' is refused whatever is allowed: {why}")
    if not module_allowed(ref, _allowed.get()):
        module = ref.split(":")[0]
        root = module.split(".")[0]
        raise ImportNotAllowed(f"'{ref}': importing module '{module}' is not allowed; run with --allow-import "
                               f"{root}, or add allow_import = [\"{root}\"] under [tool.nnspec] in pyproject.toml")
    module, attr = ref.split(":")
    obj = getattr(importlib.import_module(module), attr, None)
    if obj is None:
        raise ImportNotAllowed(f"'{ref}': module '{module}' has no attribute '{attr}'")
    why = object_refused(obj)
    if why:
        raise ImportNotAllowed(f"'{ref}' is refused whatever is allowed: {why}")
    return obj


def make_custom_layer(name=None, **kwargs):
    """The `Custom` op's constructor: class from an allowed module, called with `args`."""
    args = kwargs.get("args") or {}
    where = serialized_object_path(args)
    if where is not None:
        raise ImportNotAllowed(f"'{kwargs['class']}' is refused: args.{'.'.join(map(str, where))} is a serialized "
                               "Keras object (a mapping with class_name), which Keras would load; write plain values")
    cls = import_object(kwargs["class"])
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ImportNotAllowed(f"'{kwargs['class']}' is not a keras.layers.Layer subclass")
    extra = {k: v for k, v in kwargs.items() if k not in ("class", "args", "output_shape") and v is not None}
    return cls(name=name, **args, **extra)


def custom_object(ref: str):
    """A loss or constraint: a class is instantiated, a function is used as is."""
    obj = import_object(ref)
    return obj() if isinstance(obj, type) else obj


def custom_metric(ref: str):
    """A metric: a keras.metrics.Metric subclass is instantiated (no arguments), a function
    ``(y_true, y_pred) -> values`` is used as is (Keras averages it)."""
    obj = import_object(ref)
    if isinstance(obj, type):
        if not issubclass(obj, keras.metrics.Metric):
            raise ImportNotAllowed(f"'{ref}' is a class but not a keras.metrics.Metric subclass")
        return obj()
    if isinstance(obj, keras.metrics.Metric) or callable(obj):
        return obj
    raise ImportNotAllowed(f"'{ref}' is neither a keras.metrics.Metric nor a function")
