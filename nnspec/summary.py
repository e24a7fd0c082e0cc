"""`nnspec summary`: the layer table, from static shapes alone."""
from __future__ import annotations

from .ir import Spec, layer_of
from .ops.base import fmt_shape
from .report import escape


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def rows(spec: Spec, expand: bool = True) -> list[tuple[str, str, str, int, str]]:
    if not expand and spec.owner:
        return _collapsed(spec)
    out = []
    for name, inp in spec.inputs.items():
        out.append((name, "InputLayer", _shape_text(inp.shape), 0, ""))
    out.extend(rows_for(spec.nodes, spec))
    return out


def block_members(spec: Spec) -> dict:
    """Top-level block call -> its layers (nodes), in order; one pass over the nodes."""
    out: dict = {}
    for n in spec.nodes:
        call = spec.owner.get(n.name)
        if call is not None:
            out.setdefault(call, []).append(n)
    return out


def _collapsed(spec: Spec) -> list:
    """One row per top-level block call (its output's shape, its layers' params)."""
    owner = spec.owner
    out = [(name, "InputLayer", _shape_text(inp.shape), 0, "") for name, inp in spec.inputs.items()]
    done = set()
    groups = block_members(spec)
    for n in spec.nodes:
        call = owner.get(n.name)
        if call is None:
            out.extend(rows_for([n], spec))
            continue
        if call in done:
            continue
        done.add(call)
        members = groups[call]
        params = sum(sum(spec.params.get(m.name, (0, 0))) for m in members)
        sources = [r for m in members for r in m.refs() if owner.get(layer_of(r)) != call]
        output = call
        while output in spec.aliases:
            output = spec.aliases[output]
        shape = spec.shapes.get(output) or spec.shapes.get(members[-1].name)
        out.append((call, f"{spec.calls[call]} (block, {len(members)} layers)",
                    "?" if shape is None else _shape_text(shape), params, ", ".join(dict.fromkeys(sources))))
    return out


def rows_for(nodes, spec):
    for n in nodes:
        kind = n.op + (f" (reuses {n.layer})" if n.reuse else "")
        shape = spec.shapes.get(n.name)
        params = "?" if n.op == "Custom" else sum(spec.params.get(n.name, (0, 0)))
        text = "?" if shape is None else _shape_text(shape)
        for o in n.outputs[1:]:  # a layer with several outputs: `.state_h (None, 256)` each
            more = spec.shapes.get(f"{n.name}.{o}")
            text += f"; .{o} " + ("?" if more is None else _shape_text(more))
        sources = list(n.inputs) + [f"{p}=[{', '.join(ts)}]" for p, ts in n.ports.items()]
        yield (n.name, kind, text, params, ", ".join(sources))


def costs(spec: Spec, table, batch: int = 1) -> list:
    """(MACs per example, activation bytes for the batch) for each row of ``table`` (rows()):
    a collapsed block call sums its layers; None where a size is unknown."""
    from .cost import layer_macs, tensor_bytes
    macs = layer_macs(spec)
    groups = block_members(spec)
    out = []

    def add(values):
        return None if None in values else sum(values)

    for row in table:
        name = row[0]
        if name in spec.inputs:
            out.append((0, tensor_bytes(spec, name, batch)))
        elif name in groups and row[1].startswith(f"{spec.calls[name]} (block"):
            # a collapsed block call (its output layer may have the call's name: not that layer alone)
            names = [n.name for n in groups[name]]
            out.append((add([macs[m] for m in names]), add([tensor_bytes(spec, m, batch) for m in names])))
        else:
            out.append((macs[name], tensor_bytes(spec, name, batch)))
    return out


def totals(spec: Spec) -> tuple[int, int]:
    trainable = sum(p[0] for p in spec.params.values())
    frozen = sum(p[1] for p in spec.params.values())
    return trainable, frozen


def render(spec: Spec, expand: bool = False, batch: int = 1) -> str:
    from .cost import activation_bytes, fmt_bytes, fmt_count, total_macs
    table = rows(spec, expand)
    cost = costs(spec, table, batch)
    head = ("Layer", "Type", "Output shape", "Params", "MACs", f"Memory (batch {batch})", "Connected to")
    # names, types and descriptions come from the spec: no control characters reach the terminal
    cells = [head] + [(escape(a), escape(b), escape(c), d if isinstance(d, str) else f"{d:,}", fmt_count(m),
                       fmt_bytes(mem), escape(e)) for (a, b, c, d, e), (m, mem) in zip(table, cost)]
    widths = [max(len(r[i]) for r in cells) for i in range(7)]
    line = "  ".join("{:<%d}" % w if i not in (3, 4, 5) else "{:>%d}" % w for i, w in enumerate(widths))
    rule = "-" * (sum(widths) + 2 * 6)
    out = [f'Model "{escape(spec.name)}"' + (f": {escape(spec.description)}" if spec.description else "")]
    out.append(line.format(*head).rstrip())
    out.append(rule)
    for r in cells[1:]:
        out.append(line.format(*r).rstrip())
    trainable, frozen = totals(spec)
    out.append(rule)
    custom = " (+ custom layers, not counted)" if any(n.op == "Custom" for n in spec.nodes) else ""
    out.append(f"Total params: {trainable + frozen:,}{custom}")
    out.append(f"Trainable params: {trainable:,}")
    out.append(f"Non-trainable params: {frozen:,}")
    macs, mem = total_macs(spec), activation_bytes(spec, batch)
    out.append("Total MACs (per example): " + ("? (unknown sizes)" if macs is None else
                                                 f"{macs:,} ({fmt_count(macs)})"))
    out.append(f"Activation memory (batch {batch}): " + ("? (unknown sizes)" if mem is None else
                                                         f"{mem:,} bytes ({fmt_bytes(mem)})"))
    if spec.outputs:
        outs = []
        for o in spec.outputs.values():
            loss = o.loss if isinstance(o.loss, str) or o.loss is None else next(iter(o.loss))
            outs.append(f"{o.name} {fmt_shape(spec.shapes.get(o.name))}" +
                        (f" loss={loss} weight={o.weight:g}" if loss else " (no loss)"))
        out.append("Outputs: " + escape("; ".join(outs)))
    if spec.penalties:
        out.append("Penalties: " + escape("; ".join(
            p.text if p.kind == "expr" else f"{p.kind}({p.coef}) {p.reduce} on {', '.join(p.on)}"
            for p in spec.penalties)))
    return "\n".join(out)
