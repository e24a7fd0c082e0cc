"""`nnspec graph`: a picture of the network, from the validated IR alone (no TensorFlow, no Graphviz).

    nnspec graph specs/lab_quake.yaml -o lab_quake.svg    # or .mmd (Mermaid), .dot (Graphviz)

Each node shows its name, type, output shape and parameter count; block calls are
one node each (``expand=True``: their layers, inside a labelled cluster); inputs,
outputs (loss, weight) and penalties are nodes of their own; a shared layer is
one node with several uses. The SVG is laid out by nnspec.layout.

Everything drawn comes from an untrusted spec: text is escaped for each format
(XML, DOT strings, Mermaid entity codes) after terminal control characters are
made visible (report.escape).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml

from .ir import Spec, layer_of
from .ops.base import fmt_shape
from .report import escape

FORMATS = (".svg", ".mmd", ".dot")


@dataclass
class GNode:
    id: str
    kind: str  # input | layer | shared | block | output | penalty
    title: str
    lines: list
    cluster: str | None = None


@dataclass
class Graph:
    name: str
    description: str
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # (from id, to id, dashed)
    clusters: dict = field(default_factory=dict)  # id -> label


def _params(n: int) -> str:
    return f"{n:,} params" if n != 1 else "1 param"


def loss_text(loss) -> str | None:
    if loss is None or isinstance(loss, str):
        return loss
    key, value = next(iter(loss.items()))
    return str(value) if key == "expr" else key


def penalty_text(p) -> str:
    if p.kind == "expr":
        return p.text or "expression"
    coef = p.coef if not isinstance(p.coef, dict) else ", ".join(f"{k}={v:g}" for k, v in p.coef.items())
    return f"{p.kind}({coef}) {p.reduce}"


def build(spec: Spec, expand: bool = False) -> Graph:
    g = Graph(spec.name, spec.description)
    node_of: dict = {}  # tensor name -> node id
    ids: dict = {}

    def new(kind, title, lines, cluster=None, key=None):
        nid = f"n{len(g.nodes)}"
        g.nodes.append(GNode(nid, kind, title, lines, cluster))
        ids[key if key is not None else title] = nid
        return nid

    for name, inp in spec.inputs.items():
        node_of[name] = new("input", name, ["Input", f"{fmt_shape(inp.shape)} {inp.dtype}"], key=("in", name))
    uses: dict = {}
    for n in spec.nodes:
        if n.reuse:
            uses.setdefault(n.layer, []).append(n.name)
    blocks_done: dict = {}
    for n in spec.nodes:
        call = spec.owner.get(n.name)
        if call is not None and not expand:
            if call not in blocks_done:
                members = [m for m in spec.nodes if spec.owner.get(m.name) == call]
                params = sum(sum(spec.params.get(m.name, (0, 0))) for m in members)
                out = call
                while out in spec.aliases:
                    out = spec.aliases[out]
                shape = spec.shapes.get(out) or spec.shapes.get(members[-1].name)
                blocks_done[call] = new("block", call, [f"{spec.calls.get(call, '?')} (block, {len(members)} layers)",
                                                        fmt_shape(shape), _params(params)], key=("call", call))
            node_of[n.name] = blocks_done[call]
            continue
        if call is not None and call not in g.clusters:
            g.clusters[call] = f"{call}: {spec.calls.get(call, '?')}"
        if n.reuse and n.layer in node_of:
            node_of[n.name] = node_of[n.layer]
            continue
        params = "? params (custom)" if n.op == "Custom" else _params(sum(spec.params.get(n.name, (0, 0))))
        kind, typ = "layer", n.op
        if n.name in uses:
            kind, typ = "shared", f"{n.op}, shared: {1 + len(uses[n.name])} uses"
        if not n.trainable:
            typ += ", frozen"
        lines = [typ, fmt_shape(spec.shapes.get(n.name)), params]
        if n.name in uses:
            lines.append("as " + ", ".join([n.name] + uses[n.name]))
        node_of[n.name] = new(kind, n.name, lines, cluster=call, key=("node", n.name))
    for name in spec.calls:  # a call's name may stand for its output layer
        out = name
        while out in spec.aliases:
            out = spec.aliases[out]
        if name not in node_of and out in node_of:
            node_of[name] = node_of[out]
    seen = set()

    def edge(a, b, dashed=False):
        if a is not None and b is not None and a != b and (a, b) not in seen:
            seen.add((a, b))
            g.edges.append((a, b, dashed))

    for n in spec.nodes:
        for t in n.refs():  # `enc.state_h` (and initial_state: ...) come from the layer enc
            edge(node_of.get(layer_of(t)), node_of.get(n.name))
    for o in spec.outputs.values():
        loss = loss_text(o.loss)
        lines = [f"loss {loss}, weight {o.weight:g}" if loss else "no loss"]
        if o.metrics:
            lines.append("metrics " + ", ".join(m if isinstance(m, str) else next(iter(m)) for m in o.metrics))
        nid = new("output", f"output {o.name}", lines, key=("out", o.name))
        edge(node_of.get(layer_of(o.name)), nid)
    for i, p in enumerate(spec.penalties):
        text = penalty_text(p)
        if len(text) > 60:
            text = text[:57] + "..."
        lines = [text] if p.kind == "expr" else [text, "on " + ", ".join(p.on)]
        nid = new("penalty", "penalty", lines, key=("pen", i))
        for t in p.on:
            edge(node_of.get(layer_of(t)), nid, True)
    return g


# ---------------------------------------------------------------- SVG
FONT = 12
CHAR_W = FONT * 0.6  # monospace: every character is this wide
LINE_H = 16
PAD = 8
COLOURS = {"input": ("#e3f4e1", "#3c8a3a"), "layer": ("#ffffff", "#5a6b7b"), "shared": ("#efe6fb", "#7048b0"),
           "block": ("#eef1f5", "#44546a"), "output": ("#e2eefb", "#2f6db3"), "penalty": ("#fdf0dc", "#b57012")}


def _x(s) -> str:
    return _xml(escape(s), {'"': "&quot;"})


def _size(node: GNode):
    width = max(len(escape(t)) for t in [node.title] + node.lines) * CHAR_W + 2 * PAD
    return (max(width, 90.0), (1 + len(node.lines)) * LINE_H + 2 * PAD - 4)


def svg(g: Graph) -> str:
    from .layout import layout
    index = {n.id: i for i, n in enumerate(g.nodes)}
    sizes = [_size(n) for n in g.nodes]
    pos, routes = layout(sizes, [(index[a], index[b]) for a, b, _ in g.edges], [n.cluster for n in g.nodes])
    margin, head = 20, 48 if g.description else 32
    boxes = {}
    for c in g.clusters:
        members = [i for i, n in enumerate(g.nodes) if n.cluster == c]
        if members:
            boxes[c] = (min(pos[i][0] - sizes[i][0] / 2 for i in members) - 10,
                        min(pos[i][1] - sizes[i][1] / 2 for i in members) - 24,
                        max(pos[i][0] + sizes[i][0] / 2 for i in members) + 10,
                        max(pos[i][1] + sizes[i][1] / 2 for i in members) + 10)
    right = max([pos[i][0] + sizes[i][0] / 2 for i in range(len(g.nodes))] + [b[2] for b in boxes.values()] + [0])
    left = min([pos[i][0] - sizes[i][0] / 2 for i in range(len(g.nodes))] + [b[0] for b in boxes.values()] + [0])
    top = min([pos[i][1] - sizes[i][1] / 2 for i in range(len(g.nodes))] + [b[1] for b in boxes.values()] + [0])
    bottom = max([pos[i][1] + sizes[i][1] / 2 for i in range(len(g.nodes))] + [0])
    dx, dy = margin - left, margin + head - top
    title = g.name + (f": {g.description}" if g.description else "")
    width = max(right - left + 2 * margin, len(escape(title)) * 8.4 + 2 * margin)
    height = bottom - top + 2 * margin + head
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
           f'font-size="{FONT}">',
           f"<title>{_x(title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5a6b7b"/></marker></defs>',
           f'<rect width="100%" height="100%" fill="#ffffff"/>',
           f'<text x="{margin}" y="{margin + 8}" font-size="14" font-weight="bold">{_x(g.name)}</text>']
    if g.description:
        out.append(f'<text x="{margin}" y="{margin + 26}" fill="#555555">{_x(g.description)}</text>')
    for c, (x0, y0, x1, y1) in boxes.items():
        out.append(f'<rect class="cluster" x="{x0 + dx:.1f}" y="{y0 + dy:.1f}" width="{x1 - x0:.1f}" '
                   f'height="{y1 - y0:.1f}" rx="8" fill="#f6f8fb" stroke="#8896a8" stroke-dasharray="5,3"/>')
    for a, b, dashed in g.edges:
        pts = [(x + dx, y + dy) for x, y in routes[(index[a], index[b])]]
        d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
        for k in range(1, len(pts)):
            (x0, y0), (x1, y1) = pts[k - 1], pts[k]
            if k % 2 == 1:  # between layers: an S-curve; through a dummy: straight down
                m = (y0 + y1) / 2
                d += f" C{x0:.1f},{m:.1f} {x1:.1f},{m:.1f} {x1:.1f},{y1:.1f}"
            else:
                d += f" L{x1:.1f},{y1:.1f}"
        style = ' stroke-dasharray="4,3"' if dashed else ""
        out.append(f'<path d="{d}" fill="none" stroke="#5a6b7b" stroke-width="1.3"{style} '
                   f'marker-end="url(#arrow)"/>')
    for c, (x0, y0, x1, y1) in boxes.items():
        out.append(f'<text class="cluster-label" x="{x0 + dx + 8:.1f}" y="{y0 + dy + 16:.1f}" fill="#44546a" '
                   f'font-weight="bold" stroke="#f6f8fb" stroke-width="4" paint-order="stroke">'
                   f'{_x(g.clusters[c])}</text>')  # over the edges that enter the cluster
    for i, n in enumerate(g.nodes):
        (w, h), (cx, cy) = sizes[i], pos[i]
        x0, y0 = cx - w / 2 + dx, cy - h / 2 + dy
        fill, stroke = COLOURS[n.kind]
        rx = 14 if n.kind in ("input", "output") else 4
        extra = ' stroke-width="2"' if n.kind == "block" else ""
        out.append(f'<g class="node {n.kind}" id="{n.id}"><rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}" rx="{rx}" fill="{fill}" stroke="{stroke}"{extra}/>')
        if n.kind == "block":
            out.append(f'<rect x="{x0 + 3:.1f}" y="{y0 + 3:.1f}" width="{w - 6:.1f}" height="{h - 6:.1f}" rx="3" '
                       f'fill="none" stroke="{stroke}" stroke-width="0.7"/>')
        for k, t in enumerate([n.title] + n.lines):
            weight = ' font-weight="bold"' if k == 0 else ' fill="#333333"'
            out.append(f'<text x="{cx + dx:.1f}" y="{y0 + PAD + 12 + k * LINE_H:.1f}" text-anchor="middle"'
                       f'{weight}>{_x(t)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- Mermaid
def _m(s) -> str:
    """Text inside a quoted Mermaid label: '#' and the characters HTML or Mermaid read as entity codes."""
    s = escape(s).replace("#", "#35;")
    for ch, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        s = s.replace(ch, code)
    return s


def _mlabel(n: GNode) -> str:
    return '"' + "<br/>".join([f"<b>{_m(n.title)}</b>"] + [_m(t) for t in n.lines]) + '"'


SHAPES = {"input": ("([", "])"), "output": ("([", "])"), "layer": ("[", "]"), "shared": ("[", "]"),
          "block": ("[[", "]]"), "penalty": ("{{", "}}")}


def mermaid(g: Graph) -> str:
    out = ["flowchart TD"]
    clusters = {c: f"c{i}" for i, c in enumerate(g.clusters)}
    for n in g.nodes:
        if n.cluster is None:
            a, b = SHAPES[n.kind]
            out.append(f"  {n.id}{a}{_mlabel(n)}{b}")
    for c, cid in clusters.items():
        out.append(f'  subgraph {cid}["{_m(g.clusters[c])}"]')
        for n in g.nodes:
            if n.cluster == c:
                a, b = SHAPES[n.kind]
                out.append(f"    {n.id}{a}{_mlabel(n)}{b}")
        out.append("  end")
    for a, b, dashed in g.edges:
        out.append(f"  {a} {'-.->' if dashed else '-->'} {b}")
    for kind, (fill, stroke) in COLOURS.items():
        members = [n.id for n in g.nodes if n.kind == kind]
        if members:
            out.append(f"  classDef {kind} fill:{fill},stroke:{stroke}")
            out.append(f"  class {','.join(members)} {kind}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- DOT
def _d(s) -> str:
    return '"' + escape(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(g: Graph) -> str:
    out = [f"digraph {_d(g.name)} {{", "  rankdir=TB;",
           '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];',
           f"  label={_d(g.name + (': ' + g.description if g.description else ''))}; labelloc=t;"]

    def node(n: GNode, indent: str) -> str:
        fill, stroke = COLOURS[n.kind]
        label = "\\n".join(_d(t)[1:-1] for t in [n.title] + n.lines)
        shape = {"block": "box3d", "penalty": "hexagon"}.get(n.kind, "box")
        return f'{indent}{n.id} [label="{label}", shape={shape}, fillcolor="{fill}", color="{stroke}"];'

    for n in g.nodes:
        if n.cluster is None:
            out.append(node(n, "  "))
    for i, c in enumerate(g.clusters):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f'    label={_d(g.clusters[c])}; style="rounded,dashed";')
        out += [node(n, "    ") for n in g.nodes if n.cluster == c]
        out.append("  }")
    for a, b, dashed in g.edges:
        out.append(f"  {a} -> {b}" + (" [style=dashed];" if dashed else ";"))
    out.append("}")
    return "\n".join(out) + "\n"


def render(spec: Spec, suffix: str, expand: bool = False) -> str:
    g = build(spec, expand)
    return {".svg": svg, ".mmd": mermaid, ".dot": dot}[suffix](g)
