"""Ops of the wrappers family: WeightNorm (Salimans & Kingma's weight normalisation).

Bidirectional and TimeDistributed, also Keras wrappers, live with the recurrent
family; the nested `{Type: {args}}` helpers are shared from there.
"""
from __future__ import annotations

from .. import codes
from .base import Arg, ImportHooks, Op, ShapeError
from .recurrent import _inner_error, _item, _validate_inner

# The layers WeightNorm can wrap, and the arg holding their number of outputs.
_UNITS = {"Dense": "units", "Conv1D": "filters", "Conv2D": "filters", "Conv3D": "filters"}

WEIGHTED_LAYER = {
    "type": "object",
    "properties": {name: {"$ref": f"#/definitions/op_{name}"} for name in _UNITS},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "description": "a layer with a kernel, e.g. {Dense: {units: 8}} (Dense, Conv1D, Conv2D or Conv3D)",
}


def _wrapped(args):
    type_name = next(iter(args["layer"]))
    if type_name not in _UNITS:
        raise ShapeError(f"cannot wrap {type_name}: WeightNorm wraps Dense, Conv1D, Conv2D or Conv3D",
                         "wrap one of those, or use the weight_norm kernel_constraint", arg="layer",
                         code=codes.BAD_ARGUMENT)
    return _item(args["layer"])


def _wn_validate(args):
    op, inner = _wrapped(args)
    _validate_inner(op, inner)


def _wn_shape(args, shapes):
    op, inner = _wrapped(args)
    try:
        return op.shape(inner, shapes)
    except ShapeError as e:
        raise _inner_error("", op.name, e) from None


def _wn_params(args, shapes):
    op, inner = _wrapped(args)
    trainable, frozen = op.count_params(inner, shapes)
    trainable += inner[_UNITS[op.name]]  # g: one scale per output unit / filter
    return (trainable, frozen) if frozen else trainable


def _wn_macs(args, in_shapes, out_shape):
    op, inner = _wrapped(args)
    return op.count_macs(inner, in_shapes, out_shape)


WEIGHT_NORM = Op(
    name="WeightNorm",
    family="wrappers",
    wraps=True, mask="wrapped",
    doc=("Weight normalisation (Salimans & Kingma, 2016): trains the kernel as a direction v and "
         "a per-unit scale g, kernel = g * v / ||v||."),
    args=(Arg("layer", WEIGHTED_LAYER, doc="the layer to reparameterise, e.g. {Conv1D: {filters: 8, kernel_size: 3}}"),),
    shape=_wn_shape,
    params=_wn_params,
    macs=_wn_macs,
    keras="nnspec.keras.weightnorm:WeightNorm",
    keras_kwargs=lambda args, make_item: {"layer": make_item(args["layer"])},
    validate=_wn_validate,
    import_hooks=ImportHooks(nested={"layer": lambda layer: layer.layer}),
)

OPS: tuple[Op, ...] = (WEIGHT_NORM,)
