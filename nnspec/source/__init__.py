"""Front ends: bytes -> Document (plain data + a position for every node).
YAML (`yaml_loader`) and the text DSL (`dsl`, for *.nns) give the same Document."""
from __future__ import annotations

DSL_SUFFIX = ".nns"


def load_any(raw, file: str = "<string>"):
    """(Document or None, diagnostics): the DSL for ``*.nns``, YAML otherwise."""
    if str(file).endswith(DSL_SUFFIX):
        from .dsl import load_dsl
        return load_dsl(raw, file)
    from .yaml_loader import load_yaml
    return load_yaml(raw, file)
