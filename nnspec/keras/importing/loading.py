"""Loading the model to import: a saved ``.keras`` file or ``module:function`` (Keras is imported when
a model is loaded, not to tell a file from a function reference)."""
from __future__ import annotations

import importlib
import os
import re

_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*\Z")


def is_function_ref(ref: str) -> bool:
    return bool(_REF.match(ref)) and not os.path.exists(ref)


def load_model_ref(ref: str, allow=()):
    """A keras.Model from a saved file (`model.keras`) or `module:function` (called without arguments).

    A function is imported only from a module in ``allow`` (ImportNotAllowed otherwise). For a file,
    the allowed modules are imported first, so the classes they register can be loaded."""
    from .. import quiet_tensorflow
    quiet_tensorflow()
    import keras

    from ..custom_objects import ImportNotAllowed, allowing, import_object
    from .common import ModelImportError
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
