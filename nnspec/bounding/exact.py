"""The exact range of a piecewise-linear network: a mixed-integer linear program per output element
and direction, solved by HiGHS through scipy.optimize.milp.

Variables: the input elements (bounded by the box) and, for each ReLU whose pre-activation bounds
(from CROWN) straddle 0, its output y and a binary z with the standard big-M encoding
``y >= 0, y >= x, y <= x - l (1 - z), y <= u z``; the constants l, u are CROWN's bounds, so they are
as tight as the cheap bounds can make them. Stable ReLUs are their linear piece. A leaky ReLU is
``alpha x + (1 - alpha) relu(x)``. A max over a window has one binary per element that can be the
largest. Every other record is an affine expression of these variables, composed as sparse
matrices, so the program has no variable for a linear layer.

The witness of each bound is the input of the solver's solution (clipped into the box); the
reported bound is the network's value there (numpy, float64), widened to the solver's proven bound
if that is further out, so it stays sound when HiGHS stops within its tolerance.
"""
from __future__ import annotations

import numpy as np

from . import NotExact, prims
from .crown import bounds as crown_bounds


def _solve(*args, **kwargs):
    """scipy.optimize.milp, with standard output kept for nnspec's own: HiGHS's C++ code sometimes
    prints a debug line there itself ("HighsMipSolverData::transformNewIntegerFeasibleSolution ..."),
    which broke `nnspec bounds --format json`. Its output goes to standard error while it runs."""
    import os
    import sys

    from scipy.optimize import milp
    sys.stdout.flush()  # what Python wrote so far goes out first
    try:
        saved = os.dup(1)  # the descriptor the C++ code writes to, whatever sys.stdout is
    except OSError:  # no descriptor 1 (a daemon): nothing to keep clean
        return milp(*args, **kwargs)
    try:
        os.dup2(2, 1)
        return milp(*args, **kwargs)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _need_scipy():
    try:
        import scipy.optimize  # noqa: F401
        import scipy.sparse  # noqa: F401
    except ImportError as e:
        raise ImportError("--method exact needs scipy (pip install 'nnspec[bounds]')") from e


def check_exact(net) -> None:
    for n in net.nodes:
        if n.kind == "act" and n.act not in ("relu", "leaky_relu"):
            raise NotExact(n.layer, f"the {n.act} activation")


class _Program:
    def __init__(self, n_vars, lb, ub, integral):
        self.n = n_vars
        self.lb, self.ub, self.integral = lb, ub, integral
        self.rows, self.cols, self.vals, self.rlo, self.rhi = [], [], [], [], []
        self.count = 0

    def constraint(self, expr_row, extra: dict, lo, hi):
        """lo <= expr_row . v + sum(c * v_j for j, c in extra) <= hi (expr_row: a sparse row, whose
        constant is already moved into lo and hi)."""
        r = expr_row.tocoo()
        cols = list(r.col) + list(extra)
        vals = list(r.data) + list(extra.values())
        self.rows += [self.count] * len(cols)
        self.cols += cols
        self.vals += vals
        self.rlo.append(lo)
        self.rhi.append(hi)
        self.count += 1


