"""Core ops: Dense and friends."""
from __future__ import annotations

import re

from .. import codes
from .base import (ACTIVATION, ANY, AXIS, BOOL, CONSTRAINT, INITIALIZER, NUM, NUMERIC, POS_INT, REGULARIZER, Arg,
                   Imported, ImportRefused, KerasImport,
                   Op, ShapeError, fixed_broadcast_reuse, fmt_shape, kernel_and_bias, need_known, prod, weight_args)


def _dense_shape(args, shapes):
    (s,) = shapes
    if len(s) < 2:
        raise ShapeError.found("needs at least (batch, features)", s, code=codes.RANK_MISMATCH)
    need_known(s, -1, "last (features) dimension")
    return s[:-1] + (args["units"],)


def _dense_params(args, shapes):
    fan_in = shapes[0][-1]
    return fan_in * args["units"] + (args["units"] if args["use_bias"] else 0)


DENSE = Op(
    name="Dense",
    family="core",
    dtypes=ANY, rank_free=True, mask="propagates",
    doc="Densely connected layer: `activation(dot(x, kernel) + bias)` over the last axis.",
    args=(
        Arg("units", POS_INT, doc="dimensionality of the output"),
        Arg("activation", ACTIVATION, None),
        *weight_args(),
    ),
    shape=_dense_shape,
    params=_dense_params,
    macs=lambda a, i, o: prod(o[1:]) * i[0][-1],
    weights=kernel_and_bias(2),
    bounds="dense",
)



# ---------------------------------------------------------------- EinsumDense
# Keras's three forms: 'ab,bc->ac', '...b,bc->...c' and 'ab...,bc->ac...' (no '...' in the weight).
_EQUATION_PATTERN = (r"^(\.\.\.[a-zA-Z]+,[a-zA-Z]+->\.\.\.[a-zA-Z]+"
                     r"|[a-zA-Z]{2,}\.\.\.,[a-zA-Z]+->[a-zA-Z]+\.\.\."
                     r"|[a-zA-Z]+,[a-zA-Z]+->[a-zA-Z]+)$(?!\n)")  # JSON Schema pattern (ECMA and Python)
# compiled when first used (re caches it): most specs have no EinsumDense, and compiling it is
# 0.4 ms of validate's start-up
_EQUATION = (r"^(?:\.\.\.(?P<li>[a-zA-Z]+),(?P<lw>[a-zA-Z]+)->\.\.\.(?P<lo>[a-zA-Z]+)"
                       r"|(?P<ri>[a-zA-Z]{2,})\.\.\.,(?P<rw>[a-zA-Z]+)->(?P<ro>[a-zA-Z]+)\.\.\."
                       r"|(?P<ni>[a-zA-Z]+),(?P<nw>[a-zA-Z]+)->(?P<no>[a-zA-Z]+))\Z")


def _einsum_parts(equation: str):
    """'...ab,bc->...ac' -> ('left', 'ab', 'bc', 'ac'); mode is None, 'left' or 'right'."""
    m = re.match(_EQUATION, equation)
    for mode, key in ((None, "n"), ("left", "l"), ("right", "r")):
        if m.group(key + "i"):
            return mode, m.group(key + "i"), m.group(key + "w"), m.group(key + "o")


def _einsum_validate(args):
    mode, inp, weight, out = _einsum_parts(args["equation"])
    for name, spec in (("input", inp), ("weight", weight), ("output", out)):
        if len(set(spec)) != len(spec):
            raise ShapeError(f"equation {args['equation']!r} repeats a letter in its {name} part",
                             "give each axis its own letter", arg="equation", code=codes.BAD_ARGUMENT)
    for c in out:
        if c not in inp and c not in weight:
            raise ShapeError(f"equation {args['equation']!r}: output axis '{c}' is in neither the input nor "
                             "the weight", "every output letter must come from the input or the weight",
                             arg="equation", code=codes.BAD_ARGUMENT)
    for c in weight:
        if c not in inp and c not in out:
            raise ShapeError(f"equation {args['equation']!r}: weight axis '{c}' is in neither the input nor "
                             "the output", "every weight letter must be an input or an output axis",
                             arg="equation", code=codes.BAD_ARGUMENT)
    size = out if mode == "left" else out[1:]
    given = args["output_shape"]
    given = [given] if isinstance(given, int) else list(given)
    if len(given) != len(size):
        raise ShapeError(f"output_shape {given} has {len(given)} sizes, but equation {args['equation']!r} "
                         f"has {len(size)} output axes besides the batch" + (" and '...'" if mode else ""),
                         f"give one size (or null) for each of the axes {', '.join(size)}",
                         arg="output_shape", code=codes.BAD_ARGUMENT)
    for c in args["bias_axes"] or "":
        if c not in out:
            raise ShapeError(f"bias_axes '{c}' is not an output axis of {args['equation']!r}",
                             f"choose bias_axes among {out!r}", arg="bias_axes", code=codes.BAD_ARGUMENT)


