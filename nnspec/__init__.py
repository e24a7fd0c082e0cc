"""nnspec: declarative model specs for Keras.

    import nnspec
    spec = nnspec.load("specs/lab_quake.yaml")   # validated IR, no TensorFlow imported
    model = nnspec.build("specs/lab_quake.yaml")  # a compiled keras.Model
"""
from .api import check_file, check_text, load, validate  # noqa: F401
from .diagnostics import Diagnostic, SpecError  # noqa: F401


def build(spec, strategy=None, compile: bool = True, allow_import=()):
    """A compiled keras.Model from a spec path (or a loaded Spec), ready for fit().

    ``allow_import``: for a path, the modules you allow `custom:` objects from (a loaded
    Spec keeps the ones given to ``load``). Imports TensorFlow; ``load`` and ``validate`` do not."""
    from .keras.build import build as _build
    if not hasattr(spec, "nodes"):
        spec = load(spec, allow_import=allow_import)
    return _build(spec, strategy=strategy, compile=compile)

__version__ = "0.1.0"