def exact(net, box: dict, pre=None, tighten: bool = True):
    """{output name: (lower, upper, witnesses_lower, witnesses_upper)}, witnesses as lists of
    {input name: flat array}. ``pre``: the CROWN bounds of every record (computed if not given).
    ``tighten``: before encoding a layer of ReLUs, bound each unstable one's input by the linear
    relaxation of the program so far (two LPs each), which narrows the big-M constants and often makes
    neurons stable: the branch and bound then has fewer and tighter binaries."""
    check_exact(net)  # before scipy: a network it cannot take needs no install to hear so
    _need_scipy()
    import scipy.sparse as sp
    from scipy.optimize import Bounds, LinearConstraint

    pre = crown_bounds(net, box, "crown") if pre is None else pre
    # allocate variables: inputs, then per unstable ReLU (y, z), per undecided window (y, z_1..z_k)
    offsets, n_vars = {}, 0
    lb, ub, integral = [], [], []
    for name, k in net.inputs.items():
        lo, hi = (np.asarray(v, np.float64).ravel() for v in box[name])
        offsets[k] = n_vars
        n_vars += len(lo)
        lb += list(lo)
        ub += list(hi)
        integral += [0] * len(lo)
    plans = {}
    for k, n in enumerate(net.nodes):
        if n.kind == "act":
            lo, hi = pre[n.inputs[0]]
            unstable = np.flatnonzero((lo < 0) & (hi > 0))
            plans[k] = (unstable, n_vars)
            for j in unstable:
                lb += [0.0, 0.0]
                ub += [float(hi[j]), 1.0]
                integral += [0, 1]
            n_vars += 2 * len(unstable)
        elif n.kind == "maxpool":
            lo, hi = pre[n.inputs[0]]
            plan = []
            for row in n.groups:
                g = row[row >= 0]
                top = lo[g].max()
                cand = g[hi[g] >= top]
                best = g[np.argmax(lo[g])]
                if len(cand) <= 1 or lo[best] >= np.delete(hi[g], np.argmax(lo[g])).max(initial=-np.inf):
                    plan.append((best, None, None))
                    continue
                plan.append((cand, n_vars, float(hi[g].max())))
                lb += [float(top)] + [0.0] * len(cand)
                ub += [float(hi[g].max())] + [1.0] * len(cand)
                integral += [0] + [1] * len(cand)
                n_vars += 1 + len(cand)
            plans[k] = plan
    prog = _Program(n_vars, np.array(lb), np.array(ub), np.array(integral))
    exprs: list = []
    for k, n in enumerate(net.nodes):
        if n.kind == "input":
            o = offsets[k]
            A = sp.csr_matrix((np.ones(n.size), (np.arange(n.size), o + np.arange(n.size))), shape=(n.size, n_vars))
            exprs.append((A, np.zeros(n.size)))
        elif n.kind == "linear":
            A = sp.csr_matrix((n.size, n_vars))
            c = np.zeros(n.size) if n.bias is None else n.bias.copy()
            for mat, i in zip(n.mats, n.inputs):
                Ai, ci = exprs[i]
                M = prims.to_sparse(mat, net.nodes[i].size)
                A = A + M @ Ai
                c = c + M @ ci
            exprs.append((sp.csr_matrix(A), c))
        elif n.kind == "act":
            if tighten and prog.count:
                pre[n.inputs[0]] = _tighten(exprs[n.inputs[0]], pre[n.inputs[0]], plans[k], prog, sp)
            exprs.append(_relu_expr(n, exprs[n.inputs[0]], pre[n.inputs[0]], plans[k], prog, sp))
        else:
            exprs.append(_maxpool_expr(n, exprs[n.inputs[0]], pre[n.inputs[0]], plans[k], prog, sp))
    cons = []
    if prog.count:
        M = sp.csr_matrix((prog.vals, (prog.rows, prog.cols)), shape=(prog.count, n_vars))
        cons = [LinearConstraint(M, np.array(prog.rlo), np.array(prog.rhi))]
    var_bounds = Bounds(prog.lb, prog.ub)
    result = {}
    for name, k in net.outputs.items():
        A, c = exprs[k]
        size = net.nodes[k].size
        lows, highs, wl, wh = np.zeros(size), np.zeros(size), [], []
        for e in range(size):
            row = A.getrow(e).toarray().ravel()
            for sign, store, wit in ((1.0, lows, wl), (-1.0, highs, wh)):
                if not row.any():
                    x = prog.lb.copy()
                    proven = None
                else:
                    res = _solve(sign * row, constraints=cons, integrality=prog.integral, bounds=var_bounds,
                               options={"mip_rel_gap": 0.0, "presolve": True})
                    if res.x is None:
                        raise RuntimeError(f"HiGHS found no solution: {res.message}")
                    x = res.x
                    dual = getattr(res, "mip_dual_bound", None)
                    proven = None if dual is None or not np.isfinite(dual) else sign * dual + c[e]
                feeds = {nm: np.clip(x[offsets[i]:offsets[i] + net.nodes[i].size], prog.lb[offsets[i]:offsets[i]
                         + net.nodes[i].size], prog.ub[offsets[i]:offsets[i] + net.nodes[i].size])
                         for nm, i in net.inputs.items()}
                value = net.evaluate({nm: v[None] for nm, v in feeds.items()})[k][0, e]
                if proven is not None:
                    value = min(value, proven) if sign > 0 else max(value, proven)
                store[e] = value
                wit.append(feeds)
        result[name] = (lows, highs, wl, wh)
    return result


