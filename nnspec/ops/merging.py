"""Ops of the merging family: the elementwise merges (Add, Subtract, Multiply,
Average, Maximum, Minimum), Concatenate and Dot. They take a list of inputs."""
from __future__ import annotations

from .. import codes
from .base import ANY, AXIS, BOOL, NUMERIC, Arg, Op, ShapeError, fmt_shape, prod


def _join(shapes) -> str:
    """[(None, 8), (None, 16)] -> '(batch, 8) and (batch, 16)'."""
    texts = [fmt_shape(s) for s in shapes]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def _batch(shapes):
    """The common batch size (None if unknown); distinct known sizes are an error."""
    sizes = {s[0] for s in shapes} - {None}
    if len(sizes) > 1:
        raise ShapeError.found("needs inputs of one batch size", _join(shapes),
                               "give all inputs the same batch size", code=codes.MERGE_MISMATCH)
    return sizes.pop() if sizes else None


# ---------------------------------------------------------------- elementwise
def _broadcast(a: tuple, b: tuple):
    """Keras's elementwise output shape (non-batch axes), or the first (axis, i, j)
    that clashes. Shorter shapes line up on the last axes; size 1 stretches;
    an unknown size on either side gives an unknown size."""
    if len(a) < len(b):
        a, b = b, a
    out = list(a[:len(a) - len(b)])
    for axis, (i, j) in enumerate(zip(a[len(a) - len(b):], b), start=len(a) - len(b) + 1):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1 or i == j:
            out.append(j if i == 1 else i)
        else:
            return None, (axis, i, j)
    return tuple(out), None


def _elementwise_shape(args, shapes):
    batch = _batch(shapes)
    out = shapes[0][1:]
    for s in shapes[1:]:
        out, clash = _broadcast(out, s[1:])
        if clash:
            axis, i, j = clash
            ranks = {len(s) for s in shapes}
            hint = (f"sizes {i} and {j} clash on axis {axis} (counted from the batch axis of the "
                    "highest-rank input); make them equal (e.g. with a Dense) or 1 to broadcast")
            if len(ranks) > 1:
                hint += "; inputs of lower rank line up on their last axes, as in numpy"
            raise ShapeError.found("needs inputs of equal shape", _join(shapes), hint, code=codes.MERGE_MISMATCH)
    return (batch, *out)


def _elementwise_reuse(args, first_shapes, shapes):
    """Keras's merge decides when it builds, from its first call, whether inputs of different ranks
    are lined up (expanded after the batch axis); built on one rank, a later call on several ranks
    broadcasts as numpy does, batch axis included, and fails when it runs (fuzzer, seed 34 graph 405)."""
    if len({len(s) for s in first_shapes}) == 1 and len({len(s) for s in shapes}) > 1:
        return ("Keras lines up inputs of different ranks only if its first call had them, and this one's "
                "first call had inputs of one rank: Keras broadcasts these as numpy does, batch axis included, "
                "and fails when it runs",
                "use a separate merge layer here, or Reshape the lower-rank input to the rank of the others")
    return None


def _elementwise(name, doc, inputs=(2, None), bounds=None, keeps_dtype=True):
    # integers but not bool; a shared one runs on inputs of another rank (fuzzer, seed 33)
    return Op(name=name, family="merging", doc=doc, shape=_elementwise_shape, inputs=inputs,
              reuse=_elementwise_reuse, bounds=bounds, dtypes=NUMERIC, keeps_dtype=keeps_dtype, rank_free=True,
              mask="propagates")


ADD = _elementwise("Add", "Adds its inputs elementwise.", bounds="add")
SUBTRACT = _elementwise("Subtract", "Subtracts its second input from its first, elementwise.", inputs=(2, 2),
                       bounds="subtract")
MULTIPLY = _elementwise("Multiply", "Multiplies its inputs elementwise.")
AVERAGE = _elementwise("Average", "Averages its inputs elementwise.", bounds="average",
                       keeps_dtype=False)  # Keras: float64 of integers, taken as float
MAXIMUM = _elementwise("Maximum", "The elementwise maximum of its inputs.")
MINIMUM = _elementwise("Minimum", "The elementwise minimum of its inputs.")


