"""Layers with several outputs, without Keras: references (`enc.state_h`), named ports
(`initial_state`), both spec forms, blocks, the summary and the diagnostics.
The Keras side (shapes, parameters and numbers against Keras) is tests/keras/test_multi_output.py."""
from __future__ import annotations

import pytest

import nnspec
from nnspec import api
from nnspec.source.dsl import load_dsl
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source.yaml_loader import load_yaml
from nnspec.summary import render

SPEC = """nnspec: 1
name: m
inputs: {x: [null, 4], y: [null, 3], q: [null, 8]}
layers:
  - LSTM: {units: 8, return_state: true, name: enc, from: x}
  - LSTM: {units: 8, return_sequences: true, name: dec,
           from: {input: y, initial_state: [enc.state_h, enc.state_c]}}
  - MultiHeadAttention: {num_heads: 2, key_dim: 4, return_attention_scores: true, name: att,
                         from: {query: q, value: q}}
  - Bidirectional: {layer: {GRU: {units: 3, return_state: true}}, merge_mode: null, name: bi, from: dec}
  - Concatenate: {from: [bi.forward, bi.backward_state], name: both}
outputs:
  both: {loss: mse}
  enc.state_c: null
  att.scores: null
  att: null
penalties:
  - {on: enc.state_h, l2: 0.01}
  - {expr: "0.01 * mean(square(enc.state_c))"}
"""


def _check(text, file="t.yaml"):
    spec, diags = api.check_text(text, file)
    return spec, diags


def test_references_resolve_with_their_shapes():
    spec, diags = _check(SPEC)
    assert diags == [], [d.format() for d in diags]
    dec = spec.node("dec")
    assert dec.inputs == ["y"] and dec.ports == {"initial_state": ["enc.state_h", "enc.state_c"]}
    assert spec.node("enc").outputs == ("output", "state_h", "state_c")
    assert spec.shapes["enc"] == spec.shapes["enc.output"] == spec.shapes["enc.state_c"] == (None, 8)
    assert spec.shapes["att.scores"] == (None, 2, None, None)
    assert spec.node("bi").outputs == ("forward", "backward", "forward_state", "backward_state")
    assert spec.shapes["bi"] == spec.shapes["bi.backward"] == (None, 3)
    assert spec.shapes["both"] == (None, 6)
    # the decoder depends on the encoder through its initial state only
    assert [n.name for n in spec.nodes].index("enc") < [n.name for n in spec.nodes].index("dec")


def test_both_forms_round_trip():
    doc, diags = load_yaml(SPEC, "t.yaml")
    assert not diags
    nns = to_dsl(doc.data)
    assert "dec = LSTM({input: y, initial_state: [enc.state_h, enc.state_c]}" in nns
    assert "output enc.state_c\n" in nns and "penalty on enc.state_h  l2 0.01" in nns
    back, diags = load_dsl(nns, "t.nns")
    assert not diags, [d.format() for d in diags]
    assert back.data == doc.data
    assert load_yaml(to_yaml(back.data), "u.yaml")[0].data == doc.data
    spec, diags = api._check_doc(back, [], "t.nns")
    assert diags == [] and spec.node("dec").ports == {"initial_state": ["enc.state_h", "enc.state_c"]}


def test_dsl_variable_outputs_follow_the_variable():
    text = """nnspec 1
model v
input a [null, 4]
x = LSTM(a, units=4, return_state=true)
y = Dense(x.state_h, units=2)
x = Dense({input: x.state_c}, units=2)
z = Add([x, y])
output z loss mse
"""
    doc, diags = load_dsl(text, "v.nns")
    assert not diags
    froms = [next(iter(e.values())).get("from") for e in doc.data["layers"]]
    assert froms[1] == "lstm.state_h" and froms[2] == {"input": "lstm.state_c"}


def test_summary_shows_every_output_and_the_ports():
    spec, _ = _check(SPEC)
    text = render(spec, expand=True)
    assert "(None, 8); .state_h (None, 8); .state_c (None, 8)" in text
    assert "y, initial_state=[enc.state_h, enc.state_c]" in text
    assert "att.scores (batch, 2, ?, ?) (no loss)" in text


def test_return_state_is_an_argument_of_every_recurrent_layer():
    for op in ("SimpleRNN", "GRU", "LSTM", "ConvLSTM2D"):
        assert "return_state" in nnspec.ops.CATALOG[op].arg_index


