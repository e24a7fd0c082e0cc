"""Shrink a failing graph while its disagreement's cause stays the same.

Greedy (each candidate re-run through the oracle): keep one output at a time,
drop layers no output needs, drop penalties and the seed, drop optional
arguments one by one (in layers, then inside blocks) and cut `repeat` to one
copy. ``budget`` bounds the oracle runs.
"""
from __future__ import annotations

import copy

from .graphs import CATALOG
from .oracle import run_graph


def _still(graph, cause) -> bool:
    import keras
    try:
        result = run_graph(graph, train="train_on_batch" in cause, cli_checks=cause.startswith(("internal: cli",
                                                                                               "frontend", "cli")),
                           check_cmd="cli check" in cause)
    except Exception:
        return False
    finally:
        keras.backend.clear_session()
    return any(c == cause for c, _ in result.disagreements)


def _needed(graph) -> set:
    """Names the outputs (and penalties) depend on, inputs included."""
    by_name = {e["name"]: e for e in graph["layers"]}
    want = list(graph["outputs"]) + [p["on"] for p in graph.get("penalties", []) if "on" in p]
    seen = set()
    while want:
        n = want.pop()
        if n in seen:
            continue
        seen.add(n)
        e = by_name.get(n)
        if e is None:
            continue
        src = e.get("from", [])
        want += list(src.values()) if isinstance(src, dict) else list(src)
        if "reuse" in e:
            want.append(e["reuse"])
    return seen


def _prune(graph):
    need = _needed(graph)
    g = copy.deepcopy(graph)
    g["layers"] = [e for e in g["layers"] if e["name"] in need]
    g["inputs"] = {n: v for n, v in g["inputs"].items() if n in need}
    g["penalties"] = [p for p in g.get("penalties", []) if "on" in p and p["on"] in need]
    return g


def minimise(graph: dict, cause: str, budget: int = 60) -> dict:
    best = copy.deepcopy(graph)
    tries = 0

    def attempt(candidate) -> bool:
        nonlocal best, tries
        if tries >= budget or not candidate["inputs"] or not candidate["layers"]:
            return False
        tries += 1
        if _still(candidate, cause):
            best = candidate
            return True
        return False

    # one output at a time
    if len(best["outputs"]) > 1:
        for name in list(best["outputs"]):
            g = copy.deepcopy(best)
            g["outputs"] = {name: best["outputs"][name]}
            if attempt(_prune(g)):
                break
    attempt(_prune(best)) if _prune(best) != best else None
    # no penalties, no seed
    if best.get("penalties") or "seed" in best:
        g = copy.deepcopy(best)
        g["penalties"] = []
        g.pop("seed", None)
        attempt(g)
    # optional arguments, one by one; repeat down to one copy
    for idx in range(len(best["layers"])):
        e = best["layers"][idx]
        if "repeat" in e and e["repeat"] > 1:
            g = copy.deepcopy(best)
            g["layers"][idx]["repeat"] = 1
            attempt(g)
        for key in ("trainable", "activity_regularizer"):
            if key in best["layers"][idx]:
                g = copy.deepcopy(best)
                del g["layers"][idx][key]
                attempt(g)
        if "op" not in best["layers"][idx]:
            continue
        op = CATALOG[best["layers"][idx]["op"]]
        for arg in list(best["layers"][idx]["args"]):
            if arg in op.arg_index and op.arg_index[arg].required:
                continue
            g = copy.deepcopy(best)
            del g["layers"][idx]["args"][arg]
            attempt(g)
    # the same inside blocks (the block's parameter stays)
    for bname in list(best.get("blocks", {})):
        block = best["blocks"][bname]
        for j in range(len(block["layers"])):
            op = CATALOG[best["blocks"][bname]["layers"][j]["op"]]
            for arg in list(best["blocks"][bname]["layers"][j]["args"]):
                if (op.arg_index[arg].required if arg in op.arg_index else False) or \
                        (block["param"] and tuple(block["param"]) == (j, arg)):
                    continue
                g = copy.deepcopy(best)
                del g["blocks"][bname]["layers"][j]["args"][arg]
                attempt(g)
    return best
