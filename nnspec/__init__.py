"""nnspec: declarative model specs for Keras.

    import nnspec
    spec = nnspec.load("specs/lab_quake.yaml")   # validated IR, no TensorFlow imported
    model = nnspec.build("specs/lab_quake.yaml")  # a compiled keras.Model
"""
from .api import bounds, check_file, check_text, load, validate  # noqa: F401
from .diagnostics import Diagnostic, SpecError  # noqa: F401


def build(spec, strategy=None, compile: bool = True, allow_import=(), weights=None):
    """A compiled keras.Model from a spec path (or a loaded Spec), ready for fit().

    ``allow_import``: for a path, the modules you allow `custom:` objects from (a loaded
    Spec keeps the ones given to ``load``). ``weights``: a .keras or .weights.h5 file whose
    weights it starts from, by layer name (default: the spec's `weights:`, as `nnspec compile`
    loads it); a mismatch raises SpecError with one diagnostic per layer. Imports TensorFlow;
    ``load`` and ``validate`` do not."""
    from .api import weights_file
    from .diagnostics import SpecError
    from .keras.build import build as _build
    if not hasattr(spec, "nodes"):
        spec = load(spec, allow_import=allow_import)
    path, span, refused = weights_file(spec, weights)
    if refused is not None:
        raise SpecError([refused])
    model = _build(spec, strategy=strategy, compile=compile)
    if path is not None:
        from .keras.weights import load_initial_weights
        result = load_initial_weights(model, spec, path, span)
        if any(d.severity == "error" for d in result.diagnostics):
            raise SpecError(result.diagnostics)
    return model

__version__ = "0.1.0"