# ---------------------------------------------------------------- Concatenate
def _concatenate_shape(args, shapes):
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        raise ShapeError.found("needs inputs of equal rank", _join(shapes),
                               "Reshape or Flatten the inputs to the same number of axes", code=codes.MERGE_MISMATCH)
    (rank,) = ranks
    axis = args["axis"]
    if not -rank <= axis < rank:
        raise ShapeError.found(f"needs an axis within the {rank} axes (batch included) of its inputs",
                               f"axis {axis} for {_join(shapes)}",
                               f"use an axis from 1 to {rank - 1}, or from {-rank + 1} to -1",
                               arg="axis", code=codes.BAD_ARGUMENT)
    axis %= rank
    if axis == 0:
        # Keras accepts this, but a model whose batch grows in the middle is a mistake.
        raise ShapeError.found("needs a non-batch axis", f"axis {args['axis']}, the batch axis",
                               "concatenate along a feature axis, e.g. -1", arg="axis", code=codes.BAD_ARGUMENT)
    for i in range(rank):
        sizes = {s[i] for s in shapes} - {None}
        if i != axis and len(sizes) > 1:
            raise ShapeError.found(
                f"needs inputs of equal shape except on axis {axis}", _join(shapes),
                f"axis {i} has sizes {', '.join(map(str, sorted(sizes)))}; make them equal, or "
                "concatenate along the axis where they differ", code=codes.MERGE_MISMATCH)
    out = list(shapes[0])  # Keras takes the other axes from the first input
    lengths = [s[axis] for s in shapes]
    out[axis] = None if None in lengths else sum(lengths)
    return tuple(out)


CONCATENATE = Op(
    name="Concatenate",
    family="merging",
    dtypes=ANY, keeps_dtype=True, rank_free=True, mask="propagates",
    doc="Joins its inputs along one axis; the other axes must agree.",
    args=(Arg("axis", AXIS, -1, doc="the axis to join along"),),
    shape=_concatenate_shape,
    inputs=(2, None),
    bounds="concatenate",
)


# ---------------------------------------------------------------- Dot
def _dot_shape(args, shapes):
    s1, s2 = shapes
    for s in shapes:
        if len(s) < 2:
            raise ShapeError.found("needs inputs of at least (batch, features)", _join(shapes),
                                   code=codes.RANK_MISMATCH)
    axes = args["axes"]
    pair = (axes, axes) if isinstance(axes, int) else tuple(axes)
    norm = []
    for a, s in zip(pair, shapes):
        if not -len(s) <= a < len(s):
            raise ShapeError.found("needs axes within the inputs' axes", f"axes {axes} for {_join(shapes)}",
                                   "count axes from the batch axis (0), or from the end (-1)",
                                   arg="axes", code=codes.BAD_ARGUMENT)
        if a % len(s) == 0:
            # Keras builds this symbolically but fails when called (batch_dot).
            raise ShapeError.found("needs axes off the batch axis", f"axes {axes}",
                                   "take the dot product over a feature axis, e.g. -1", arg="axes",
                                   code=codes.BAD_ARGUMENT)
        norm.append(a % len(s))
    a1, a2 = norm
    d1, d2 = s1[a1], s2[a2]
    if d1 != d2:  # Keras refuses an unknown size against a known one, too
        # A reused Dot is not built again, so Keras runs that call when the unknown size happens to
        # match: nnspec refuses every call alike (tests/fuzz/oracle.py STRICT).
        hint = ("give the input a fixed size on that axis (Keras refuses an unknown size there when it builds the "
                "Dot; nnspec refuses it on every call, a reused Dot's too)" if None in (d1, d2)
                else "make the two sizes equal, or choose other axes")
        raise ShapeError.found(f"needs equal{', known' if None in (d1, d2) else ''} sizes on the dot axes",
                               f"{'?' if d1 is None else d1} (axis {a1} of {fmt_shape(s1)}) and "
                               f"{'?' if d2 is None else d2} (axis {a2} of {fmt_shape(s2)})", hint,
                               code=codes.MERGE_MISMATCH)
    out = [d for i, d in enumerate(s1) if i != a1] + [d for i, d in enumerate(s2) if i not in (0, a2)]
    return tuple(out) if len(out) > 1 else (out[0], 1)


DOT = Op(
    name="Dot",
    family="merging",
    dtypes=ANY, keeps_dtype=True, rank_free=True,
    doc="The dot product of two inputs over one axis of each (per sample).",
    args=(Arg("axes", {"anyOf": [AXIS, {"type": "array", "items": AXIS, "minItems": 2, "maxItems": 2}],
                       "description": "an axis, or a list of 2 (one per input)"},
              doc="the axis to reduce over, or one per input"),
          Arg("normalize", BOOL, False, doc="L2-normalise along the axes first (cosine similarity)")),
    shape=_dot_shape,
    macs=lambda a, i, o: prod(o[1:]) * (i[0][(a["axes"] if isinstance(a["axes"], int) else a["axes"][0])]),
    inputs=(2, 2),
    float_only=lambda args: ("with normalize: true, Keras's l2 normalisation (rsqrt) takes no integer tensor "
                             "and fails on the first batch" if args.get("normalize") else None),
)

OPS: tuple[Op, ...] = (ADD, SUBTRACT, MULTIPLY, AVERAGE, MAXIMUM, MINIMUM, CONCATENATE, DOT)