def _tighten(expr, pre, plan, prog, sp):
    from scipy.optimize import Bounds, LinearConstraint
    A, c = expr
    lo, hi = (v.copy() for v in pre)
    unstable, base = plan
    if not len(unstable):
        return lo, hi
    M = sp.csr_matrix((prog.vals, (prog.rows, prog.cols)), shape=(prog.count, prog.n))
    cons = [LinearConstraint(M, np.array(prog.rlo), np.array(prog.rhi))]
    var_bounds = Bounds(prog.lb, prog.ub)
    for j in unstable:
        row = A.getrow(j).toarray().ravel()
        for sign in (1.0, -1.0):
            res = _solve(sign * row, constraints=cons, bounds=var_bounds)
            if res.status != 0:
                continue
            v = sign * res.fun + c[j]
            tol = 1e-7 * (1 + abs(v))  # the LP's tolerance: keep the bound sound
            if sign > 0:
                lo[j] = max(lo[j], v - tol)
            else:
                hi[j] = min(hi[j], v + tol)
    stable = unstable[(lo[unstable] >= 0) | (hi[unstable] <= 0)]
    for j in stable:  # its variables are no longer needed: fixed at 0
        t = int(np.flatnonzero(unstable == j)[0])
        prog.lb[base + 2 * t: base + 2 * t + 2] = 0.0
        prog.ub[base + 2 * t: base + 2 * t + 2] = 0.0
    return lo, hi


def _relu_expr(n, expr, pre, plan, prog, sp):
    A, c = expr
    lo, hi = pre
    a = 0.0 if n.act == "relu" else n.alpha
    unstable, base = plan
    active = lo >= 0
    keep = np.where(active, 1.0, a)  # stable: the linear piece
    still = (lo[unstable] < 0) & (hi[unstable] > 0)
    keep[unstable[still]] = a
    D = sp.diags(keep)
    out_A = sp.lil_matrix(D @ A)
    out_c = keep * c
    for t, j in enumerate(unstable):
        if not still[t]:
            continue
        y, z = base + 2 * t, base + 2 * t + 1
        prog.ub[y] = hi[j]
        row = A.getrow(j)
        l, u = float(lo[j]), float(hi[j])
        # y >= x:  x - y <= 0
        prog.constraint(row, {y: -1.0}, -np.inf, -c[j])
        # y <= x - l (1 - z):  y - x - l z <= c - l
        prog.constraint(-row, {y: 1.0, z: -l}, -np.inf, c[j] - l)
        # y <= u z
        prog.constraint(row * 0, {y: 1.0, z: -u}, -np.inf, 0.0)
        out_A[j, y] = out_A[j, y] + (1.0 - a)
    return sp.csr_matrix(out_A), out_c


def _maxpool_expr(n, expr, pre, plan, prog, sp):
    A, c = expr
    lo, hi = pre
    rows, out_c = [], np.zeros(len(plan))
    for j, (cand, y, top_u) in enumerate(plan):
        if y is None:
            rows.append(A.getrow(cand))
            out_c[j] = c[cand]
            continue
        for t, i in enumerate(cand):
            z = y + 1 + t
            row = A.getrow(i)
            # y >= x_i:  x_i - y <= -c_i
            prog.constraint(row, {y: -1.0}, -np.inf, -c[i])
            # y <= x_i + (U - l_i)(1 - z_i):  y - x_i + (U - l_i) z_i <= c_i + U - l_i
            prog.constraint(-row, {y: 1.0, z: top_u - lo[i]}, -np.inf, c[i] + top_u - lo[i])
        prog.constraint(A.getrow(0) * 0, {y + 1 + t: 1.0 for t in range(len(cand))}, 1.0, 1.0)
        e = sp.csr_matrix(([1.0], ([0], [y])), shape=(1, A.shape[1]))
        rows.append(e)
    return sp.csr_matrix(sp.vstack(rows)), out_c
