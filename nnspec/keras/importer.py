"""A Keras model -> nnspec spec data (`nnspec import`): the public names of ``nnspec.keras.importing``
(whose package docstring says what the import does; its modules hold the code)."""
from __future__ import annotations

from .importing.common import ImportResult, ModelImportError
from .importing.loading import is_function_ref, load_model_ref
from .importing.model import import_model, model_to_spec
from .importing.vocabulary import activation_value, constraint_value, initializer_value, regularizer_value
from .importing.writing import printable, spec_to_yaml

__all__ = ["ImportResult", "ModelImportError", "activation_value", "constraint_value", "import_model",
           "initializer_value", "is_function_ref", "load_model_ref", "model_to_spec", "printable",
           "regularizer_value", "spec_to_yaml"]
