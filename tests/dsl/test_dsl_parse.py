"""The DSL front end: syntax, lowering to YAML-equivalent data, errors, limits, speed."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from nnspec import api, cli_dsl
from nnspec.source.dsl import load_dsl, parse_dsl
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source.yaml_loader import load_yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def dsl(text):
    doc, diags = load_dsl(text, "t.nns")
    assert not diags, [d.format() for d in diags]
    return doc


def yaml_data(text):
    doc, diags = load_yaml(text, "t.yaml")
    assert not diags
    return doc.data


def error(text):
    doc, diags = load_dsl(text, "t.nns")
    assert doc is None and len(diags) == 1
    return diags[0]


def test_everything_the_yaml_says_the_dsl_says():
    y = yaml_data('''
nnspec: 1
name: every_form
description: "text: with a colon"
seed: 3
requires_import: [mypkg]
inputs:
  a: [8, 4]
  b: {shape: [8, 4], dtype: int32}
  c: [null, 4]
layers:
  - Dense: {units: 4, from: a, name: d1, kernel_initializer: {truncated_normal: {stddev: 0.02}},
            kernel_regularizer: {l1_l2: {l1: 1.0, l2: 0.01}}, bias_regularizer: {l2: 0.1},
            kernel_constraint: {unit_norm: {axis: [0, 1]}}, activity_regularizer: {l1: 0.5}, trainable: false}
  - Add: {from: [a, d1], name: s}
  - Concatenate: {from: [s], axis: -1}
  - MultiHeadAttention: {num_heads: 2, key_dim: 4, from: {query: s, value: a}, name: att}
  - reuse: {layer: d1, from: c, name: d1_c}
  - Bidirectional: {layer: {LSTM: {units: 3, return_sequences: true}}, name: bi, from: att}
  - TimeDistributed: {layer: {Dense: {units: 2}}}
  - WeightNorm: {layer: {Dense: {units: 2, activation: null}}}
  - Custom: {class: "mypkg.layers:Scale", args: {factor: 3.0, "odd key": "x y"}, output_shape: [8, 2]}
  - Conv1D: {filters: 2, kernel_size: [3], padding: same, kernel_constraint: {weight_norm: {}},
             bias_constraint: {expr: "w / maximum(norm(w), 1)"}, name: "true"}
  - Dense: {units: 1, name: out, kernel_constraint: {weight_norm: null}}
outputs:
  out: {loss: {categorical_crossentropy: {label_smoothing: 0.1}}, weight: 0.5, metrics: [mae, {auc: {}}]}
  bi: null
  d1_c: {loss: {custom: "mypkg.losses:half"}}
  att: {loss: {expr: "mean(square(y_true - y_pred))"}}
  s: {}
penalties:
  - {on: s, l2: 0.01}
  - {on: [s, att], l1: 0.1, reduce: mean}
  - {on: d1, l1_l2: {l1: 0.1, l2: 0.2}}
  - {expr: "0.5 * mean(abs(d1))"}
  - {expr: "on * 2"}
  - {expr: "  needs quoting  "}
training:
  optimizer: {adam: {learning_rate: 1e-3, amsgrad: true}}
''')
    text = to_dsl(y)
    d = dsl(text)
    assert d.data == y
    assert to_yaml(d.data) == to_yaml(y)
    assert yaml_data(to_yaml(d.data)) == y
    assert to_dsl(yaml_data(to_yaml(d.data))) == text
    # readable where it can be
    assert 'Custom(class="mypkg.layers:Scale", args={factor: 3.0, "odd key": "x y"}' in text
    assert "att = MultiHeadAttention({query: s, value: a}, num_heads=2, key_dim=4)" in text
    assert "d1_c = reuse(d1, c)" in text
    assert "bi = Bidirectional(att, layer=LSTM(units=3, return_sequences=true))" in text
    assert "Concatenate([s], axis=-1)" in text
    assert 'true = Conv1D(' in text
    assert "input b [8, 4] dtype int32" in text
    assert "penalty 0.5 * mean(abs(d1))" in text
    assert "penalty on [s, att]  l1 0.1  reduce mean" in text
    assert "output bi\n" in text and "output s {}" in text
    assert "loss expr(mean(square(y_true - y_pred)))" in text
    assert "kernel_constraint=weight_norm(null)" in text
    assert "requires_import [mypkg]\n" in text


def test_sketch_syntax_lowers_to_the_yaml_form():
    """The issue's sketch: variables, nested calls, `output n = ...`."""
    d = dsl('''
nnspec 1
model lab_quake
seed 42

input signal [1, 64]

x = BatchNormalization(signal)
x = LSTM(x, units=128, return_sequences=true)
x = Conv1D(x, filters=128, kernel_size=2, activation=relu, padding=same)
trunk = Dense(Flatten(x), units=32, activation=relu)

output ttf = Dense(trunk, units=1, activation=relu)  loss mae  weight 8  metrics [mae]
output tsf = Dense(trunk, units=1)  loss mae  weight 1
output imminent = Dense(trunk, units=1, activation=sigmoid)  loss binary_crossentropy  weight 1
penalty 0.01 * sum(square(trunk))
optimizer nadam(learning_rate=0.008)
''')
    assert d.data["layers"][1:5] == [
        {"LSTM": {"units": 128, "return_sequences": True}},
        {"Conv1D": {"filters": 128, "kernel_size": 2, "activation": "relu", "padding": "same"}},
        {"Flatten": {}},
        {"Dense": {"units": 32, "activation": "relu", "name": "trunk"}}]
    spec, diags = api._check_doc(d, [], "t.nns")
    assert not diags, [x.format() for x in diags]
    ref, _ = api.check_file(os.path.join(ROOT, "specs", "lab_quake.yaml"))
    assert [(n.name, n.op, n.args, n.inputs) for n in spec.nodes] == \
        [(n.name, n.op, n.args, n.inputs) for n in ref.nodes]
    assert [(o.name, o.loss, o.weight, o.metrics) for o in spec.outputs.values()] == \
        [(o.name, o.loss, o.weight, o.metrics) for o in ref.outputs.values()]
    assert spec.params == ref.params


