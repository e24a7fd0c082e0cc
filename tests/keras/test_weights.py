"""Initial weights (`nnspec compile --weights FILE`, the spec's `weights:`) against Keras: a model
saved by hand (.keras and .weights.h5), a spec compiled with its weights, the SavedModel reloaded
gives the original model's outputs; each mismatch is one diagnostic with both shapes; freezing
a block call freezes every layer in it, with the summary's counts Keras's own."""
import os
import textwrap

import numpy as np
import pytest

import nnspec
from nnspec.cli import main
from nnspec.keras import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from nnspec.keras.build import build  # noqa: E402
from nnspec.keras.weights import load_initial_weights  # noqa: E402

FT = """\
nnspec: 1
name: ft
WEIGHTS
inputs:
  x: [8]
layers:
  - Conv1D: {filters: 4, kernel_size: 3, name: conv, trainable: false}
  - LSTM: {units: 5, name: rnn}
  - BatchNormalization: {name: bn}
  - Dense: {units: 6, activation: relu, name: base2}
  - Dense: {units: 3, activation: softmax, name: head}
outputs:
  head: {loss: sparse_categorical_crossentropy}
"""


def original(seed=0):
    """The hand-written Keras model the spec describes, trained a little (BatchNormalization's
    moving statistics move too)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Reshape((8, 1), name="reshape")(inp)
    h = keras.layers.Conv1D(4, 3, name="conv")(h)
    h = keras.layers.LSTM(5, name="rnn")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dense(6, activation="relu", name="base2")(h)
    out = keras.layers.Dense(3, activation="softmax", name="head")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    model.fit(rng.random((32, 8)), rng.integers(0, 3, 32), epochs=2, verbose=0)
    return model


SPEC = FT.replace("  - Conv1D", "  - Reshape: {target_shape: [8, 1], name: reshape}\n  - Conv1D")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    model = original()
    model.save(d / "base.keras")
    model.save_weights(d / "base.weights.h5")
    x = np.random.default_rng(1).random((5, 8)).astype("float32")
    return d, x, model.predict(x, verbose=0)


@pytest.mark.parametrize("form", ["cli .keras", "cli .weights.h5", "spec key"])
def test_compiled_savedmodel_gives_the_original_outputs(saved, tmp_path, form, capsys):
    import tensorflow as tf
    d, x, want = saved
    spec = d / f"ft_{form.replace(' ', '_')}.yaml"
    args = ["compile", str(spec), "-o", str(tmp_path / "out")]
    if form == "spec key":
        spec.write_text(SPEC.replace("WEIGHTS", "weights: base.keras"))
    else:
        spec.write_text(SPEC.replace("WEIGHTS\n", ""))
        args += ["--weights", str(d / ("base.keras" if ".keras" in form else "base.weights.h5"))]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "weights: 5 layer(s) loaded" in err and "initialisers" not in err  # reshape holds none: not listed
    served = tf.saved_model.load(str(tmp_path / "out")).signatures["serving_default"](x=tf.constant(x))
    np.testing.assert_allclose(served["head"].numpy(), want, atol=1e-6)


def test_check_accepts_weights(saved, capsys):
    d, _, _ = saved
    spec = d / "ft_check.yaml"
    spec.write_text(SPEC.replace("WEIGHTS\n", ""))
    assert main(["check", str(spec), "--train-steps", "1", "--weights", str(d / "base.keras")]) == 0
    assert "5 layer(s) loaded" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["spec key", "argument"])
def test_python_build_starts_from_the_weights(saved, how):
    """nnspec.build() loads the spec's `weights:` as compile does (it ignored it), or its weights=."""
    d, x, want = saved
    spec = d / f"ft_build_{how.replace(' ', '_')}.yaml"
    spec.write_text(SPEC.replace("WEIGHTS", "weights: base.keras") if how == "spec key" else
                    SPEC.replace("WEIGHTS\n", ""))
    model = nnspec.build(str(spec), weights=None if how == "spec key" else str(d / "base.weights.h5"))
    np.testing.assert_allclose(model.predict(x, verbose=0)["head"], want, atol=1e-6)


def test_python_build_refuses_a_mismatched_file(saved, tmp_path):
    d, _, _ = saved
    spec = tmp_path / "wide.yaml"
    spec.write_text(SPEC.replace("WEIGHTS\n", "").replace("units: 6", "units: 7"))
    with pytest.raises(nnspec.SpecError) as e:
        nnspec.build(str(spec), weights=str(d / "base.keras"))
    assert [x.code for x in e.value.diagnostics if x.severity == "error"] == ["weights-shape", "weights-shape"]


