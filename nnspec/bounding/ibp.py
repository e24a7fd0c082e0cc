"""Interval arithmetic (interval bound propagation): the box image of every record, from its
inputs' boxes. Linear maps take centre and radius (|M| times the radius); activations are
non-decreasing, so [f(l), f(u)]; a max over windows takes the max of each end."""
from __future__ import annotations

import numpy as np

from . import activations, prims


def step(net, k: int, bounds: list, box: dict):
    """(lower, upper) of node k, given ``bounds`` of the nodes before it and ``box``: input name ->
    (lower, upper) flat arrays."""
    n = net.nodes[k]
    if n.kind == "input":
        lo, hi = box[n.layer]
        return np.asarray(lo, np.float64).ravel(), np.asarray(hi, np.float64).ravel()
    if n.kind == "linear":
        c = np.zeros(n.size) if n.bias is None else n.bias.copy()
        r = np.zeros(n.size)
        for m, i in zip(n.mats, n.inputs):
            lo, hi = bounds[i]
            c = c + prims.forward(m, ((lo + hi) / 2)[None])[0]
            r = r + prims.forward(prims.absolute(m), ((hi - lo) / 2)[None])[0]
        return c - r, c + r
    lo, hi = bounds[n.inputs[0]]
    if n.kind == "act":
        return activations.apply(n.act, n.alpha, lo), activations.apply(n.act, n.alpha, hi)
    from .net import _group_max
    return _group_max(lo[None], n.groups)[0], _group_max(hi[None], n.groups)[0]


def ibp(net, box: dict) -> list:
    bounds: list = []
    for k in range(len(net.nodes)):
        bounds.append(step(net, k, bounds, box))
    return bounds
