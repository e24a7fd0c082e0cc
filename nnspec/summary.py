"""`nnspec summary`: the layer table, from static shapes alone."""
from __future__ import annotations

from .ir import Spec
from .ops.base import fmt_shape


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def rows(spec: Spec) -> list[tuple[str, str, str, int, str]]:
    out = []
    for name, inp in spec.inputs.items():
        out.append((name, "InputLayer", _shape_text(inp.shape), 0, ""))
    for n in spec.nodes:
        kind = n.op + (f" (reuses {n.layer})" if n.reuse else "")
        shape = spec.shapes.get(n.name)
        params = "?" if n.op == "Custom" else sum(spec.params.get(n.name, (0, 0)))
        out.append((n.name, kind, "?" if shape is None else _shape_text(shape), params, ", ".join(n.inputs)))
    return out


def totals(spec: Spec) -> tuple[int, int]:
    trainable = sum(p[0] for p in spec.params.values())
    frozen = sum(p[1] for p in spec.params.values())
    return trainable, frozen


def render(spec: Spec) -> str:
    table = rows(spec)
    head = ("Layer", "Type", "Output shape", "Params", "Connected to")
    cells = [head] + [(a, b, c, d if isinstance(d, str) else f"{d:,}", e) for a, b, c, d, e in table]
    widths = [max(len(r[i]) for r in cells) for i in range(5)]
    line = "  ".join("{:<%d}" % w if i != 3 else "{:>%d}" % w for i, w in enumerate(widths))
    out = [f'Model "{spec.name}"' + (f": {spec.description}" if spec.description else "")]
    out.append(line.format(*head).rstrip())
    out.append("-" * (sum(widths) + 8))
    for r in cells[1:]:
        out.append(line.format(*r).rstrip())
    trainable, frozen = totals(spec)
    out.append("-" * (sum(widths) + 8))
    custom = " (+ custom layers, not counted)" if any(n.op == "Custom" for n in spec.nodes) else ""
    out.append(f"Total params: {trainable + frozen:,}{custom}")
    out.append(f"Trainable params: {trainable:,}")
    out.append(f"Non-trainable params: {frozen:,}")
    if spec.outputs:
        outs = []
        for o in spec.outputs.values():
            loss = o.loss if isinstance(o.loss, str) or o.loss is None else next(iter(o.loss))
            outs.append(f"{o.name} {fmt_shape(spec.shapes.get(o.name))}" +
                        (f" loss={loss} weight={o.weight:g}" if loss else " (no loss)"))
        out.append("Outputs: " + "; ".join(outs))
    if spec.penalties:
        out.append("Penalties: " + "; ".join(
            p.text if p.kind == "expr" else f"{p.kind}({p.coef}) {p.reduce} on {', '.join(p.on)}"
            for p in spec.penalties))
    return "\n".join(out)