def test_python_build_says_when_it_cannot_read_the_file(saved, tmp_path):
    """A file that is no .keras archive: one line, as `nnspec.compile` says it (it leaked the internal
    WeightsError before)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("WEIGHTS\n", ""))
    (tmp_path / "junk.keras").write_bytes(b"not a zip archive")
    with pytest.raises(nnspec.CompileError) as e:
        nnspec.build(str(spec), weights=str(tmp_path / "junk.keras"))
    assert str(e.value).startswith(f"cannot read weights from {tmp_path / 'junk.keras'}: it is not a .keras file")


def spec_of(text):
    spec, diags = nnspec.check_text(text.encode(), "ft.yaml")
    assert not [d for d in diags if d.severity == "error"], diags
    return spec


def test_each_mismatch_is_one_diagnostic_with_both_shapes(saved):
    d, _, _ = saved
    text = SPEC.replace("WEIGHTS\n", "").replace("units: 6", "units: 7").replace("name: head", "name: new_head") \
        .replace("  head:", "  new_head:")
    spec = spec_of(text)
    model = build(spec)
    before = [w.copy() for w in model.get_weights()]
    result = load_initial_weights(model, spec, str(d / "base.keras"))
    got = [(x.code, x.severity, x.span.line) for x in result.diagnostics]
    assert got == [("weights-shape", "error", 10), ("weights-unused", "warning", 0)]
    shape = result.diagnostics[0].message
    assert "layer 'base2'" in shape and "(5, 6)" in shape and "(5, 7)" in shape
    assert "layer 'head'" in result.diagnostics[1].message
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # an error loads nothing
    # a .weights.h5 has no names: by type and order, new_head is the file's second Dense ('head')
    result = load_initial_weights(model, spec, str(d / "base.weights.h5"))
    assert [(x.code, x.span.line) for x in result.diagnostics] == [("weights-shape", 10), ("weights-shape", 11)]


def test_layers_not_in_the_file_keep_their_initialisers_and_are_listed(saved):
    d, x, want = saved
    text = SPEC.replace("WEIGHTS\n", "").replace("name: head", "name: new_head").replace("  head:", "  new_head:")
    spec = spec_of(text)
    model = build(spec)
    init = model.get_layer("new_head").get_weights()
    result = load_initial_weights(model, spec, str(d / "base.keras"))
    assert [x.code for x in result.diagnostics] == ["weights-unused"]
    assert result.kept == ["new_head"]
    assert sorted(result.loaded) == ["base2", "bn", "conv", "rnn"]
    assert all(np.array_equal(a, b) for a, b in zip(init, model.get_layer("new_head").get_weights()))
    ref = keras.models.load_model(d / "base.keras")
    for name in result.loaded:
        for a, b in zip(ref.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_spec_weights_outside_its_directory_are_refused_before_tensorflow(saved, tmp_path, capsys):
    d, _, _ = saved
    sub = tmp_path / "specs"
    sub.mkdir()
    os.symlink(d / "base.keras", sub / "link.keras")
    (sub / "ft.yaml").write_text(SPEC.replace("WEIGHTS", "weights: link.keras"))
    assert main(["compile", str(sub / "ft.yaml"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "[weights-path]" in err and "leads outside the spec's directory" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- freezing a block call
BLOCKS = """\
nnspec: 1
name: frozen
inputs:
  x: [8]
blocks:
  mlp:
    params: {units: int}
    layers:
      - Dense: {units: $units, name: fc}
      - BatchNormalization: {name: bn}
      - Dense: {units: $units, activation: relu, name: out}
layers:
  - mlp: {units: 16, name: base, trainable: false}
  - mlp: {units: 8, name: top}
  - Dense: {units: 3, activation: softmax, name: head}
outputs:
  head: {loss: sparse_categorical_crossentropy}
"""


def test_trainable_false_on_a_block_call_freezes_every_layer_in_it():
    from nnspec.summary import totals
    spec = spec_of(BLOCKS)
    model = build(spec)
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert frozen == ["base_fc", "base_bn", "base_out"]
    trainable, non_trainable = totals(spec)
    want_t = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    want_n = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert (trainable, non_trainable) == (want_t, want_n) == (251, 496)  # base (144 + 64 + 272) all frozen
    w = [v.numpy().copy() for v in model.get_layer("base_fc").weights]
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 8)), rng.integers(0, 3, 16), epochs=1, verbose=0)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(w, model.get_layer("base_fc").weights))


def test_freeze_from_the_command_line_counts_as_keras_does(tmp_path, capsys):
    """`--freeze base --freeze head` (a block call and a layer): summary and the compiled model's
    manifest count what Keras counts with those layers frozen by hand."""
    import json
    path = tmp_path / "f.yaml"
    path.write_text(BLOCKS.replace(", trainable: false", ""))
    reference = build(spec_of(path.read_text()))
    for name in ("base_fc", "base_bn", "base_out", "head"):
        reference.get_layer(name).trainable = False
    want = (sum(int(np.prod(w.shape)) for w in reference.trainable_weights),
            sum(int(np.prod(w.shape)) for w in reference.non_trainable_weights))
    freeze = ["--freeze", "base", "--freeze", "head"]
    capsys.readouterr()
    assert main(["summary", str(path), "--format", "json", *freeze]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["trainable_params"], shown["non_trainable_params"]) == want == (224, 523)
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "-q", *freeze]) == 0
    manifest = json.loads((tmp_path / "out" / "assets" / "nnspec" / "manifest.json").read_text())
    assert (manifest["params"]["trainable"], manifest["params"]["non_trainable"]) == want
    assert main(["compile", str(path), "-o", str(tmp_path / "out2"), "-q", "--freeze", "bse"]) == 1
    assert "--freeze bse: 'bse' is not a layer or block call of this spec; hint: did you mean 'base'?" in \
        capsys.readouterr().err
