"""`nnspec graph`: every format parses (SVG as XML, DOT with pydot, Mermaid by its basic rules),
shows what the issue asks for, and stays on the light path (tests/test_light.py)."""
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest

import clirun

from nnspec import api, graph

ROOT = pathlib.Path(__file__).parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"

HOSTILE = """nnspec: 1
name: hostile
description: "quotes \\" <b>tags</b> & #amp; \\\\ backslash, \\u001b[31m escape, \\u202e bidi"
inputs:
  x: [8]
layers:
  - Dense: {units: 4, name: a}
  - Dense: {units: 1, name: b}
outputs:
  b: {loss: {expr: "mean(square(y_true - y_pred)) # <x> & \\"q\\""}}
penalties:
  - expr: 0.01 * mean(square(a))
"""


def spec_of(path):
    spec, diags = api.check_file(path)
    assert spec is not None, diags
    return spec


def hostile_spec(tmp_path):
    p = tmp_path / "hostile.yaml"
    p.write_text(HOSTILE)
    return spec_of(p)


def svg_texts(text):
    root = ET.fromstring(text)
    return root, ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_svg(text, g):
    root, texts = svg_texts(text)
    width, height = float(root.get("width")), float(root.get("height"))
    boxes = []
    for node in root.iter(SVG + "g"):
        r = node.find(SVG + "rect")
        x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width + 0.5 and 0 <= y and y + h <= height + 0.5
        boxes.append((x, y, x + w, y + h))
    assert len(boxes) == len(g.nodes)
    for i, a in enumerate(boxes):  # no two nodes overlap
        assert not any(overlap(a, b) for b in boxes[i + 1:])
    for n in g.nodes:  # every node's text is drawn (escaped for a terminal, as printed)
        assert graph.escape(n.title) in texts
    for path in root.iter(SVG + "path"):
        for num in re.findall(r"-?\d+\.?\d*", path.get("d")):
            assert -1 <= float(num) <= max(width, height) + 1


MERMAID_LINE = [
    r"flowchart TD",
    r' {2,4}n\d+(\(\[|\[\[|\[|\{\{)"[^"\n]*"(\]\)|\]\]|\]|\}\})',
    r'  subgraph c\d+\["[^"\n]*"\]',
    r"  end",
    r"  n\d+ (-->|-\.->) n\d+",
    r"  classDef \w+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}",
    r"  class n\d+(,n\d+)* \w+",
]


def check_mermaid(text, g):
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    depth, defined, used = 0, set(), set()
    for line in lines[1:]:
        assert any(re.fullmatch(p, line) for p in MERMAID_LINE), line
        depth += line.strip().startswith("subgraph ") - (line.strip() == "end")
        assert depth >= 0
        m = re.match(r"\s+(n\d+)[\[({]", line)
        if m:
            assert m.group(1) not in defined
            defined.add(m.group(1))
        m = re.fullmatch(r"\s+(n\d+) \S+ (n\d+)", line)
        if m:
            used |= {m.group(1), m.group(2)}
        # inside a label: no raw quote, angle bracket or ampersand that HTML would read (only <b> and <br/>)
        for label in re.findall(r'"([^"]*)"', line):
            assert not re.search(r"[&<>](?!b>|/b>|br/>)", label.replace("<b>", "").replace("</b>", "")
                                 .replace("<br/>", "")), label
    assert depth == 0
    assert used <= defined and len(defined) == len(g.nodes)
    assert text.count(" --> ") + text.count(" -.-> ") == len(g.edges)


DOT_LINE = [
    r'digraph "[^"\n]*" \{', r"  rankdir=TB;", r"  node \[.*\];", r'  label="([^"\\\n]|\\.)*"; labelloc=t;',
    r' {2,4}n\d+ \[label="([^"\\\n]|\\.)*", shape=\w+, fillcolor="#[0-9a-f]{6}", color="#[0-9a-f]{6}"\];',
    r"  subgraph cluster_\d+ \{", r'    label="([^"\\\n]|\\.)*"; style="rounded,dashed";', r"  \}",
    r"  n\d+ -> n\d+( \[style=dashed\])?;", r"\}",
]


def check_dot(text, g):
    for line in text.splitlines():  # the statements nnspec writes, strings quoted and escaped
        assert any(re.fullmatch(p, line) for p in DOT_LINE), line
    if len(g.nodes) > 80:
        return  # pydot's parser takes a minute on expanded ResNet50; the grammar check above covers it
    pydot = pytest.importorskip("pydot")  # the test extra installs it
    (parsed,) = pydot.graph_from_dot_data(text)
    nodes = [n for n in parsed.get_nodes() if n.get_name() not in ("node", "graph", "edge")]
    for sub in parsed.get_subgraphs():
        nodes += sub.get_nodes()
    assert sorted(n.get_name() for n in nodes) == sorted(n.id for n in g.nodes)
    assert len(parsed.get_edges()) == len(g.edges)
    labels = {n.get_name(): n.get_label() for n in nodes}
    for n in g.nodes:  # the label text survives the quoting
        first = labels[n.id].strip('"').split("\\n")[0]
        assert first.replace('\\"', '"').replace("\\\\", "\\") == graph.escape(n.title)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pydot")  # pydot's own use of pyparsing

