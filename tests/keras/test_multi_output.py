"""Layers with several outputs (`enc.state_h`) and named ports (`initial_state`), against Keras.

The contract (issue 8): Keras's character-level translation encoder-decoder, written as
specs/seq2seq.yaml, has the hand-written model's 718,173 parameters and, with its weights
copied by layer name, the same outputs; it trains, compiles (SavedModel verified), passes
`nnspec check`, and `nnspec import` of the hand-written model gives a spec of the same size.
Every other multi-output form: each output's static shape is the one Keras computes."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import nnspec
from nnspec.api import check_text
from nnspec.summary import totals

keras = pytest.importorskip("keras")
from nnspec.keras.build import build, build_graph  # noqa: E402
from nnspec.keras.importer import import_model, spec_to_yaml  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent.parent
SEQ2SEQ = ROOT / "specs" / "seq2seq.yaml"
PARAMS = 718_173  # keras 3.15: encoder LSTM 335,872 + decoder LSTM 358,400 + Dense 23,901


def _copy_weights(reference, model):
    """Every weight of the hand-written model into nnspec's, by layer name."""
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())


def _keras_seq2seq():
    """Keras's lstm_seq2seq example (keras.io/examples/nlp/lstm_seq2seq), 71 source and 93 target tokens."""
    encoder_inputs = keras.Input(shape=(None, 71), name="encoder_inputs")
    _, state_h, state_c = keras.layers.LSTM(256, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, 93), name="decoder_inputs")
    decoder_outputs, _, _ = keras.layers.LSTM(256, return_sequences=True, return_state=True, name="decoder")(
        decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = keras.layers.Dense(93, activation="softmax", name="decoder_dense")(decoder_outputs)
    return keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def _data(seed=0, batch=3, src=5, tgt=7):
    rng = np.random.default_rng(seed)
    x = {"encoder_inputs": np.eye(71, dtype="float32")[rng.integers(0, 71, (batch, src))],
         "decoder_inputs": np.eye(93, dtype="float32")[rng.integers(0, 93, (batch, tgt))]}
    y = np.eye(93, dtype="float32")[rng.integers(0, 93, (batch, tgt))]
    return x, y


def test_seq2seq_same_parameters_and_outputs_as_keras_and_trains():
    spec = nnspec.load(SEQ2SEQ)
    assert sum(totals(spec)) == PARAMS
    reference = _keras_seq2seq()
    model = build(spec)
    assert reference.count_params() == model.count_params() == PARAMS
    _copy_weights(reference, model)
    for seed, (src, tgt) in enumerate(((5, 7), (1, 1), (9, 3))):  # time axes of any length
        x, _ = _data(seed, src=src, tgt=tgt)
        want = np.asarray(reference([x["encoder_inputs"], x["decoder_inputs"]]))
        got = np.asarray(model(x)["decoder_dense"])
        assert got.shape == want.shape == (3, tgt, 93)
        np.testing.assert_allclose(got, want, atol=1e-6)
    x, y = _data(7)
    before = [w.copy() for w in model.get_layer("encoder").get_weights()]
    loss = model.train_on_batch(x, {"decoder_dense": y})
    assert np.all(np.isfinite(loss))
    # the encoder learns through the states it hands the decoder
    assert any(np.any(a != b) for a, b in zip(before, model.get_layer("encoder").get_weights()))


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "nnspec", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_seq2seq_compiles_verified_and_passes_check(tmp_path):
    r = _cli("compile", str(SEQ2SEQ), "-o", str(tmp_path / "model"))
    assert r.returncode == 0, r.stderr
    assert "718,173 params" in r.stdout and "verified" in r.stdout
    r = _cli("check", str(SEQ2SEQ), "--train-steps", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every trainable weight gets a gradient" in r.stdout
    nns = SEQ2SEQ.with_suffix(".nns")
    assert nnspec.validate(nns) == [] and sum(totals(nnspec.load(nns))) == PARAMS


def test_import_of_the_keras_seq2seq_writes_states_and_initial_state():
    reference = _keras_seq2seq()
    result = import_model(reference)
    layers = {next(iter(i.values()))["name"]: i for i in result.data["layers"]}
    assert layers["decoder"]["LSTM"]["from"] == {"input": "decoder_inputs",
                                                 "initial_state": ["encoder.state_h", "encoder.state_c"]}
    text = spec_to_yaml(result.data, result.notes)
    assert "initial_state: [encoder.state_h, encoder.state_c]" in text
    spec, diags = check_text(text, "<import>")
    assert diags == [], [str(d) for d in diags]
    assert sum(totals(spec)) == PARAMS
    model = build(spec, compile=False)
    _copy_weights(reference, model)
    x, _ = _data(3)
    np.testing.assert_allclose(np.asarray(model(x)["decoder_dense"]),
                               np.asarray(reference([x["encoder_inputs"], x["decoder_inputs"]])), atol=1e-6)


# ---------------------------------------------------------------- every form: static shapes == Keras's
HEAD = "nnspec: 1\nname: m\n"
CASES = {
    "gru_state_and_initial_state": """inputs: {x: [null, 4], y: [6, 3]}
layers:
  - GRU: {units: 5, return_state: true, name: enc, from: x}
  - GRU: {units: 5, return_sequences: true, from: {input: y, initial_state: enc.state}, name: dec}
outputs: {dec: null, enc.state: null, enc.output: null}
""",
    "simple_rnn_state": """inputs: {x: [7, 4]}
layers:
  - SimpleRNN: {units: 3, return_state: true, return_sequences: true, go_backwards: true, name: r}
  - SimpleRNN: {units: 3, from: {input: r, initial_state: [r.state]}, name: s}
outputs: {s: null, r.state: null}
""",
    "bidirectional_two_outputs_and_states": """inputs: {x: [null, 4]}
layers:
  - Bidirectional: {layer: {LSTM: {units: 3, return_sequences: true, return_state: true}}, merge_mode: null,
                    name: bi}
  - Add: {from: [bi.forward, bi.backward], name: both}
outputs: {both: null, bi.forward_state_h: null, bi.backward_state_c: null}
""",
    "bidirectional_concat_gru_states_and_initial_state": """inputs: {x: [5, 4], h: [2], g: [2]}
layers:
  - Bidirectional: {layer: {GRU: {units: 2, return_state: true}}, name: bi,
                    from: {input: x, initial_state: [h, g]}}
outputs: {bi: null, bi.forward_state: null, bi.backward_state: null}
""",
    "attention_scores_unknown_lengths": """inputs: {q: [null, 8], v: [null, 6]}
layers:
  - MultiHeadAttention: {num_heads: 2, key_dim: 3, return_attention_scores: true, from: {query: q, value: v},
                         name: att}
outputs: {att: null, att.scores: null}
""",
    "attention_scores_and_mask": """inputs: {q: [4, 8], v: [4, 6], m: {shape: [4, 4], dtype: bool}}
layers:
  - MultiHeadAttention: {num_heads: 2, key_dim: 3, return_attention_scores: true,
                         from: {query: q, value: v, attention_mask: m}, name: att}
  - Flatten: {from: att.scores}
  - Dense: {units: 2, name: head}
outputs: {head: {loss: mse}, att: null}
""",
    "conv_lstm_states_and_initial_state": """inputs: {x: [3, 6, 6, 2]}
layers:
  - ConvLSTM2D: {filters: 4, kernel_size: 3, padding: same, return_state: true, name: enc}
  - ConvLSTM2D: {filters: 4, kernel_size: 3, padding: same, from: {input: x, initial_state: [enc.state_h, enc.state_c]},
                 name: again}
outputs: {again: null, enc.state_c: null}
""",
    "blocks_with_states": """inputs: {x: [null, 4], y: [null, 3]}
blocks:
  encoder:
    params: {units: int}
    layers:
      - LSTM: {units: $units, return_state: true, name: rnn}
    outputs: [rnn.state_h, rnn.state_c, rnn]
  decoder:
    inputs: [seq, h, c]
    layers:
      - LSTM: {units: 8, return_sequences: true, from: {input: $seq, initial_state: [$h, $c]}, name: rnn}
      - Dense: {units: 2}
layers:
  - encoder: {units: 8, name: enc, from: x}
  - decoder: {from: [y, enc, enc_rnn.state_c], name: dec}
outputs:
  dec: {loss: mse}
  enc_rnn: null
penalties:
  - {on: enc, l2: 0.01}
""",
    "expr_layer_over_states": """inputs: {x: [null, 4]}
layers:
  - LSTM: {units: 3, return_state: true, name: enc}
  - Expr: {expr: "a * 2 + b", from: {a: enc.state_h, b: enc.state_c}, name: e1}
  - Expr: {expr: "enc.state_h - enc", from: [enc.state_h, enc], name: e2}
outputs: {e1: {loss: mse}, e2: null}
""",
    "penalty_on_a_state_and_expression": """inputs: {x: [null, 4]}
layers:
  - LSTM: {units: 3, return_state: true, name: enc}
  - Dense: {units: 1, from: enc.state_c, name: y}
penalties:
  - {on: enc.state_c, l2: 0.01}
  - {expr: "0.1 * mean(square(enc.state_c))"}
outputs: {y: {loss: mse}}
""",
}


def _feed(spec, size=5, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, inp in spec.inputs.items():
        shape = (2,) + tuple(size if d is None else d for d in inp.shape[1:])
        out[name] = rng.random(shape) > 0.3 if inp.dtype == "bool" else rng.normal(size=shape).astype("float32")
    return out


@pytest.mark.parametrize("case", CASES)
def test_each_output_has_the_shape_keras_computes(case, tmp_path):
    path = tmp_path / f"{case}.yaml"
    path.write_text(HEAD + CASES[case])
    diags = nnspec.validate(path)
    assert not [d for d in diags if d.severity == "error"], [d.format() for d in diags]
    spec = nnspec.load(path)
    model = build_graph(spec)
    symbolic = {k: tuple(v.shape) for k, v in model.output.items()}
    assert symbolic == {k: spec.shapes[k] for k in spec.outputs}
    feed = _feed(spec)
    got = model(feed if len(feed) > 1 else next(iter(feed.values())))
    for name in spec.outputs:
        want = tuple(5 if d is None else d for d in spec.shapes[name][1:])
        assert tuple(got[name].shape[1:]) == want, name
    # the parameters Keras built are the ones counted statically
    assert model.count_params() == sum(totals(spec))
    if any(o.loss for o in spec.outputs.values()) or spec.penalties:
        model = build(spec)
        targets = {n: np.zeros((2,) + tuple(5 if d is None else d for d in spec.shapes[n][1:]), "float32")
                   for n, o in spec.outputs.items() if o.loss}
        assert np.all(np.isfinite(model.train_on_batch(feed if len(feed) > 1 else next(iter(feed.values())),
                                                       targets)))


def test_states_equal_keras_after_copying_weights():
    """GRU states and initial_state, and Bidirectional(merge_mode=None) with states: the same numbers."""
    x_in = keras.Input((None, 4), name="x")
    y_in = keras.Input((6, 3), name="y")
    _, state = keras.layers.GRU(5, return_state=True, name="enc")(x_in)
    dec = keras.layers.GRU(5, return_sequences=True, name="dec")(y_in, initial_state=[state])
    fwd, bwd, fh, fc, bh, bc = keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True, return_state=True), merge_mode=None, name="bi")(x_in)
    reference = keras.Model([x_in, y_in], [dec, state, fwd, bwd, fh, bc])
    text = HEAD + """inputs: {x: [null, 4], y: [6, 3]}
layers:
  - GRU: {units: 5, return_state: true, name: enc, from: x}
  - GRU: {units: 5, return_sequences: true, from: {input: y, initial_state: [enc.state]}, name: dec}
  - Bidirectional: {layer: {LSTM: {units: 3, return_sequences: true, return_state: true}}, merge_mode: null,
                    name: bi, from: x}
outputs: {dec: null, enc.state: null, bi: null, bi.backward: null, bi.forward_state_h: null,
          bi.backward_state_c: null}
"""
    spec, diags = check_text(text, "<t>")
    assert diags == [], [str(d) for d in diags]
    model = build(spec, compile=False)
    assert model.count_params() == reference.count_params()
    _copy_weights(reference, model)
    feed = _feed(spec, size=4)
    want = reference([feed["x"], feed["y"]])
    got = model(feed)
    for w, name in zip(want, spec.outputs):
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(w), atol=1e-6, err_msg=name)


def test_import_writes_scores_and_bidirectional_outputs():
    q = keras.Input((None, 8), name="q")
    v = keras.Input((None, 8), name="v")
    out, scores = keras.layers.MultiHeadAttention(2, 4, name="mha")(q, v, return_attention_scores=True)
    both = keras.layers.Bidirectional(keras.layers.GRU(3, return_state=True), merge_mode=None, name="bi")(q)
    reference = keras.Model([q, v], [out, scores, both[1], both[3]])
    result = import_model(reference)
    assert list(result.data["outputs"]) == ["mha", "mha.scores", "bi.backward", "bi.backward_state"]
    spec, diags = check_text(spec_to_yaml(result.data, result.notes), "<import>")
    assert diags == [], [str(d) for d in diags]
    model = build(spec, compile=False)
    _copy_weights(reference, model)
    feed = _feed(spec, size=3)
    want = reference([feed["q"], feed["v"]])
    got = model(feed)
    for w, name in zip(want, result.outputs):
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(w), atol=1e-6, err_msg=name)
