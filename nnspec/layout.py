"""A layered (Sugiyama-style) layout for directed acyclic graphs, in pure Python.

    pos, routes = layout(sizes, edges, groups)

``sizes``: (width, height) per node; ``edges``: (u, v) index pairs; the indices
are taken as a topological order (the spec's layer order is one) and an edge
against it (a shared layer applied downstream of itself) is laid out reversed;
``groups``: a cluster
id per node (or None), kept side by side in each layer so a cluster's box
encloses its own nodes. Returns each node's centre and each edge's route (the
points a drawn edge passes, top to bottom).

Steps: longest-path layering; long edges split by dummy nodes (a bounded
number: past ``MAX_DUMMIES`` the longest edges are drawn direct); crossing
reduction by barycentre sweeps, keeping the order with fewest crossings;
x coordinates by alternating sweeps that pull each node towards its
neighbours' mean, with overlaps resolved exactly by isotonic regression (pool
adjacent violators), so chains come out straight. No dependency, no binary.
"""
from __future__ import annotations

from bisect import bisect_left

H_GAP, V_GAP, DUMMY_W = 24, 44, 12
MAX_DUMMIES = 20000
SWEEPS = 6


def layout(sizes, edges, groups=None):
    n = len(sizes)
    groups = groups or [None] * n
    wanted = [(u, v) for u, v in edges if u != v]
    edges = sorted({(min(u, v), max(u, v)) for u, v in wanted})
    preds = [[] for _ in range(n)]
    for u, v in edges:
        preds[v].append(u)
    layer = [0] * n
    for v in range(n):  # indices are topological: u < v for every edge
        if preds[v]:
            layer[v] = max(layer[u] for u in preds[v]) + 1
    # pull sources (inputs) down next to their first consumer
    succ = [[] for _ in range(n)]
    for u, v in edges:
        succ[u].append(v)
    for v in range(n):
        if not preds[v] and succ[v]:
            layer[v] = min(layer[w] for w in succ[v]) - 1
    # chains with dummies, the shortest long edges first while the budget lasts
    budget = MAX_DUMMIES
    size = list(sizes)
    grp = list(groups)
    lay = list(layer)
    chains = {}
    for u, v in sorted(edges, key=lambda e: layer[e[1]] - layer[e[0]]):
        span = layer[v] - layer[u]
        chain = [u]
        if 1 < span <= budget + 1:
            budget -= span - 1
            g = groups[u] if groups[u] == groups[v] else None
            for k in range(layer[u] + 1, layer[v]):
                chain.append(len(size))
                size.append((DUMMY_W, 0))
                grp.append(g)
                lay.append(k)
        chain.append(v)
        chains[(u, v)] = chain
    total = len(size)
    up = [[] for _ in range(total)]
    down = [[] for _ in range(total)]
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            if lay[b] == lay[a] + 1:
                down[a].append(b)
                up[b].append(a)
    n_layers = max(lay) + 1 if lay else 0
    rows = [[] for _ in range(n_layers)]
    for v in range(total):
        rows[lay[v]].append(v)
    rows = _order(rows, up, down, grp)
    xs = _x_coords(rows, up, down, size)
    # y: each layer as tall as its tallest node
    ys, tops, y = [0.0] * total, [], 0.0
    for row in rows:
        h = max((size[v][1] for v in row), default=0)
        tops.append((y, y + h))
        for v in row:
            ys[v] = y + h / 2
        y += h + V_GAP
    pos = [(xs[v], ys[v]) for v in range(n)]
    routes = {}
    for (u, v), chain in chains.items():
        pts = [(xs[u], ys[u] + size[u][1] / 2)]
        for d in chain[1:-1]:
            top, bottom = tops[lay[d]]
            pts += [(xs[d], top), (xs[d], bottom)]
        pts.append((xs[v], ys[v] - size[v][1] / 2))
        routes[(u, v)] = pts
    return pos, {(u, v): routes[(u, v)] if u < v else routes[(v, u)][::-1] for u, v in wanted}


def _order(rows, up, down, grp):
    """Barycentre sweeps (down, then up), clusters kept contiguous; the order with fewest crossings wins."""
    rows = [list(r) for r in rows]
    best, best_cross = [list(r) for r in rows], _crossings(rows, down)
    for it in range(SWEEPS):
        rng = range(1, len(rows)) if it % 2 == 0 else range(len(rows) - 2, -1, -1)
        for i in rng:
            ref = rows[i - 1] if it % 2 == 0 else rows[i + 1]
            nbrs = up if it % 2 == 0 else down
            where = {v: k for k, v in enumerate(ref)}
            cur = {v: k for k, v in enumerate(rows[i])}
            bary = {}
            for v in rows[i]:
                ks = [where[w] for w in nbrs[v] if w in where]
                bary[v] = sum(ks) / len(ks) if ks else cur[v]
            gsum: dict = {}
            for v in rows[i]:
                if grp[v] is not None:
                    s = gsum.setdefault(grp[v], [0.0, 0])
                    s[0] += bary[v]
                    s[1] += 1
            rows[i].sort(key=lambda v: ((gsum[grp[v]][0] / gsum[grp[v]][1]) if grp[v] is not None else bary[v],
                                        bary[v], cur[v]))
        c = _crossings(rows, down)
        if c < best_cross:
            best, best_cross = [list(r) for r in rows], c
    return best


def _crossings(rows, down) -> int:
    total = 0
    for i in range(len(rows) - 1):
        where = {v: k for k, v in enumerate(rows[i + 1])}
        ends = [where[w] for v in rows[i] for w in sorted(down[v], key=where.get) if w in where]
        # inversions, by insertion into a sorted list (rows are small)
        seen: list = []
        for e in reversed(ends):
            k = bisect_left(seen, e)
            total += k
            seen.insert(k, e)
    return total


def _x_coords(rows, up, down, size):
    xs = {}
    for row in rows:  # packed left to right
        x = 0.0
        for v in row:
            xs[v] = x + size[v][0] / 2
            x += size[v][0] + H_GAP
    order = list(range(len(rows)))
    for it in range(2 * SWEEPS + 1):  # ends on a downward sweep
        seq = order if it % 2 == 0 else order[::-1]
        for i in seq:
            row = rows[i]
            target = []
            for v in row:  # the neighbours in the layer just placed; the other side's if none there
                nb = (up[v] or down[v]) if it % 2 == 0 else (down[v] or up[v])
                target.append(sum(xs[w] for w in nb) / len(nb) if nb else xs[v])
            for v, x in zip(row, _place(row, target, size)):
                xs[v] = x
    lo = min((xs[v] - size[v][0] / 2 for v in xs), default=0.0)
    return {v: x - lo for v, x in xs.items()}


def _place(row, target, size):
    """Positions closest (least squares) to ``target`` keeping each node right of the previous one
    by half their widths plus H_GAP: isotonic regression on target - offset (pool adjacent violators)."""
    offs, off = [], 0.0
    for k, v in enumerate(row):
        if k:
            off += (size[row[k - 1]][0] + size[v][0]) / 2 + H_GAP
        offs.append(off)
    blocks: list = []  # [mean, count]
    for t, o in zip(target, offs):
        blocks.append([t - o, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks[-1]
            blocks[-1] = [(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]
    out = []
    for m, c in blocks:
        out += [m] * c
    return [y + o for y, o in zip(out, offs)]
