"""The Expr op without Keras: how its inputs are named (map, list, one input, inside
blocks, reused), its static shapes and diagnostics at the expression's column, in
YAML and in the DSL, and the round trip through `nnspec convert`."""
import pytest

import nnspec
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source import load_any


def _check(body, file="m.yaml"):
    return nnspec.check_text("nnspec: 1\nname: m\n" + body, file)


def _codes(diags):
    return [(d.code, d.span.line, d.span.col) for d in diags if d.severity == "error"]


def test_names_from_a_map_a_list_and_one_input():
    spec, diags = _check("""inputs: {a: [3, 4], b: [3, 1]}
layers:
  - Expr: {from: {p: a, q: b}, expr: "p * q", name: m}
  - Expr: {from: [a, m], expr: "concat(a, m, axis=1)", name: l}
  - Expr: {expr: "x[:, 0:2, ::2]", name: one}
outputs: {one: {loss: mse}}
""")
    assert diags == []
    assert [n.args["names"] for n in spec.nodes] == [["p", "q"], ["a", "m"], ["x"]]
    assert spec.shapes["m"] == (None, 3, 4) and spec.shapes["l"] == (None, 6, 4)
    assert spec.shapes["one"] == (None, 2, 2) and spec.params["one"] == (0, 0)


def test_inside_a_block_the_written_names_and_in():
    spec, diags = _check("""inputs: {a: [4]}
blocks:
  gate:
    layers:
      - Dense: {units: 4, name: lin}
      - Dense: {from: $in, units: 4, activation: sigmoid, name: g}
      - Expr: {from: [lin, g, $in], expr: "lin * g + in"}
layers:
  - gate: {name: g1}
  - gate: {name: g2}
  - Expr: {from: [g1, g2], expr: "g1 - g2"}
outputs: {expr: {loss: mse}}
""")
    assert diags == [], [d.format() for d in diags]
    assert spec.node("g1").args["names"] == ["lin", "g", "in"]
    assert spec.shapes["expr"] == (None, 4)


def test_reuse_takes_inputs_by_the_first_calls_names():
    spec, diags = _check("""inputs: {a: [4], b: [4]}
layers:
  - Expr: {from: {p: a, q: b}, expr: "p - 2 * q", name: e}
  - reuse: {layer: e, from: {q: a, p: b}, name: e2}
outputs: {e2: {loss: mse}}
""")
    assert diags == [] and spec.node("e2").inputs == ["b", "a"]
    _, diags = _check("""inputs: {a: [4], b: [4]}
layers:
  - Expr: {from: {p: a, q: b}, expr: "p - q", name: e}
  - reuse: {layer: e, from: a, name: e2}
outputs: {e2: {loss: mse}}
""")
    assert [d.code for d in diags] == ["input-count"]


@pytest.mark.parametrize("expr,code,word", [
    ("mean(x)", "bad-expression", "without the batch axis"),
    ("x[0]", "bad-expression", "batch axis"),
    ("x[:, 4]", "bad-expression", "out of range"),
    ("sum(x, axis=3)", "bad-expression", "out of range"),
    ("concat(x, x, axis=0)", "bad-expression", "batch"),
    ("normal(x)", "bad-expression", "shape_of"),
    ("x +", "bad-expression", "ends too early"),
    ("z * 2", "unknown-tensor", "not one of its inputs"),
])
def test_refusals_point_into_the_expression(expr, code, word):
    text = f'inputs: {{a: [4]}}\nlayers:\n  - Expr: {{expr: "{expr}"}}\noutputs: {{expr: {{loss: mse}}}}\n'
    _, diags = _check(text)
    assert [d.code for d in diags] == [code], [d.format() for d in diags]
    assert word in diags[0].message + (diags[0].hint or "")
    assert diags[0].span.line == 5 and diags[0].span.col >= 18  # at or inside the quoted text


def test_random_functions_only_in_the_layer():
    _, diags = _check("""inputs: {a: [4]}
layers:
  - Dense: {units: 4, name: h}
outputs: {h: {loss: mse}}
penalties: [{expr: "mean(normal(shape_of(h)))"}]
""")
    assert [d.code for d in diags] == ["bad-expression"] and "only the Expr layer" in diags[0].message


def test_dsl_form_and_round_trip():
    nns = """nnspec 1
model m
seed 2
input a [4]
input b [4]
d = Expr({p: a, q: b}, expr="abs(p - q)")
z = Expr(d, a, expr="d + exp(0.5 * a) * normal(shape_of(d))")
output z  loss mse
"""
    spec, diags = nnspec.check_text(nns, "m.nns")
    assert diags == [] and spec.node("z").args["names"] == ["d", "a"]
    doc, _ = load_any(nns, "m.nns")
    again = to_dsl(doc.data)
    assert load_any(again, "m.nns")[0].data == doc.data
    assert load_any(to_yaml(doc.data), "m.yaml")[0].data == doc.data
    _, diags = nnspec.check_text(nns.replace("abs(p - q)", "abs(p - r)"), "m.nns")
    assert _codes(diags) == [("unknown-tensor", 6, 38)]  # the r inside the string


def test_stochastic_is_in_the_op_record():
    from nnspec.ops import CATALOG
    op = CATALOG["Expr"]
    assert op.stochastic({"expr": "x + normal(shape_of(x))"}) is True
    assert op.stochastic({"expr": "x * 2"}) is False
    assert CATALOG["Custom"].stochastic({}) is None
    assert CATALOG["Dense"].stochastic is None


# An Expr passes a gradient only to the inputs its value depends on differentiably; the same
# table is trained in Keras in tests/keras/test_expr_layer.py (test_gradient_table_against_keras)
GRADIENT_TABLE = [
    ("w * x", True),
    ("where(x > 0, w, x)", True),
    ("x[:, 0:2] * w[:, 1:3]", True),
    ("x * (w > 0)", False),
    ("where(w > 0, x, 2 * x)", False),
    ("x + normal(shape_of(w))", False),
    ("x", False),
]


@pytest.mark.parametrize("expr, trains", GRADIENT_TABLE)
def test_a_gradient_reaches_only_what_the_expression_differentiates(expr, trains):
    _, diags = _check(f"""inputs: {{x: [4]}}
layers:
  - Dense: {{units: 4, from: x, name: w}}
  - Expr: {{from: [w, x], expr: "{expr}", name: e}}
outputs: {{e: {{loss: mse}}}}
""")
    assert [d.code for d in diags if d.severity == "error"] == ([] if trains else ["no-gradient"])


@pytest.mark.parametrize("expr, ok", [
    ("x - max(x, axis=1)", False),  # (batch, 1, 3) - (batch, 3): (batch, batch, 3)
    ("x - max(x, axis=1, keepdims=true)", True),
    ("x[:, 0] + sum(x, axis=1)", True),  # (batch, 3) + (batch, 3)
    ("x * x[:, :, 0]", False),  # (batch, 1, 3) * (batch, 1): the batch against the size-1 axis
])
def test_broadcasting_never_lines_the_batch_up_with_another_axis(expr, ok):
    _, diags = _check(f'inputs: {{x: [1, 3]}}\nlayers:\n  - Expr: {{expr: "{expr}"}}\n'
                      'outputs: {expr: {loss: mse}}\n')
    assert [d.code for d in diags] == ([] if ok else ["bad-expression"]), [d.format() for d in diags]
    assert ok or "mix the samples of a batch" in diags[0].message