def test_variable_used_away_from_its_layer_names_that_layer():
    d = dsl("nnspec 1\nmodel m\ninput i [4]\nx = Dense(units=3)\nx = Dense(x, units=2)\n"
            "y = Dense(units=2)\nz = Add(x, y)\noutput z\noutput x\n")
    layers = d.data["layers"]
    assert layers[1] == {"Dense": {"units": 2, "name": "dense_1"}}  # its auto name, now explicit
    assert layers[3] == {"Add": {"from": ["dense_1", "y"], "name": "z"}}
    assert list(d.data["outputs"]) == ["z", "dense_1"]
    spec, diags = api._check_doc(d, [], "t.nns")
    assert not diags, [x.format() for x in diags]


def test_blocks_and_repeat():
    text = '''nnspec 1
model blocky

block conv(filters: int, kernel=3, act: str = relu)  description "conv + bn":
    Conv2D(filters=$filters, kernel_size=$kernel, padding=same)
    BatchNormalization()
    Activation(activation=$act)

input image [32, 32, 3]

stem = conv(filters=16)
repeat 2:
    conv(filters=16, name="c$i")
    repeat 2:
        ReLU()
GlobalAveragePooling2D()
label = Dense(units=10, activation=softmax)

output label  loss sparse_categorical_crossentropy
'''
    d = dsl(text)
    assert d.data["blocks"]["conv"]["params"] == {"filters": "int", "kernel": {"default": 3},
                                                  "act": {"type": "str", "default": "relu"}}
    assert d.data["layers"][1] == {"repeat": {"times": 2, "layers": [
        {"conv": {"filters": 16, "name": "c$i"}}, {"repeat": {"times": 2, "layers": [{"ReLU": {}}]}}]}}
    assert to_dsl(d.data) == text
    assert yaml_data(to_yaml(d.data)) == d.data
    spec, diags = api._check_doc(d, [], "t.nns")
    assert spec is not None and not [x for x in diags if x.severity == "error"], [x.format() for x in diags]


