"""`Custom`: a layer class of the user's own, referenced as module:Class.

nnspec cannot know its shape rule: give `output_shape` (without the batch
axis) to keep static checks going after it; without it, the layers after it
are not shape-checked (a warning says so). Its module must be allowed by name
by the person running nnspec (`--allow-import`, or `[tool.nnspec]
allow_import` in their pyproject.toml; see nnspec/config.py), never by the
spec, which only declares it (`requires_import:`). Loaders such as Keras's
TFSMLayer and Lambda are refused whoever allows them (nnspec/trust.py).
Validation never imports it.
"""
from __future__ import annotations

from ..vocab import CUSTOM_REF
from .base import ANY, Arg, Op


def _shape(args, shapes):
    declared = args.get("output_shape")
    if declared is None:
        return None  # opaque: the shapes pass warns and stops checking downstream
    return (None, *declared)


CUSTOM = Op(
    name="Custom",
    family="custom",
    dtypes=ANY,  # nnspec cannot know: not checked
    doc="Your own Keras layer class, imported from an allowed module: {class: mypkg.layers:MyLayer, args: {...}}.",
    args=(
        Arg("class", CUSTOM_REF, doc="module:Class of a keras.layers.Layer subclass"),
        Arg("args", {"type": "object", "description": "keyword arguments for the class"}, {}),
        Arg("output_shape", {"type": "array", "maxItems": 8,
                             "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                             "description": "the output shape without the batch axis, for static checks"}, None),
    ),
    shape=_shape,
    inputs=(1, None),
    keras="nnspec.keras.custom_objects:make_custom_layer",
    keras_call=lambda layer, tensors: layer(tensors[0] if len(tensors) == 1 else list(tensors)),
    stochastic=lambda args: None,  # nnspec cannot know whether it draws random numbers
)

OPS: tuple[Op, ...] = (CUSTOM,)
