"""Static compute cost: multiply-accumulates (MACs) and activation memory, from shapes alone.

Conventions (also in the README): MACs are those of one example (batch 1), multiplications of
weights (or of two tensors, in attention and Dot) with their inputs: a convolution counts output
positions x kernel window x input channels (/ groups) per filter; depthwise only the window per
channel; separable both parts; a transposed convolution every input position x window x filters;
Dense and EinsumDense the kernel per output position; recurrent layers every time step
(gates x (input + state) x units; ConvLSTM2D a convolution of both); attention the projections, the
scores and the weighted sum; wrappers their layer (Bidirectional twice, TimeDistributed per step).
Biases, activations, pooling, normalization, merges (other than Dot), dropout and reshaping count
0: they are element-wise, as in the published figures (He et al., Sandler et al.). A shared layer
counts at every use. Activation memory: every layer's output (and every input) held at once, in
its dtype, times the batch size: what training keeps for the backward pass, an upper bound at
inference.
"""
from __future__ import annotations

from .ir import Spec
from .ops import CATALOG

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int16": 2,
               "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1}


def layer_macs(spec: Spec) -> dict:
    """node name -> MACs for one example (None: a size it needs is unknown, or a Custom layer)."""
    out = {}
    for n in spec.nodes:
        op = CATALOG.get(n.op)
        shape = spec.shapes.get(n.name)
        ins = [spec.shapes.get(t) for t in n.inputs]
        if op is None or n.op == "Custom" or shape is None or None in ins:
            out[n.name] = None
            continue
        out[n.name] = op.count_macs(n.args, ins, shape)
    return out


def total_macs(spec: Spec) -> int | None:
    values = layer_macs(spec).values()
    return None if None in values else sum(values)


def tensor_bytes(spec: Spec, name: str, batch: int = 1) -> int | None:
    shape = spec.shapes.get(name)
    if not isinstance(shape, tuple) or any(d is None for d in shape[1:]):
        return None
    n = batch
    for d in shape[1:]:
        n *= d
    return n * DTYPE_BYTES.get(spec.dtypes.get(name, "float32"), 4)


def activation_bytes(spec: Spec, batch: int = 1) -> int | None:
    names = list(spec.inputs) + [n.name for n in spec.nodes]
    sizes = [tensor_bytes(spec, t, batch) for t in names]
    return None if None in sizes else sum(sizes)


def fmt_count(n) -> str:
    """3,867,346,944 -> '3.87 G'; None -> '?'."""
    if n is None:
        return "?"
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


def fmt_bytes(n) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