@pytest.mark.parametrize("text, line, col, words", [
    ("nnspec 1\nmodel m\ninput x [4]\nDense(units=3\noutput dense\n", 5, 1, ["unexpected 'output'", "')'"]),
    ("nnspec 1\nmodel m\ninput x [4]\nDense(units=3,, a=1)\n", 4, 15, ["unexpected ','", "a name"]),
    ("nnspec 1\nmodel m\ninput x [4]\nDense units=3\n", 4, 7, ["unexpected name 'units'", "'('"]),
    ("nnspec 1\nmodel m\nDense(units=3) extra\n", 3, 16, ["unexpected name 'extra'", "the end of the line"]),
    ("nnspec 1\nmodel m\nDense(units=3 @)\n", 3, 15, ["unexpected character '@'"]),
    ("nnspec 1\nmodel m\n  input x [4]\n", 3, 3, ["unexpected indentation"]),
    ("nnspec 1\nmodel m\npenalty 0.1 *\n", 3, 14, ["unexpected the end of the line", "a number"]),
    ("nnspec 1\nmodel m\nrepeat 3:\nDense()\n", 4, 1, ["expected an indented block"]),
    ("nnspec 1\nmodel m\nDense(a=\"\\q\")\n", 3, 9, ["bad string"]),
    ("nnspec 1\nmodel m\nDense(a=[1, 2]\n", 3, 15, ["the file ends inside the '(' opened at line 3, column 6"]),
])
def test_syntax_errors_point_at_line_and_column(text, line, col, words):
    d = error(text)
    assert d.code in ("dsl-syntax",) and (d.span.line, d.span.col) == (line, col), d.format()
    for w in words:
        assert w in d.message, d.format()
    assert d.hint
    assert d.format().startswith(f"t.nns:{line}:{col}: error: ")


def test_duplicates_and_limits():
    assert error("nnspec 1\nmodel m\nmodel n\n").code == "duplicate-key"
    d = error("nnspec 1\nmodel m\nDense(units=3, a=1, units=4)\n")
    assert (d.code, d.span.line, d.span.col) == ("duplicate-key", 3, 21)
    assert error("nnspec 1\nDense(x=" + "[" * 70 + "]" * 70 + ")\n").code == "too-deep"
    assert error("nnspec 1\nDense(x=1e999)\n").code == "bad-number"
    assert error("nnspec 1\nDense(x=" + "9" * 80 + ")\n").code == "number-too-large"
    assert load_dsl(b"nnspec 1\n\xff\n", "t.nns")[1][0].code == "invalid-utf8"
    assert load_dsl(b"nnspec 1\x00\n", "t.nns")[1][0].code == "binary-file"
    assert load_dsl(b"x" * (8 * 1024 * 1024 + 1), "t.nns")[1][0].code == "file-too-large"
    doc, diags = load_dsl("# nothing\n", "t.nns")
    assert not diags and doc.data is None
    assert api._check_doc(doc, diags, "t.nns")[1][0].code == "empty-spec"


def test_semantic_errors_point_into_the_nns_file():
    doc = dsl("nnspec 1\nmodel m\ninput x [4, 3]\nl1 = LSTM(units=3)\nl2 = LSTM(units=3)\n"
              "Dense(units=1, activation=rleu)\noutput dense loss mse\npenalty 0.1 * sum(nope)\n")
    spec, diags = api._check_doc(doc, [], "t.nns")
    formatted = [d.format() for d in diags]
    assert any(f.startswith("t.nns:6:27:") for f in formatted), formatted  # the bad activation's value
    doc = dsl("nnspec 1\nmodel m\ninput x [4, 3]\nl1 = LSTM(units=3)\nl2 = LSTM(units=3)\n"
              "output l2 loss mse\npenalty 0.1 * sum(nope)\n")
    spec, diags = api._check_doc(doc, [], "t.nns")
    where = {d.code: (d.span.line, d.span.col) for d in diags}
    assert where.get("unknown-tensor") == (7, 9), [d.format() for d in diags]


def test_fmt_keeps_comments_and_is_idempotent(tmp_path):
    src = ("# header\nnnspec 1   # version\nmodel  m\n\n\ninput x [4]\n# the trunk\n"
           "h = Dense(units=3,\n    activation=relu)  # hidden\nDense( units = 1 )\noutput dense   loss mse\n# the end\n")
    doc, diags, comments = parse_dsl(src, "t.nns")
    out = to_dsl(doc.data, comments)
    assert out == ("# header\nnnspec 1  # version\nmodel m\n\ninput x [4]\n\n# the trunk\n"
                   "h = Dense(units=3, activation=relu)  # hidden\nDense(units=1)\n\noutput dense  loss mse\n\n"
                   "# the end\n")
    doc2, _, c2 = parse_dsl(out, "t.nns")
    assert to_dsl(doc2.data, c2) == out
    f = tmp_path / "m.nns"
    f.write_text(src)
    parser = argparse.ArgumentParser()
    cli_dsl.add_parsers(parser.add_subparsers(dest="command"))
    assert cli_dsl.run(parser.parse_args(["fmt", "--check", str(f)])) == 1
    assert f.read_text() == src
    assert cli_dsl.run(parser.parse_args(["fmt", str(f)])) == 0
    assert f.read_text() == out
    assert cli_dsl.run(parser.parse_args(["fmt", "--check", str(f)])) == 0


