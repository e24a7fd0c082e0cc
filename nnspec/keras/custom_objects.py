"""Import the user's own objects (`module:attribute`), only from modules the
user allowed by name. Nothing else in a spec can cause code to run."""
from __future__ import annotations

import contextlib
import contextvars
import importlib

import keras

from ..passes.resolve import module_allowed

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


def import_object(ref: str):
    if not module_allowed(ref, _allowed.get()):
        module = ref.split(":")[0]
        raise ImportNotAllowed(f"'{ref}': importing module '{module}' is not allowed; "
                               f"add allow_import: [{module.split('.')[0]}] or --allow-import")
    module, attr = ref.split(":")
    obj = getattr(importlib.import_module(module), attr, None)
    if obj is None:
        raise ImportNotAllowed(f"'{ref}': module '{module}' has no attribute '{attr}'")
    return obj


def make_custom_layer(name=None, **kwargs):
    """The `Custom` op's constructor: class from an allowed module, called with `args`."""
    cls = import_object(kwargs["class"])
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ImportNotAllowed(f"'{kwargs['class']}' is not a keras.layers.Layer subclass")
    extra = {k: v for k, v in kwargs.items() if k not in ("class", "args", "output_shape") and v is not None}
    return cls(name=name, **(kwargs.get("args") or {}), **extra)


def custom_object(ref: str):
    """A loss or constraint: a class is instantiated, a function is used as is."""
    obj = import_object(ref)
    return obj() if isinstance(obj, type) else obj
