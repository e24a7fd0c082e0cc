"""`nnspec diff OLD NEW`: what changed between two versions of a spec, as a reviewer reads it.

Layers are matched by name after block expansion. Reported: layers added, removed and
changed (type, each argument old -> new with defaults filled in, so writing a default
out is no change, inputs, trainable), shapes and parameter counts that changed
(``ripple``: a layer whose own definition did not change but whose shape or count did,
because of something upstream), inputs, outputs (loss, weight, metrics), penalties, the
training section (optimizer and the rest, key by key), the settings beside the graph (seed,
weights file, requires_import, budget limits, as written; an input's range is with its input),
and the totals with their delta.

``compare(old, new) -> dict`` is the JSON form; ``text``/``markdown`` render it.
"""
from __future__ import annotations

import json
import re

from .graph import loss_text, penalty_text
from .ir import Spec
from .ops.base import fmt_shape
from .report import escape


def _value(v) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(", ", ": "), sort_keys=True)


def _flat(d, prefix="") -> dict:
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _changes(old: dict, new: dict) -> list:
    return [{"key": k, "old": old.get(k), "new": new.get(k)} for k in sorted(set(old) | set(new), key=str)
            if old.get(k) != new.get(k) or (k in old) != (k in new)]


def totals(spec: Spec | None) -> dict:
    if spec is None:
        return {"params": 0, "macs": 0}
    from .cost import total_macs
    return {"params": sum(sum(p) for p in spec.params.values()), "macs": total_macs(spec)}


def _layer(spec, n) -> dict:
    return {"name": n.name, "type": n.op, "shape": fmt_shape(spec.shapes.get(n.name)),
            "params": sum(spec.params.get(n.name, (0, 0)))}


def _outputs(spec) -> dict:
    return {name: {"loss": loss_text(o.loss), "weight": o.weight,
                   "metrics": [m if isinstance(m, str) else next(iter(m)) for m in o.metrics]}
            for name, o in (spec.outputs.items() if spec else ())}


def _settings(spec) -> dict:
    """What a spec sets beside its graph that a reviewer must see change: the seed (initial weights),
    the weights file, the modules it declares it imports, its budget limits (as written)."""
    if spec is None:
        return {}
    out = {"seed": spec.seed, "weights": spec.weights,
           "requires_import": list(spec.requires_import) if spec.requires_import else None}
    for key, limit in (spec.budget or {}).items():
        out[f"budget.{key}"] = getattr(limit, "text", limit)
    return {k: v for k, v in out.items() if v is not None}


def _inputs(spec) -> dict:
    out = {}
    for name, i in (spec.inputs.items() if spec else ()):
        out[name] = {"shape": fmt_shape(i.shape), "dtype": i.dtype}
        if i.range is not None:
            out[name]["range"] = list(i.range)
    return out


def compare(old: Spec | None, new: Spec | None) -> dict:
    """None stands for no spec (a file added or deleted)."""
    on = {n.name: n for n in (old.nodes if old else ())}
    nn = {n.name: n for n in (new.nodes if new else ())}
    added = [_layer(new, nn[k]) for k in nn if k not in on]
    removed = [_layer(old, on[k]) for k in on if k not in nn]
    changed = []
    for name, b in nn.items():
        a = on.get(name)
        if a is None:
            continue
        entry = {"name": name}
        if a.op != b.op:
            entry["type"] = {"old": a.op, "new": b.op}
        args = _changes(a.args, b.args) if a.op == b.op else []
        if args:
            entry["args"] = args
        if a.refs() != b.refs():  # the ports' tensors too (initial_state)
            entry["inputs"] = {"old": a.refs(), "new": b.refs()}
        if a.trainable != b.trainable:
            entry["trainable"] = {"old": a.trainable, "new": b.trainable}
        if (a.reuse, a.layer) != (b.reuse, b.layer):
            entry["reuses"] = {"old": a.layer if a.reuse else None, "new": b.layer if b.reuse else None}
        defined = len(entry) > 1
        sa, sb = fmt_shape(old.shapes.get(name)), fmt_shape(new.shapes.get(name))
        if sa != sb:
            entry["shape"] = {"old": sa, "new": sb}
        pa, pb = sum(old.params.get(name, (0, 0))), sum(new.params.get(name, (0, 0)))
        if pa != pb:
            entry["params"] = {"old": pa, "new": pb}
        if len(entry) > 1:
            entry["ripple"] = not defined  # changed only through something upstream
            changed.append(entry)
    pens = lambda s: [penalty_text(p) + ("" if p.kind == "expr" else " on " + ", ".join(p.on))
                      for p in (s.penalties if s else ())]
    po, pn = pens(old), pens(new)
    result = {
        "old": old.file if old else None, "new": new.file if new else None,
        "name": None if (old and new and old.name == new.name) else
        {"old": old.name if old else None, "new": new.name if new else None},
        "layers": {"added": added, "removed": removed, "changed": changed},
        "inputs": _changes(_inputs(old), _inputs(new)),
        "outputs": _changes(_flat(_outputs(old)), _flat(_outputs(new))),
        "penalties": {"added": [p for p in pn if p not in po], "removed": [p for p in po if p not in pn]},
        "training": _changes(_flat(old.training if old else {}), _flat(new.training if new else {})),
        "settings": _changes(_settings(old), _settings(new)),
        "totals": {"old": totals(old), "new": totals(new)},
    }
    if result["name"] is None:
        del result["name"]
    result["equivalent"] = not (added or removed or changed or result["inputs"] or result["outputs"] or
                                po != pn or result["training"] or result["settings"] or "name" in result)
    return result


# ---------------------------------------------------------------- rendering
def _num(n) -> str:
    return f"{n:,}"