def test_convert_command(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_dsl.add_parsers(parser.add_subparsers(dest="command"))
    y = os.path.join(ROOT, "specs", "siamese.yaml")
    assert cli_dsl.run(parser.parse_args(["convert", y, "--to", "nns"])) == 0
    nns = capsys.readouterr().out
    assert "enc1_right = reuse(enc1, right)" in nns
    out = tmp_path / "s.nns"
    assert cli_dsl.run(parser.parse_args(["convert", y, "--to", "nns", "-o", str(out)])) == 0
    back = tmp_path / "s.yaml"
    assert cli_dsl.run(parser.parse_args(["convert", str(out), "--to", "yaml", "-o", str(back)])) == 0
    assert load_yaml(back.read_bytes())[0].data == load_yaml(open(y, "rb").read())[0].data
    bad = tmp_path / "bad.nns"
    bad.write_text("nnspec 1\nDense(\n")
    assert cli_dsl.run(parser.parse_args(["convert", str(bad), "--to", "yaml"])) == 1
    assert "bad.nns:2:7: error: syntax error: the file ends inside" in capsys.readouterr().err
    assert cli_dsl.run(parser.parse_args(["convert", str(tmp_path / "missing.nns"), "--to", "yaml"])) == 2


def _chain(n):
    lines = ["nnspec 1", "model deep", "input x [32]"]
    lines += [f"Dense(units=32, activation=relu)" if i % 2 else f"d{i} = Dense(units=32)" for i in range(n)]
    lines += [f"out = Dense(units=1)", "output out  loss mse", "optimizer adam"]
    return "\n".join(lines) + "\n"


def test_thousand_layer_dsl_spec_validates():
    """Its time is measured in bench/validate_speed.py (timings are not tests)."""
    text = _chain(1000)
    doc, diags = load_dsl(text, "deep.nns")
    spec, diags = api._check_doc(doc, diags, "deep.nns")
    assert spec is not None and not diags, [d.format() for d in diags][:3]
    assert len(spec.nodes) == 1001
    ydoc, _ = load_yaml(to_yaml(doc.data), "deep.yaml")
    yspec, ydiags = api._check_doc(ydoc, [], "deep.yaml")
    assert ydiags == [] and [n.name for n in yspec.nodes] == [n.name for n in spec.nodes]


def test_whole_process_validate_of_a_thousand_layer_dsl_spec_imports_no_tensorflow(tmp_path):
    f = tmp_path / "deep.nns"
    f.write_text(_chain(1000))
    code = ("import sys; from nnspec import api; from nnspec.cli_dsl import load_any;"
            "raw = open(sys.argv[1], 'rb').read(); doc, d = load_any(raw, sys.argv[1]);"
            "spec, d = api._check_doc(doc, d, sys.argv[1]); assert spec is not None and not d, d;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    r = subprocess.run([sys.executable, "-c", code, str(f)], check=True, cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == "[]", "DSL loading imported TensorFlow/Keras: " + r.stdout


def test_parses_in_several_threads_do_not_mix():
    """The parser is built once and shared; each parse keeps its own text, brackets and comments
    (a language server or a test runner may parse several files at once)."""
    import glob
    import threading
    texts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(os.path.join(ROOT, "specs", "*.nns")))]
    texts.append("nnspec 1\nmodel m\ninput x [4\n")  # a syntax error: an unclosed bracket
    serial = [parse_dsl(t, f"s{i}.nns") for i, t in enumerate(texts)]
    got, errors = {}, []

    def work(k):
        try:
            for _ in range(5):
                for i, t in enumerate(texts):
                    got.setdefault(i, []).append(parse_dsl(t, f"s{i}.nns"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors
    for i, results in got.items():
        doc, diags, comments = serial[i]
        for d2, g2, c2 in results:
            assert [str(d) for d in g2] == [str(d) for d in diags]
            assert (d2.data if d2 else None) == (doc.data if doc else None) and c2 == comments