def _einsum_analyse(args, s):
    """Keras's shape analysis: (kernel_shape, bias_shape, output_shape); bias_shape None without bias.

    Keras 3.15 puts the axes of a leading '...' in reverse order in its
    symbolic shape (its computed outputs keep them in order): nnspec refuses a
    leading '...' over axes whose reversal differs, and otherwise follows the
    symbolic shape, which is then also the computed one.
    """
    mode, inp, weight, out = _einsum_parts(args["equation"])
    elided = len(s) - len(inp)
    axes = ", ".join(inp)
    if mode is None and elided != 0:
        raise ShapeError.found(f"needs rank {len(inp)} (axes {axes}, the first the batch) for equation "
                               f"{args['equation']!r}", s,
                               "change the equation to match the input, or use '...'", code=codes.RANK_MISMATCH)
    if mode == "left" and elided < 1:
        raise ShapeError.found(f"needs at least (batch, {axes}) for equation {args['equation']!r}", s,
                               "add '...' axes only where the input has them", code=codes.RANK_MISMATCH)
    if mode == "right" and elided < 0:
        raise ShapeError.found(f"needs at least rank {len(inp)} (axes {axes}, the first the batch) for equation "
                               f"{args['equation']!r}", s,
                               "change the equation to match the input", code=codes.RANK_MISMATCH)
    if mode == "left" and list(s[1:elided]) != list(s[elided - 1:0:-1]):
        used = set(inp + weight + out)
        free = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in used][:elided]
        lead = "".join(free)
        explicit = f"{lead}{inp},{weight}->{lead}{out}"
        dims = ", ".join("?" if d is None else str(d) for d in s[1:elided])
        given = args["output_shape"]
        sizes = ", ".join("null" if d is None else str(d)
                          for d in [*s[1:elided], *([given] if isinstance(given, int) else given)])
        raise ShapeError(f"cannot keep the '...' axes ({dims}) of {fmt_shape(s)}: "
                         f"Keras's symbolic shape puts them in reverse order while the layer computes them in "
                         f"order, so the built model's shapes would disagree with its outputs",
                         f"name those axes with letters instead of '...': equation {explicit!r} with "
                         f"output_shape [{sizes}]", arg="equation", code=codes.BAD_ARGUMENT)
    given = args["output_shape"]
    full = [s[0]] + ([given] if isinstance(given, int) else list(given))
    if mode == "left":
        full[1:1] = list(s[elided - 1:0:-1])  # reversed, as Keras does
        in_at = {c: i + elided for i, c in enumerate(inp)}
        out_at = {c: i + elided for i, c in enumerate(out)}
    else:
        if mode == "right":
            full += list(s[len(s) - elided:])
        in_at = {c: i for i, c in enumerate(inp)}
        out_at = {c: i for i, c in enumerate(out)}
    for c in inp:
        if c in out_at and out_at[c] != 0 and full[out_at[c]] is None and s[in_at[c]] is not None:
            raise ShapeError(f"output_shape null on axis '{c}' keeps the input's size {s[in_at[c]]}, but Keras's "
                             f"symbolic shape leaves it unknown (None), so the layers after it cannot be checked "
                             f"against it (nnspec refuses it deliberately)",
                             f"set output_shape to {s[in_at[c]]} on axis '{c}'", arg="output_shape",
                             code=codes.BAD_ARGUMENT)
        if c in out_at and full[out_at[c]] is not None and full[out_at[c]] != s[in_at[c]]:
            hint = ("the batch axis keeps its size" if out_at[c] == 0
                    else f"set output_shape to {s[in_at[c]]} (or null) on axis '{c}'")
            raise ShapeError(f"keeps axis '{c}' of size {s[in_at[c]]} from the input {fmt_shape(s)} but "
                             f"output_shape gives it {full[out_at[c]]}", hint, arg="output_shape",
                             code=codes.BAD_ARGUMENT)
    kernel = [full[out_at[c]] if c in out_at else s[in_at[c]] for c in weight]
    if None in kernel:
        c = weight[kernel.index(None)]
        raise ShapeError(f"needs a known size for weight axis '{c}' but it is unknown (input {fmt_shape(s)})",
                         "give the input a fixed size there, or a size in output_shape", code=codes.UNKNOWN_DIMENSION)
    bias = None
    if args["bias_axes"]:
        start = min(out.find(c) for c in args["bias_axes"])
        bias = [full[out_at[c]] if c in args["bias_axes"] else 1 for c in out[start:]]
        if None in bias:
            raise ShapeError.found(f"needs known sizes on bias_axes '{args['bias_axes']}'",
                                   f"output {fmt_shape(tuple(full))}", "give those axes a size in output_shape",
                                   code=codes.UNKNOWN_DIMENSION)
    return kernel, bias, tuple(full)


