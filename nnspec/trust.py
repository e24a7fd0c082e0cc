"""What a `custom:` reference may never name, whoever allows its module.

Permission to import comes from the person running nnspec (``--allow-import``
or ``[tool.nnspec] allow_import`` in their pyproject.toml, see config.py),
never from the spec. Even then, some objects are refused because the spec's
arguments would make them load files or run code: Keras's TFSMLayer (loads a
SavedModel from a path), Lambda (runs a function), the lookup layers (read a
vocabulary file from a path), the JAX/Flax/Torch wrappers, and anything from
modules that load, deserialise or run things (``builtins``, ``os``,
``subprocess``, ``pickle``, ``keras.saving``, ...).

Checked twice: statically on the reference text (``refused``, at validate time,
without importing anything), and on the imported object
(``keras/custom_objects.py``), which catches aliases such as
``keras.src.export.tfsm_layer:TFSMLayer`` or a user module re-exporting
``os.system``. Pure Python: nothing here imports Keras.
"""
from __future__ import annotations

# modules (and everything under them) never imported for a spec
DENIED_MODULES = frozenset({
    "builtins", "__builtin__", "__main__", "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess",
    "importlib", "imp", "zipimport", "pkgutil", "runpy", "site", "sysconfig", "code", "codeop", "pty",
    "pickle", "_pickle", "cPickle", "marshal", "shelve", "copyreg", "dill", "cloudpickle", "joblib",
    "shutil", "tempfile", "pathlib", "io", "_io", "glob", "fcntl", "mmap", "ctypes", "_ctypes", "cffi",
    "socket", "ssl", "urllib", "http", "ftplib", "smtplib", "telnetlib", "webbrowser", "requests",
    "multiprocessing", "threading", "_thread", "concurrent", "asyncio", "signal", "gc", "inspect",
    "types", "operator", "yaml", "platform", "resource",
})
# under these roots (Keras and TensorFlow), submodules that save, load or fetch
_KERAS_ROOTS = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")
_KERAS_DENIED_PARTS = frozenset({"saving", "models", "export", "utils", "config", "legacy", "backend", "callbacks",
                                 "datasets", "applications"})
_TF_DENIED = ("tensorflow.saved_model", "tensorflow.io", "tensorflow.compat", "tensorflow.python",
              "tensorflow.lite", "tensorflow.data", "tensorflow.experimental", "tensorflow.distribute",
              "tensorflow.summary", "tensorflow.debugging", "tensorflow.sysconfig")
# the same, by the modules TensorFlow's objects are defined in (``__module__``)
_TF_DENIED_PARTS = frozenset({"saved_model", "io", "lib", "platform", "script_ops", "load_library", "summary",
                              "data", "keras", "distribute", "debug", "tools", "client", "compat", "lite",
                              "io_ops", "gen_io_ops", "file_io", "gen_script_ops"})
# Keras classes whose arguments name files to load or code to run (and their subclasses)
DENIED_CLASSES = frozenset({
    "TFSMLayer", "Lambda", "StringLookup", "IntegerLookup", "TextVectorization", "JaxLayer", "FlaxLayer",
    "TorchModuleWrapper",
})
# attribute names refused under Keras and TensorFlow modules (loaders, deserialisers, escape hatches)
DENIED_ATTRS = frozenset({
    "deserialize", "deserialize_keras_object", "load_model", "load_weights", "model_from_json",
    "model_from_config", "get_file", "enable_unsafe_deserialization", "py_function", "numpy_function",
    "load_op_library", "load_library", "load", "save", "save_model", "write_file", "read_file",
    "eager_py_func",
})


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _keras_like(module: str) -> bool:
    return any(_under(module, r) for r in _KERAS_ROOTS) or _under(module, "tensorflow")


def module_allowed(ref: str, allowed) -> bool:
    """Is ``module:attr`` (or a module) inside one of the ``allowed`` modules or packages?"""
    module = ref.split(":")[0]
    return any(module == m or module.startswith(m + ".") for m in allowed)


def module_refused(module: str, imported: bool = False) -> str | None:
    """Why nnspec never imports ``module`` for a spec, or None. ``imported``: ``module`` is the
    ``__module__`` of an imported object, where TensorFlow's public names live under
    ``tensorflow.python``: only its loading and file modules are refused then."""
    if module.split(".")[0] in DENIED_MODULES:
        return f"module '{module.split('.')[0]}' can run commands or load code"
    for root in _KERAS_ROOTS:
        if _under(module, root):
            parts = set(module[len(root):].split("."))
            bad = sorted(parts & _KERAS_DENIED_PARTS)
            if bad:
                return f"the '{bad[0]}' modules of {root} load, save or fetch files"
    if imported:
        if _under(module, "tensorflow"):
            bad = sorted(set(module.split(".")) & _TF_DENIED_PARTS)
            if bad:
                return f"TensorFlow's '{bad[0]}' modules load or run files and functions"
        return None
    for prefix in _TF_DENIED:
        if _under(module, prefix):
            return f"'{prefix}' loads or runs files and functions"
    return None


def refused(ref: str) -> str | None:
    """Why the `module:attribute` reference ``ref`` is refused whatever is allowed, or None.
    Static: looks at the text only, imports nothing."""
    module, _, attr = ref.partition(":")
    why = module_refused(module)
    if why:
        return why
    if _keras_like(module):
        if attr in DENIED_CLASSES:
            return f"Keras's {attr} loads files or runs code named by its arguments"
        if attr in DENIED_ATTRS:
            return f"'{attr}' loads, deserialises or runs code"
    return None


def serialized_object_path(value, path=()):
    """The path of the first mapping with a ``class_name`` key under ``value`` (a Custom layer's
    args), or None. Keras turns such mappings into objects of any Keras class it can import
    (``Masking(mask_value={...})``, initializers, ...), so nnspec refuses them in args."""
    if isinstance(value, dict):
        if "class_name" in value:
            return path
        for k, v in value.items():
            found = serialized_object_path(v, path + (k,))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = serialized_object_path(v, path + (i,))
            if found is not None:
                return found
    return None
