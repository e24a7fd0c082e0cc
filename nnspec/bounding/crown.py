"""CROWN: backward linear relaxation (Zhang et al. 2018, as auto_LiRPA computes it).

To bound ``C @ v_t`` for a node t, the coefficients are carried backwards through the records in
reverse topological order: through a linear record exactly, through an activation by its relaxation
(activations.relax, on the bounds of its input: the lower line where a coefficient is positive, the
upper where negative, for the lower bound, and the reverse for the upper), through a max over
windows by ``x_j <= max <= x_j`` for a window whose element j is surely the largest, else by
``x_j <= max <= max(u)`` with j the element of the largest lower bound. At the inputs the linear
functions are minimised and maximised over the box in closed form.

``bounds(net, box, "crown")`` goes forward once: each record's bounds from interval arithmetic on
its inputs' bounds, then, for the inputs of activations (only the elements whose interval crosses
a kink, for the piecewise-linear ones) and of windows of max, and for the outputs, CROWN's bounds,
intersected with the intervals, so the result is never looser than interval arithmetic.
"""
from __future__ import annotations

import numpy as np

from . import activations, prims
from .ibp import step


def _maxpool_relax(groups, lo, hi):
    """Matrices (L, U) and offsets (bl, bu) with L x + bl <= max <= U x + bu over the box."""
    g = np.maximum(groups, 0)
    valid = groups >= 0
    gl = np.where(valid, lo[g], -np.inf)
    gu = np.where(valid, hi[g], -np.inf)
    j = np.argmax(gl, axis=1)
    rows = np.arange(len(groups))
    pick = g[rows, j]
    others = np.where(np.arange(groups.shape[1])[None] == j[:, None], -np.inf, gu).max(axis=1)
    sure = gl[rows, j] >= others
    n_out, n_in = len(groups), len(lo)
    L = prims.matrix(rows, pick, 1.0, (n_out, n_in))
    U = prims.matrix(rows[sure], pick[sure], 1.0, (n_out, n_in))
    bu = np.where(sure, 0.0, gu.max(axis=1))
    return L, np.zeros(n_out), U, bu


def backward(net, t: int, C, bounds: list, box: dict):
    """Lower and upper bounds of C @ v_t (C: (m, size of t)) over the box."""
    m = C.shape[0]
    lamL: dict = {t: C}
    lamU: dict = {t: C}
    cL, cU = np.zeros(m), np.zeros(m)
    for k in range(t, -1, -1):
        if k not in lamL:
            continue
        aL, aU = lamL.pop(k), lamU.pop(k)
        n = net.nodes[k]
        if n.kind == "input":
            lo, hi = (np.asarray(v, np.float64).ravel() for v in box[n.layer])
            pL, nL = prims.split(aL)
            pU, nU = prims.split(aU)
            cL += pL @ lo + nL @ hi
            cU += pU @ hi + nU @ lo
            continue
        if n.kind == "linear":
            if n.bias is not None:
                cL += aL @ n.bias
                cU += aU @ n.bias
            for mat, i in zip(n.mats, n.inputs):
                same = aL is aU
                dL = prims.left(aL, mat)
                dU = dL if same else prims.left(aU, mat)
                _accumulate(lamL, lamU, i, dL, dU)
            continue
        i = n.inputs[0]
        lo, hi = bounds[i]
        pL, nL = prims.split(aL)
        pU, nU = prims.split(aU)
        if n.kind == "act":
            al, bl, au, bu = activations.relax(n.act, n.alpha, lo, hi)
            cL += pL @ bl + nL @ bu
            cU += pU @ bu + nU @ bl
            dL = pL * al + nL * au
            dU = pU * au + nU * al
        else:
            L, bl, U, bu = _maxpool_relax(n.groups, lo, hi)
            cL += pL @ bl + nL @ bu
            cU += pU @ bu + nU @ bl
            dL = prims.left(pL, L) + prims.left(nL, U)
            dU = prims.left(pU, U) + prims.left(nU, L)
        _accumulate(lamL, lamU, i, dL, dU)
    return cL, cU


def _accumulate(lamL, lamU, i, dL, dU):
    if i in lamL:
        same = lamL[i] is lamU[i] and dL is dU
        lamL[i] = lamL[i] + dL
        lamU[i] = lamL[i] if same else lamU[i] + dU
    else:
        lamL[i], lamU[i] = dL, dU


def refine_rows(net, k: int, consumers, lo, hi):
    """The elements of node k whose CROWN bounds matter: all, unless every record that reads k is a
    piecewise-linear activation, which needs only those whose interval crosses its kink at 0."""
    if all(c == "out" or (net.nodes[c].kind == "act" and net.nodes[c].act in ("relu", "leaky_relu"))
           for c in consumers) and "out" not in consumers:
        return np.flatnonzero((lo < 0) & (hi > 0))
    return np.arange(len(lo))


def bounds(net, box: dict, method: str = "crown") -> list:
    """(lower, upper) of every record: interval arithmetic, or CROWN intersected with it."""
    consumers: dict = {}
    for k, n in enumerate(net.nodes):
        if n.kind in ("act", "maxpool"):
            consumers.setdefault(n.inputs[0], []).append(k)
    for k in net.outputs.values():
        consumers.setdefault(k, []).append("out")
    # rows of coefficients per backward pass: about 2**24 numbers (128 MiB) for the widest record
    chunk = max(1, 2**24 // max(n.size for n in net.nodes))
    out: list = []
    for k, n in enumerate(net.nodes):
        lo, hi = step(net, k, out, box)
        # a linear map of the inputs alone: interval arithmetic is already exact element by element
        direct = n.kind == "linear" and all(net.nodes[i].kind == "input" for i in n.inputs) and len(n.inputs) == 1
        if method == "crown" and k in consumers and n.kind != "input" and not direct:
            rows = refine_rows(net, k, consumers[k], lo, hi)
            lo, hi = lo.copy(), hi.copy()
            for part in np.array_split(rows, -(-len(rows) // chunk)) if len(rows) else ():
                C = np.zeros((len(part), n.size))
                C[np.arange(len(part)), part] = 1.0
                cl, cu = backward(net, k, C, out, box)
                lo[part] = np.maximum(lo[part], cl)
                hi[part] = np.minimum(hi[part], cu)
                hi = np.maximum(hi, lo)  # rounding: two sound bounds cannot cross
        out.append((lo, hi))
    return out
