"""The op catalog: every layer type nnspec knows, one ``Op`` record each.

Where does layer type X live?  ``python -m nnspec ops X`` prints its module, or
look in the family modules below (one small module per Keras layer family).
The registry is a dict filled from each module's ``OPS`` tuple, a family when first used.
"""
from __future__ import annotations

import importlib

from .base import Op

# Each family module's ops, by name, in the catalog's order: a spec loads only the families it uses
# (a layer type is looked up by name; building all 76 records, 14 modules, was a tenth of validating
# one small spec). Only a speed-up: a name missing here loads every family before it is refused, and
# tests/test_ops_index.py says which line to change when a family's OPS and this disagree.
FAMILIES = {
    "core": ("Dense", "EinsumDense", "Embedding", "Scale", "Masking"),
    "activations": ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"),
    "conv": ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
             "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"),
    "pooling": ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
                "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"),
    "reshaping": ("Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D",
                  "Cropping2D", "UpSampling1D", "UpSampling2D", "Slice"),
    "merging": ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"),
    "normalization": ("BatchNormalization", "LayerNormalization", "UnitNormalization"),
    "regularization": ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                       "GaussianDropout"),
    "recurrent": ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "ConvLSTM2D"),
    "attention": ("Attention", "MultiHeadAttention"),
    "preprocessing": ("Rescaling", "Normalization", "CategoryEncoding", "Hashing"),
    "wrappers": ("WeightNorm",),
    "expression": ("Expr",),
    "custom": ("Custom",),
}
_FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}


class _Catalog(dict):
    """The op records by name (a dict), each family module loaded when one of its ops is first
    asked for; iterating, ``len`` or an unknown name load them all."""

    def __init__(self):
        super().__init__()
        self._loaded: set = set()

    def _load(self, family: str) -> None:
        if family in self._loaded:
            return
        self._loaded.add(family)
        for op in importlib.import_module(f"{__name__}.{family}").OPS:
            if dict.__contains__(self, op.name):
                raise RuntimeError(f"op {op.name} defined twice")
            dict.__setitem__(self, op.name, op)

    def load_all(self) -> None:
        """Load every family; the records then iterate in FAMILIES' order, however they were loaded."""
        if len(self._loaded) == len(FAMILIES):
            return
        for family in FAMILIES:
            self._load(family)
        ordered = {name: dict.__getitem__(self, name) for name in _FAMILY_OF if dict.__contains__(self, name)}
        ordered.update(dict.items(self))  # any op the index lacks, last
        dict.clear(self)
        dict.update(self, ordered)

    def _find(self, name) -> bool:
        if not dict.__contains__(self, name):
            family = _FAMILY_OF.get(name)
            if family is not None and family not in self._loaded:
                self._load(family)
            elif len(self._loaded) < len(FAMILIES) and isinstance(name, str):
                self.load_all()
        return dict.__contains__(self, name)

    def __missing__(self, name):
        if self._find(name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def __contains__(self, name) -> bool:
        return self._find(name)

    def __setitem__(self, name, op) -> None:  # tests replace a record: its family first, so none is lost
        self._find(name)
        dict.__setitem__(self, name, op)

    def __delitem__(self, name) -> None:
        self._find(name)
        dict.__delitem__(self, name)

    def get(self, name, default=None):
        return dict.__getitem__(self, name) if self._find(name) else default

    def __iter__(self):
        self.load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.load_all()
        return dict.__len__(self)

    def keys(self):
        self.load_all()
        return dict.keys(self)

    def values(self):
        self.load_all()
        return dict.values(self)

    def items(self):
        self.load_all()
        return dict.items(self)

    def __eq__(self, other):
        self.load_all()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self.load_all()
        return dict.__repr__(self)

    def copy(self) -> dict:
        self.load_all()
        return dict(dict.items(self))


CATALOG: dict[str, Op] = _Catalog()


def names() -> list:
    """Every op's name, without loading a family module (the schema's layer dispatch)."""
    return list(_FAMILY_OF)


def get(name: str) -> Op | None:
    return CATALOG.get(name)


def layered(op_name: str, args: dict):
    """(op name, args) of a layer and of each layer it wraps (TimeDistributed's Embedding,
    Bidirectional's LSTM), outermost first."""
    while True:
        yield op_name, args
        inner = args.get("layer") if isinstance(args, dict) else None
        if not (isinstance(inner, dict) and len(inner) == 1):
            return
        (op_name, args), = inner.items()
        args = args if isinstance(args, dict) else {}
