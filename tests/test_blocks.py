"""Blocks and repeat: expansion, names, shapes, and where diagnostics point."""
import pathlib

import pytest

import nnspec
from nnspec import summary

ROOT = pathlib.Path(__file__).parent.parent

BASE = """nnspec: 1
name: b
inputs: {x: [16, 16, 3]}
blocks:
  conv_bn_relu:
    params: {filters: int, kernel: {default: 3}, strides: {default: 1}}
    layers:
      - Conv2D: {filters: $filters, kernel_size: $kernel, strides: $strides, padding: same}
      - BatchNormalization: {}
      - ReLU: {}
  pair:
    params: {f: int}
    inputs: [a, b]
    outputs: [left, right]
    layers:
      - conv_bn_relu: {filters: $f, name: left, from: $a}
      - conv_bn_relu: {filters: $f, name: right, from: $b}
  res:
    params: {f: int}
    layers:
      - Conv2D: {filters: $f, kernel_size: 1, name: 1_conv}
      - Add: {from: [$in, 1_conv], name: add}
      - ReLU: {name: out}
"""


def check(text):
    return nnspec.check_text(text, "b.yaml")


def test_expansion_names_shapes_and_params():
    spec, diags = check(BASE + """layers:
  - conv_bn_relu: {filters: 8, name: stem}
  - conv_bn_relu: {filters: 8, strides: 2}
  - res: {f: 8, name: r1}
  - Flatten: {}
  - Dense: {units: 2, name: y}
outputs: {y: {loss: mse}}
""")
    assert diags == []
    names = [n.name for n in spec.nodes]
    assert names[:3] == ["stem_conv2d", "stem_batch_normalization", "stem"]
    assert names[3:6] == ["conv_bn_relu_conv2d", "conv_bn_relu_batch_normalization", "conv_bn_relu"]
    assert names[6:9] == ["r1_1_conv", "r1_add", "r1_out"]   # a named output keeps its name
    assert spec.node("r1_add").inputs == ["conv_bn_relu", "r1_1_conv"]  # $in is the call's input
    assert spec.node("flatten").inputs == ["r1_out"]                    # the call name aliases its output
    assert spec.shapes["conv_bn_relu"] == (None, 8, 8, 8)
    assert spec.params["stem_conv2d"] == (3 * 3 * 3 * 8 + 8, 0)
    assert spec.params["stem_batch_normalization"] == (16, 16)


def test_multi_input_multi_output_block():
    spec, diags = check(BASE + """layers:
  - Conv2D: {filters: 4, kernel_size: 1, name: c1}
  - Conv2D: {filters: 4, kernel_size: 1, name: c2, from: x}
  - pair: {f: 6, from: [c1, c2], name: p}
  - Concatenate: {from: [p_left, p_right], name: y}
outputs: {y: null}
""")
    assert diags == []
    assert spec.node("p_left_conv2d").inputs == ["c1"]
    assert spec.node("p_right_conv2d").inputs == ["c2"]
    assert spec.shapes["y"] == (None, 16, 16, 12)


def test_repeat_makes_distinct_layers_with_index():
    spec, diags = check("""nnspec: 1
name: r
inputs: {s: [10, 3]}
layers:
  - repeat: {times: 4, layers: [GRU: {units: 8, return_sequences: true, name: "gru$i"}]}
  - GRU: {units: 4, name: last}
outputs: {last: {loss: mse}}
""")
    assert diags == []
    assert [n.name for n in spec.nodes] == ["gru0", "gru1", "gru2", "gru3", "last"]
    assert [n.inputs for n in spec.nodes][:2] == [["s"], ["gru0"]]
    assert not any(n.reuse for n in spec.nodes)  # no accidental weight tying
    assert spec.params["gru0"] != spec.params["gru1"]  # 3 -> 8 features, then 8 -> 8