CHECKS = {".svg": check_svg, ".mmd": check_mermaid, ".dot": check_dot}


@pytest.mark.parametrize("suffix", list(CHECKS))
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_format_parses(path, suffix):
    spec = spec_of(path)
    checked = None
    for expand in (False, True):
        g = graph.build(spec, expand)
        text = graph.render(spec, suffix, expand)
        if (text, g) != checked:  # a spec without blocks draws the same graph expanded: checked once
            CHECKS[suffix](text, g)
            checked = (text, g)


@pytest.mark.parametrize("suffix", list(CHECKS))
def test_hostile_text_is_escaped(tmp_path, suffix):
    spec = hostile_spec(tmp_path)
    g = graph.build(spec)
    text = graph.render(spec, suffix)
    CHECKS[suffix](text, g)
    assert "\x1b" not in text and "\u202e" not in text


def test_what_is_drawn():
    g = graph.build(spec_of(ROOT / "specs/lab_quake.yaml"))
    by_title = {n.title: n for n in g.nodes}
    assert by_title["signal"].kind == "input"
    assert by_title["lstm"].lines == ["LSTM", "(batch, 1, 128)", "98,816 params"]
    assert by_title["output ttf"].lines[0] == "loss mae, weight 8"
    pen = by_title["penalty"]
    assert pen.kind == "penalty" and pen.lines == ["l2(0.01) sum", "on trunk"]
    assert (by_title["trunk"].id, pen.id, True) in g.edges


def test_shared_layer_is_one_node_with_its_uses():
    g = graph.build(spec_of(ROOT / "specs/siamese.yaml"))
    titles = [n.title for n in g.nodes]
    assert "enc1" in titles and "enc1_right" not in titles
    enc1 = next(n for n in g.nodes if n.title == "enc1")
    assert enc1.kind == "shared" and enc1.lines[-1] == "as enc1, enc1_right"
    ids = {n.title: n.id for n in g.nodes}
    assert {(ids["left"], ids["enc1"]), (ids["right"], ids["enc1"])} <= {(a, b) for a, b, _ in g.edges}


def test_blocks_collapsed_by_default_expanded_in_clusters():
    spec = spec_of(ROOT / "specs/resnet50.yaml")
    g = graph.build(spec)
    blocks = [n for n in g.nodes if n.kind == "block"]
    assert len(blocks) == 16 and not g.clusters and len(g.nodes) < 30
    first = next(n for n in blocks if n.title == "conv2_block1")
    assert first.lines == ["bottleneck_proj (block, 12 layers)", "(batch, 56, 56, 256)", "76,928 params"]
    x = graph.build(spec, expand=True)
    assert len(x.clusters) == 16 and x.clusters["conv2_block1"] == "conv2_block1: bottleneck_proj"
    assert sum(n.cluster == "conv2_block1" for n in x.nodes) == 12
    _, texts = svg_texts(graph.render(spec, ".svg", True))
    assert "conv2_block1: bottleneck_proj" in texts


def test_docs_picture_is_up_to_date():
    """README shows docs/lab_quake.svg; regenerate with
    `nnspec graph specs/lab_quake.yaml -o docs/lab_quake.svg`."""
    want = graph.render(spec_of(ROOT / "specs/lab_quake.yaml"), ".svg")
    assert (ROOT / "docs/lab_quake.svg").read_text() == want
    assert "docs/lab_quake.svg" in (ROOT / "README.md").read_text()


def run(*args, process=None):
    return clirun.nnspec(*args, cwd=ROOT, process=process)


def test_cli(tmp_path):
    out = tmp_path / "g.dot"
    r = run("graph", "specs/inception.yaml", "-o", str(out), process=True)
    assert r.returncode == 0 and out.read_text().startswith('digraph "inception_block"'), r.stderr
    r = run("graph", "specs/inception.yaml", "-o", "-", "--format", "mmd")
    assert r.returncode == 0 and r.stdout.startswith("flowchart TD")
    r = run("graph", "specs/inception.yaml", "-o", str(tmp_path / "g.png"))
    assert r.returncode == 2 and "hint: name it .svg, .mmd or .dot" in r.stderr
    r = run("graph", "nnspec/codes/cycle.yaml", "-o", str(tmp_path / "g.svg"))
    assert r.returncode == 1 and "cycle.yaml:" in r.stderr and not (tmp_path / "g.svg").exists()
    r = run("graph", "nope.yaml", "-o", str(tmp_path / "g.svg"))
    assert r.returncode == 2


def test_layout_bounds_dummy_nodes():
    """A dense skip pattern (every layer fed by the input) draws the longest edges direct past the budget."""
    from nnspec import layout
    n = 300
    edges = [(i, i + 1) for i in range(n - 1)] + [(0, i) for i in range(2, n)]
    old = layout.MAX_DUMMIES
    layout.MAX_DUMMIES = 1000
    try:
        pos, routes = layout.layout([(50, 30)] * n, edges)
    finally:
        layout.MAX_DUMMIES = old
    assert len(routes) == len(edges) and max(len(r) for r in routes.values()) <= 2 + 2 * 1000