def _einsum_weights(args, shapes):
    kernel, bias, _ = _einsum_analyse(args, shapes[0])
    return {"kernel": (len(kernel),), **({"bias": (len(bias),)} if bias else {})}


def _einsum_shape(args, shapes):
    return _einsum_analyse(args, shapes[0])[2]


def _einsum_params(args, shapes):
    kernel, bias, _ = _einsum_analyse(args, shapes[0])
    return prod(kernel) + (prod(bias) if bias else 0)


def _einsum_macs(args, in_shapes, out_shape):
    """Every output element sums over the kernel axes the output does not keep."""
    kernel = _einsum_analyse(args, in_shapes[0])[0]
    terms, out = args["equation"].replace(" ", "").split("->")
    weight = terms.split(",")[1]
    return prod(out_shape[1:]) * prod(k for c, k in zip(weight, kernel) if c not in out)


_SIZE_OR_NULL = {"anyOf": [POS_INT, {"type": "null"}]}

EINSUM_DENSE = Op(
    name="EinsumDense",
    family="core",
    dtypes=ANY,
    doc="A dense layer of any rank: `einsum(equation, x, kernel) + bias`, e.g. 'abc,cde->abde'.",
    args=(
        Arg("equation", {"type": "string", "pattern": _EQUATION_PATTERN,
                         "description": "an einsum equation 'in,weight->out' over letters, e.g. 'abc,cd->abd'; "
                                        "'...' may lead the input and output, or end both"},
            doc="the einsum equation; the input's first letter is the batch axis unless '...' leads"),
        Arg("output_shape", {"anyOf": [POS_INT, {"type": "array", "items": _SIZE_OR_NULL, "minItems": 1}],
                             "description": "the output sizes without the batch axis (and without the '...' "
                                            "axes); null for an axis kept from the input where its size is "
                                            "unknown"},
            doc="the output shape without the batch axis; null for an axis the input has of unknown size"),
        Arg("activation", ACTIVATION, None),
        Arg("bias_axes", {"anyOf": [{"type": "string", "pattern": "^[a-zA-Z]+$(?!\\n)"}, {"type": "null"}],
                          "description": "output letters that get a bias, or null for no bias"}, None),
        *weight_args(bias=False),
        Arg("bias_initializer", INITIALIZER, "zeros"),
        Arg("bias_regularizer", REGULARIZER, None),
        Arg("bias_constraint", CONSTRAINT, None),
    ),
    shape=_einsum_shape,
    params=_einsum_params,
    macs=_einsum_macs,
    weights=_einsum_weights,
    validate=_einsum_validate,
)


# ---------------------------------------------------------------- Embedding
def _embedding_shape(args, shapes):
    (s,) = shapes
    if args["mask_zero"] and len(s) > 2:
        raise ShapeError(f"cannot use mask_zero: true on the index {fmt_shape(s)} of more than one axis: Keras's "
                         "mask then has the index's shape, which breaks attention, recurrent and TimeDistributed "
                         "layers after it when they run (nnspec refuses it deliberately, whatever follows)",
                         "Reshape the index to (batch, steps) before the Embedding, or use mask_zero: false",
                         arg="mask_zero", code=codes.BAD_ARGUMENT)
    return tuple(s) + (args["output_dim"],)


EMBEDDING = Op(
    name="Embedding",
    family="core",
    dtypes=ANY, rank_free=True,
    mask=lambda args, masked: bool(args.get("mask_zero")),  # its own, whatever its input carries
    doc="Turns integer indices in [0, input_dim) into dense vectors of size output_dim.",
    args=(
        Arg("input_dim", POS_INT, doc="vocabulary size: the largest index + 1"),
        Arg("output_dim", POS_INT, doc="size of each embedding vector"),
        # Keras's default is "uniform", its alias of RandomUniform() (-0.05..0.05): the same thing.
        Arg("embeddings_initializer", INITIALIZER, "random_uniform"),
        Arg("embeddings_regularizer", REGULARIZER, None),
        Arg("embeddings_constraint", CONSTRAINT, None),
        Arg("mask_zero", BOOL, False, doc="treat index 0 as padding and mask it downstream"),
    ),
    shape=_embedding_shape,
    params=lambda args, shapes: args["input_dim"] * args["output_dim"],
    weights=lambda args, shapes: {"embeddings": (2,)},
    index_limit=lambda args: args["input_dim"],
)