def test_conv_lstm_state_shapes():
    spec, diags = _check("""nnspec: 1
name: c
inputs: {x: [3, 6, 6, 2]}
layers:
  - ConvLSTM2D: {filters: 4, kernel_size: 3, return_sequences: true, return_state: true, name: r}
outputs: {r: null, r.state_h: null}
""")
    assert diags == []
    assert spec.shapes["r"] == (None, 3, 4, 4, 4) and spec.shapes["r.state_h"] == (None, 4, 4, 4)


@pytest.mark.parametrize("body,code,words", [
    ("  - LSTM: {units: 4, name: enc}\noutputs: {enc.state_h: null}\n", "output-not-enabled", "return_state: true"),
    ("  - Bidirectional: {layer: {LSTM: {units: 4}}, merge_mode: null, name: bi}\noutputs: {bi.forward_state_h: null}\n",
     "output-not-enabled", "add return_state: true to the layer inside 'bi'"),
    ("  - MultiHeadAttention: {num_heads: 1, key_dim: 2, from: [x, x], name: a}\noutputs: {a.scores: null}\n",
     "output-not-enabled", "return_attention_scores: true"),
    ("  - LSTM: {units: 4, return_state: true, name: enc}\noutputs: {enc.state: null}\n", "no-such-output",
     "enc.state_h"),
    ("  - Dense: {units: 4, name: d}\noutputs: {d.output: null}\n", "no-such-output", "write d"),
    ("  - Dense: {units: 4, name: d}\noutputs: {x.y: null, d: null}\n", "no-such-output", "write x"),
    ("  - LSTM: {units: 4, return_state: true, name: enc}\noutputs: {\"enc[1]\": null}\n", "bad-reference",
     "write enc.state_h"),
    ("  - LSTM: {units: 4, return_state: true, name: enc}\n  - Dense: {units: 2, from: [enc, enc.state_h]}\n"
     "outputs: {dense: null}\n", "input-count", None),
    ("  - LSTM: {units: 4, from: [x, x, x], name: l}\noutputs: {l: null}\n", "input-count",
     "from: {input: x, initial_state: [...]}"),
    ("  - LSTM: {units: 4, from: {input: x, initial_stat: [x]}, name: l}\noutputs: {l: null}\n", "bad-from",
     "initial_state"),
    ("  - GRU: {units: 4, from: {input: [x, x]}, name: l}\noutputs: {l: null}\n", "bad-from", "one tensor"),
    ("  - Expr: {expr: a, from: {a: [x, x]}, name: e}\noutputs: {e: null}\n", "bad-from", "one tensor"),
    ("  - TimeDistributed: {layer: {GRU: {units: 2, return_state: true}}, name: t}\noutputs: {t: null}\n",
     "bad-argument", "remove return_state"),
    ("  - LSTM: {units: 4, return_state: true, name: enc}\n  - LSTM: {units: 4, name: d,\n"
     "      from: {input: x, initial_state: [enc.state_h, enc.state_h, enc.state_c]}}\noutputs: {d: null}\n",
     "port-count", "[<0>, <1>]"),
])
def test_diagnostics(body, code, words):
    text = "nnspec: 1\nname: m\ninputs: {x: [null, 4]}\nlayers:\n" + body
    _, diags = _check(text)
    found = [d for d in diags if d.code == code]
    assert found, [d.format() for d in diags]
    if words:
        assert words in found[0].message + " " + (found[0].hint or ""), found[0].format()


def test_no_hint_points_to_return_sequences_for_return_state():
    _, diags = _check("nnspec: 1\nname: m\ninputs: {x: [5, 4]}\nlayers:\n"
                      "  - LSTM: {units: 4, return_state: true}\noutputs: {lstm: null}\n")
    assert diags == []


def test_a_state_that_feeds_no_output_is_not_unused():
    _, diags = _check("nnspec: 1\nname: m\ninputs: {x: [5, 4]}\nlayers:\n"
                      "  - LSTM: {units: 4, return_state: true, name: enc}\n"
                      "  - Dense: {units: 1, from: enc.state_c}\noutputs: {dense: {loss: mse}}\n")
    assert diags == []


def test_penalty_on_a_state_that_reaches_no_output():
    _, diags = _check("nnspec: 1\nname: m\ninputs: {x: [5, 4]}\nlayers:\n"
                      "  - LSTM: {units: 4, return_state: true, name: enc}\n"
                      "outputs: {enc: {loss: mse}}\npenalties: [{on: enc.state_c, l2: 0.1}]\n")
    assert [d.code for d in diags] == ["penalty-unreachable"]
