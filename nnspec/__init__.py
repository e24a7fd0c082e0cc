"""nnspec: declarative model specs for Keras.

    import nnspec
    spec = nnspec.load("specs/lab_quake.yaml")   # validated IR, no TensorFlow imported
    model = nnspec.build("specs/lab_quake.yaml")  # a compiled keras.Model
"""
from .api import CompileError, bounds, build, check_file, check_text, compile, load, validate  # noqa: F401
from .diagnostics import Diagnostic, SpecError  # noqa: F401


__version__ = "0.1.0"
