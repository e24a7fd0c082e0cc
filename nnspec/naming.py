"""Keras-style layer auto names, in one place.

Keras names an unnamed layer after its class in snake_case and numbers the
repeats: ``dense``, ``dense_1``, ... skipping names already taken
(keras.src.utils.naming). nnspec gives the same names wherever it names layers
(resolve's IR, block expansion, the DSL writing names out for its variables),
so that ``check``, ``inspect`` and the built model agree on every name.

It imports nothing: every layer may use it.
"""
from __future__ import annotations

import re


def snake_case(name: str) -> str:
    """Keras's own layer auto-naming (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def item_type(key: str, args) -> str:
    """What an unnamed item is named after: its layer type, or, for ``reuse:``,
    the layer it reuses."""
    if key != "reuse":
        return key
    return str(args.get("layer", "reuse")) if isinstance(args, dict) else "reuse"


class AutoNamer:
    """Hands out ``base``, ``base_1``, ``base_2``, ... per snake_case base.

    With ``taken`` (the explicit names, given first as Keras's uniquify sees
    them), a candidate already taken is skipped and every name handed out is
    taken from then on. Without it (``taken=None``) the numbers are the only
    rule, as for a block's local names, which its prefix makes unique."""

    def __init__(self, taken=None):
        self.taken = None if taken is None else set(taken)
        self.counters: dict[str, int] = {}

    def __call__(self, type_name: str) -> str:
        base = snake_case(type_name)
        while True:
            n = self.counters.get(base, 0)
            self.counters[base] = n + 1
            candidate = base if n == 0 else f"{base}_{n}"
            if self.taken is None:
                return candidate
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate


# ---------------------------------------------------------------- the spec's own words
# The top-level keys, in the order nnspec writes them (emit, the DSL's lowering).
TOP_KEYS = ("nnspec", "name", "description", "seed", "requires_import", "allow_import", "weights", "budget", "inputs",
            "blocks", "layers", "outputs", "penalties", "training")
# Arguments every layer item takes besides its type's own (and a block call takes besides its params).
COMMON_ARGS = ("name", "from", "trainable", "activity_regularizer")
# Lower-case item keys that are not block calls.
STRUCTURAL = ("reuse",)


def is_expansion(key: str) -> bool:
    """An item key that block expansion replaces: a block call or ``repeat``
    (layer types are Keras class names, so they start in upper case)."""
    return key[:1].islower() and key not in STRUCTURAL
