"""One entry point over the three methods: ``compute(net, box, method)``."""
from __future__ import annotations

import numpy as np

METHODS = ("crown", "ibp", "exact")


def compute(net, box: dict, method: str = "crown") -> dict:
    """output name -> {"lower", "upper"} arrays of the output's shape (no batch axis), and for
    ``exact`` "witnesses": {"lower": [...], "upper": [...]}, one {input name: array of the input's
    shape} per output element in row-major order. ``box``: input name -> (lower, upper), arrays
    of the input's shape (or numbers)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    flat = {}
    for name, k in net.inputs.items():
        shape = net.nodes[k].shape
        lo, hi = box[name]
        flat[name] = (np.broadcast_to(np.asarray(lo, np.float64), shape).ravel(),
                      np.broadcast_to(np.asarray(hi, np.float64), shape).ravel())
    out = {}
    if method == "exact":
        from .exact import exact
        shapes = {nm: net.nodes[k].shape for nm, k in net.inputs.items()}
        for name, (lo, hi, wl, wh) in exact(net, flat).items():
            shape = net.nodes[net.outputs[name]].shape
            out[name] = {"lower": lo.reshape(shape), "upper": hi.reshape(shape), "witnesses": {
                "lower": [{nm: w[nm].reshape(shapes[nm]) for nm in w} for w in wl],
                "upper": [{nm: w[nm].reshape(shapes[nm]) for nm in w} for w in wh]}}
        return out
    from .crown import bounds
    all_bounds = bounds(net, flat, method)
    for name, k in net.outputs.items():
        lo, hi = all_bounds[k]
        shape = net.nodes[k].shape
        out[name] = {"lower": lo.reshape(shape), "upper": hi.reshape(shape)}
    return out