# ---------------------------------------------------------------- Scale
def _scale_axis(args, s) -> int:
    rank = len(s)
    a = args["axis"]
    if rank < 2 or not -rank <= a < rank or a % rank == 0:
        raise ShapeError(f"has axis {a}, which is not a non-batch axis of its input {fmt_shape(s)}",
                         f"use an axis between 1 and {rank - 1}, or -1 for the last" if rank > 1 else
                         "give the input a feature axis", arg="axis", code=codes.BAD_ARGUMENT)
    return a % rank


def _scale_shape(args, shapes):
    (s,) = shapes
    need_known(s, _scale_axis(args, s), f"size on axis {args['axis']}")
    return tuple(s)


def _import_layer_scale(layer, args, kwargs) -> Imported:
    """keras.applications.convnext's LayerScale(init_values, projection_dim): x * gamma, gamma of
    projection_dim (the last axis) entries starting at init_values."""
    if kwargs or len(args) != 1:
        raise ImportRefused(f"is called with {len(args)} tensors and {sorted(kwargs) or 'no'} keywords; "
                            "a Scale takes one tensor")
    value = float(layer.init_values)
    return Imported({} if value == 1.0 else {"gamma_initializer": {"constant": {"value": value}}}, list(args))


SCALE = Op(
    name="Scale",
    family="core",
    dtypes=ANY, mask="propagates",
    doc="Multiplies by a learned per-channel weight gamma (one entry per entry of `axis`): ConvNeXt's layer "
        "scale, e.g. gamma_initializer: {constant: {value: 1.0e-6}}.",
    args=(
        Arg("axis", AXIS, -1, "the channels axis: gamma has its size"),
        Arg("gamma_initializer", INITIALIZER, "ones"),
        Arg("gamma_regularizer", REGULARIZER, None),
        Arg("gamma_constraint", CONSTRAINT, None),
    ),
    shape=_scale_shape,
    params=lambda args, shapes: shapes[0][_scale_axis(args, shapes[0])],
    # its gamma is reshaped to the first call's rank when it builds (seed 34 graph 3568)
    reuse=lambda args, first, shapes: fixed_broadcast_reuse(
        first[0], shapes[0], {_scale_axis(args, first[0])}, "gamma",
        "use a separate Scale for this input, or Reshape it to the first call's rank", with_batch=False,
        axes=(args["axis"],)),
    weights=lambda args, shapes: {"gamma": (1,)},
    keras="nnspec.keras.custom:Scale",
    imports=KerasImport(("keras.src.applications.convnext.LayerScale",), _import_layer_scale),
)


# ---------------------------------------------------------------- Masking
def _masking_shape(args, shapes):
    (s,) = shapes
    if len(s) < 2:
        raise ShapeError.found("needs at least (batch, features)", s, after=": it masks the entries whose last "
                               "axis is all mask_value", code=codes.RANK_MISMATCH)
    if len(s) > 3:
        # as Embedding's mask_zero on an index of more than one axis
        raise ShapeError(f"cannot mask the input {fmt_shape(s)} of more than two non-batch axes: Keras's mask then "
                         f"has the shape {fmt_shape(s[:-1])}, which breaks attention, recurrent and TimeDistributed "
                         "layers after it when they run (nnspec refuses it deliberately, whatever follows)",
                         "Reshape the input to (batch, steps, features) before the Masking", code=codes.RANK_MISMATCH)
    return tuple(s)


MASKING = Op(
    name="Masking",
    family="core",
    dtypes=NUMERIC, keeps_dtype=True, rank_free=True, mask="makes",
    doc="Masks the steps of (batch, steps, features) whose features all equal mask_value: the recurrent and "
        "attention layers after it skip them (as Embedding's mask_zero).",
    args=(Arg("mask_value", NUM, 0.0, "the padding value"),),
    shape=_masking_shape,
)

OPS: tuple[Op, ...] = (DENSE, EINSUM_DENSE, EMBEDDING, SCALE, MASKING)