def _delta(old: int, new: int) -> str:
    d = new - old
    pct = f", {d / old:+.1%}" if old else ""
    return f"{'+' if d >= 0 else '-'}{abs(d):,}{pct}"


def _fmt_change(c: dict) -> str:
    if c["old"] is None and c["new"] is not None:
        return f"{c['key']} {_value(c['new'])} (new)"
    if c["new"] is None and c["old"] is not None:
        return f"{c['key']} {_value(c['old'])} (removed)"
    return f"{c['key']} {_value(c['old'])} -> {_value(c['new'])}"


def _describe(entry: dict) -> list:
    parts = []
    if "type" in entry:
        parts.append(f"type {entry['type']['old']} -> {entry['type']['new']}")
    parts += [_fmt_change(c) for c in entry.get("args", ())]
    if "inputs" in entry:
        parts.append(f"from {', '.join(entry['inputs']['old'])} -> {', '.join(entry['inputs']['new'])}")
    for key in ("trainable", "reuses"):
        if key in entry:
            parts.append(f"{key} {entry[key]['old']} -> {entry[key]['new']}")
    if "shape" in entry:
        parts.append(f"shape {entry['shape']['old']} -> {entry['shape']['new']}")
    if "params" in entry:
        parts.append(f"params {_num(entry['params']['old'])} -> {_num(entry['params']['new'])}")
    return parts


def _total_lines(r) -> list:
    out = []
    for key, label in (("params", "params"), ("macs", "MACs")):
        a, b = r["totals"]["old"].get(key), r["totals"]["new"].get(key)
        if a is not None and b is not None:
            out.append((label, _num(a), _num(b), _delta(a, b) if a != b else "0"))
    return out


def text(r: dict) -> str:
    e = escape
    if r["equivalent"]:
        return f"{e(r['old'])} and {e(r['new'])}: equivalent"
    lay = r["layers"]
    out = [f"--- {e(r['old'] or '/dev/null')}", f"+++ {e(r['new'] or '/dev/null')}"]
    if "name" in r:
        out.append(f"name: {e(r['name']['old'])} -> {e(r['name']['new'])}")
    out.append(f"layers: {len(lay['added'])} added, {len(lay['removed'])} removed, "
               f"{sum(not c['ripple'] for c in lay['changed'])} changed, "
               f"{sum(c['ripple'] for c in lay['changed'])} changed through upstream layers")
    for a in lay["added"]:
        out.append(f"+ {e(a['name'])}: {a['type']} {a['shape']}, {_num(a['params'])} params")
    for a in lay["removed"]:
        out.append(f"- {e(a['name'])}: {a['type']} {a['shape']}, {_num(a['params'])} params")
    for c in lay["changed"]:
        out.append(f"{'~' if c['ripple'] else '!'} {e(c['name'])}: {e('; '.join(_describe(c)))}")
    for section in ("inputs", "outputs", "training", "settings"):
        for c in r[section]:
            out.append(f"{section}: {e(_fmt_change(c))}")
    for p in r["penalties"]["added"]:
        out.append(f"penalties: + {e(p)}")
    for p in r["penalties"]["removed"]:
        out.append(f"penalties: - {e(p)}")
    for label, a, b, d in _total_lines(r):
        out.append(f"total {label}: {a} -> {b} ({d})")
    return "\n".join(out)


def _md(s) -> str:
    """Text as a Markdown code span, safe in a table cell: no raw HTML, no pipe, no line break."""
    s = escape(s).replace("|", "\\|")
    fence = "`" * (max((len(t) for t in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def markdown(r: dict) -> str:
    title = f"### nnspec diff: {_md(r['old'] or '/dev/null')} → {_md(r['new'] or '/dev/null')}"
    if r["equivalent"]:
        return title + "\n\nNo architectural change: the two specs are equivalent.\n"
    lay = r["layers"]
    out = [title, ""]
    rows = _total_lines(r)
    if rows:
        out += ["| | before | after | change |", "|---|---:|---:|---:|"]
        out += [f"| {label} | {a} | {b} | {d} |" for label, a, b, d in rows]
        out.append("")
    out.append(f"**Layers**: {len(lay['added'])} added, {len(lay['removed'])} removed, "
               f"{sum(not c['ripple'] for c in lay['changed'])} changed, "
               f"{sum(c['ripple'] for c in lay['changed'])} changed through upstream layers")
    if lay["added"] or lay["removed"] or lay["changed"]:
        out += ["", "| | layer | change |", "|---|---|---|"]
        for a in lay["added"]:
            out.append(f"| added | {_md(a['name'])} | {_md(a['type'])} {_md(a['shape'])}, {_num(a['params'])} "
                       "params |")
        for a in lay["removed"]:
            out.append(f"| removed | {_md(a['name'])} | {_md(a['type'])} {_md(a['shape'])}, "
                       f"{_num(a['params'])} params |")
        for c in lay["changed"]:
            out.append(f"| {'ripple' if c['ripple'] else 'changed'} | {_md(c['name'])} | "
                       f"{'<br>'.join(_md(p) for p in _describe(c))} |")
    for section in ("inputs", "outputs", "training", "settings"):
        if r[section]:
            out += ["", f"**{section.capitalize()}**", ""] + [f"- {_md(_fmt_change(c))}" for c in r[section]]
    pen = r["penalties"]
    if pen["added"] or pen["removed"]:
        out += ["", "**Penalties**", ""] + [f"- added {_md(p)}" for p in pen["added"]] + \
            [f"- removed {_md(p)}" for p in pen["removed"]]
    return "\n".join(out) + "\n"


def as_json(r: dict) -> str:
    return json.dumps(r, indent=2, default=str)


FORMATS = {"text": text, "markdown": markdown, "json": as_json}