def test_diagnostic_inside_block_points_at_definition_and_call():
    diags = nnspec.validate(ROOT / "nnspec" / "codes" / "block_shrink_inside.yaml")
    (d,) = [d for d in diags if d.code == "dimension-too-small"]
    assert (d.span.line, d.span.col) == (10, 35)  # the MaxPooling2D line inside the block
    (note, call), = d.span.via
    assert "called here as 'd2'" in note and call.line == 13
    assert "note: in block 'down', called here as 'd2'" in d.format()


def test_summary_collapses_block_calls_unless_expanded():
    spec = nnspec.load(ROOT / "specs" / "inception_cifar.yaml")
    short = summary.render(spec)
    assert "inc1                      inception (block, 7 layers)" in short
    assert "inc1_b3_conv2d" not in short
    assert "inc1_b3_conv2d" in summary.render(spec, expand=True)
    assert sum(p for *_, p, _ in summary.rows(spec, False)) == sum(p for *_, p, _ in summary.rows(spec, True))


def test_blocks_bomb_is_bounded():
    text = "nnspec: 1\nname: bomb\ninputs: {x: [4]}\nlayers:\n"
    text += "  - repeat: {times: 10000, layers: [repeat: {times: 10000, layers: [Dense: {units: 1}]}]}\n"
    text += "outputs: {dense: {loss: mse}}\n"
    spec, diags = check(text)
    assert diags[0].code == "too-many-layers"


@pytest.mark.parametrize("bad,code", [
    ("  - conv_bn_relu: {filters: 8, kernl: 3}\n", "unknown-block-argument"),
    ("  - pair: {f: 2, from: x}\n", "input-count"),
    ("  - repeat: {times: 0, layers: [Dense: {units: 1}]}\n", "out-of-range"),
])
def test_call_errors(bad, code):
    spec, diags = check(BASE + "layers:\n" + bad + "outputs: {x: null}\n")
    assert code in [d.code for d in diags], [d.format() for d in diags]


@pytest.mark.parametrize("inner", [
    "      - Dense: {units: 16, name: first}\n      - repeat: {times: 2, layers: [Dense: {units: 4, name: d$i}]}\n",
    "      - repeat: {times: 2, layers: [Dense: {units: 4, name: d$i}]}\n",
])
def test_block_ending_with_repeat_outputs_its_last_layer(inner):
    text = ("nnspec: 1\nname: endrep\ninputs: {x: [8]}\nblocks:\n  tower:\n    layers:\n" + inner +
            "layers:\n  - tower: {name: t}\n  - Dense: {units: 1, name: y}\noutputs: {y: {loss: mse}}\n")
    spec, diags = check(text)
    assert diags == [], [d.format() for d in diags]
    assert spec.node("y").inputs == ["t_d1"]


def test_arithmetic_in_parameters_and_names():
    spec, diags = check("""nnspec: 1
name: ar
inputs: {x: [8]}
blocks:
  mlp:
    params: {width: int}
    layers:
      - Dense: {units: "${4 * width}", name: expand}
      - Dense: {units: $width, name: project}
layers:
  - repeat: {times: 3, layers: [mlp: {width: "${2 ** i * 8}", name: "block_${i + 1}"}]}
  - Dense: {units: 1, name: y}
outputs: {y: {loss: mse}}
""")
    assert diags == []
    assert [n.name for n in spec.nodes][:2] == ["block_1_expand", "block_1_project"]
    assert spec.shapes["block_3_expand"] == (None, 128) and spec.shapes["block_3_project"] == (None, 32)
    assert spec.node("y").inputs == ["block_3_project"]


@pytest.mark.parametrize("expr,word", [("${i +}", "ends too early"), ("${w * 2}", "not a numeric parameter"),
                                       ("${i / 0}", "division by zero"), ("${abs(i)}", "only numbers")])
def test_arithmetic_errors(expr, word):
    spec, diags = check(f"""nnspec: 1
name: ar
inputs: {{x: [8]}}
layers:
  - repeat: {{times: 2, layers: [Dense: {{units: "{expr}"}}]}}
outputs: {{dense: {{loss: mse}}}}
""")
    assert diags[0].code == "bad-block-expression" and word in diags[0].message
