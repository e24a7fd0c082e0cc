"""Shared by the importer's modules: its errors, its result, and comparing and printing Keras values."""
from __future__ import annotations

import inspect
import json
import math
import sys
from dataclasses import dataclass, field

from .. import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402


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


def _named_value(name: str, args: dict):
    return name if not args else {name: args}

