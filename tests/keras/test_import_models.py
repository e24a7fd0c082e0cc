"""`nnspec import`: Keras models -> specs that compile back to the same network
(same layer names, parameter counts and, with the weights copied by layer
name, the same outputs)."""
import argparse
import pathlib
import re
import sys

import numpy as np
import pytest

import nnspec
from nnspec.api import check_text
from nnspec.source.yaml_loader import load_yaml

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from nnspec.keras.importer import (ModelImportError, import_model, load_model_ref, model_to_spec,  # noqa: E402
                                   spec_to_yaml)

ROOT = pathlib.Path(__file__).parent.parent.parent
FIXTURES = str(ROOT / "tests" / "fixtures")
# the examples of the README (others in specs/ may be large; they are not needed here)
EXAMPLES = ["channel_reduction", "features_before_dropout", "inception", "lab_quake", "random_projection",
            "seq_classifier", "siamese", "sparse_autoencoder", "stacked_gru", "weight_norm"]
SPECS = [ROOT / "specs" / f"{name}.yaml" for name in EXAMPLES if (ROOT / "specs" / f"{name}.yaml").exists()]


# ------------------------------------------------------------------ helpers
def _leaf_layers(model, out=None) -> dict:
    """name -> layer, nested models flattened (the importer flattens them too)."""
    out = {} if out is None else out
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _leaf_layers(layer, out)
        elif not isinstance(layer, layers.InputLayer):
            out[layer.name] = layer
    return out


def _batch(model, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (3, *(4 if d is None else d for d in t.shape[1:]))
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 5, size=shape).astype(str(t.dtype)))
        else:
            xs.append(rng.normal(size=shape).astype("float32"))
    return xs


def round_trip(model, allow=()):
    """import -> YAML -> validate (no diagnostics) -> build -> same names, params and outputs."""
    result = import_model(model)
    text = spec_to_yaml(result.data, result.notes)
    doc, diags = load_yaml(text, "<import>")
    assert not diags and doc.data == result.data  # the YAML reads back as the data
    spec, diags = check_text(text, "<import>", allow_import=tuple(allow))
    assert diags == [], [str(d) for d in diags]
    built = nnspec.build(spec, compile=True)
    original = _leaf_layers(model)
    rebuilt = {layer.name: layer for layer in built.layers if not isinstance(layer, layers.InputLayer)}
    penalties = {n for n in rebuilt if n.startswith("penalty_")}
    # keras.ops calls (x + 3.0: Operations, not layers) are Expr layers of their names
    calls = {op.name for op in getattr(model, "operations", ()) if not isinstance(op, keras.layers.Layer)}
    assert set(rebuilt) - penalties - calls == set(original) - penalties
    assert built.count_params() == model.count_params()
    for name, layer in rebuilt.items():
        if layer.weights:
            layer.set_weights(original[name].get_weights())
    xs = _batch(model)
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        index = {id(t): i for i, t in enumerate(model.inputs)}
        want = model({k: xs[index[id(t)]] for k, t in struct.items()}, training=False)
    else:
        want = model(xs if len(xs) > 1 else xs[0], training=False)
    want = keras.tree.flatten(want)  # the order of model.outputs (a dict's keys sorted)
    feed = dict(zip(result.data["inputs"], xs)) if len(xs) > 1 else xs[0]
    got = built(feed, training=False)
    for w, name in zip(want, result.outputs):
        diff = float(np.max(np.abs(np.asarray(w) - np.asarray(got[name]))))
        assert diff <= 1e-5, (name, diff)
    return result, text


def _items(data) -> dict:
    """layer name -> (Type, args) of a spec's layer items."""
    out = {}
    for item in data["layers"]:
        (kind, args), = item.items()
        out[args["name"]] = (kind, args)
    return out


def _cli(*argv) -> int:
    from nnspec import cli_import
    parser = argparse.ArgumentParser(prog="nnspec")
    cli_import.add_parser(parser.add_subparsers(dest="command"))
    return cli_import.run(parser.parse_args(["import", *argv]))


# ------------------------------------------------------------------ keras.applications
def test_mobilenet_v2_round_trip():
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)
    result, text = round_trip(model)
    items = _items(result.data)
    assert items["Conv1"] == ("Conv2D", {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "same",
                                         "use_bias": False, "name": "Conv1"})
    assert items["Conv1_relu"] == ("ReLU", {"max_value": 6.0, "name": "Conv1_relu"})
    assert items["block_1_pad"][1]["padding"] == [[0, 1], [0, 1]]
    assert items["block_2_add"][1]["from"] == ["block_1_project_BN", "block_2_project_BN"]
    assert items["predictions"] == ("Dense", {"units": 1000, "activation": "softmax", "name": "predictions"})
    assert result.data["name"] == "mobilenetv2_0_35_96" and any("mobilenetv2_0.35_96" in n for n in result.notes)
    assert len(text.splitlines()) < len(result.data["layers"]) + 20  # one layer per line
    assert sum("from" in args for _, args in items.values()) == 10  # only the residual Adds say where from


def test_resnet50_round_trip():
    model = keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10)
    result, _ = round_trip(model)
    items = _items(result.data)
    assert items["conv1_pad"] == ("ZeroPadding2D", {"padding": 3, "name": "conv1_pad"})
    assert items["conv1_bn"] == ("BatchNormalization", {"axis": 3, "epsilon": 1.001e-05, "name": "conv1_bn"})
    assert items["pool1_pool"] == ("MaxPooling2D", {"pool_size": 3, "strides": 2, "name": "pool1_pool"})
    assert items["avg_pool"] == ("GlobalAveragePooling2D", {"name": "avg_pool"})


# ------------------------------------------------------------------ hand-written models
def test_shared_layers_two_inputs_two_outputs_and_training(monkeypatch):
    monkeypatch.syspath_prepend(FIXTURES)
    import import_fixture
    model = import_fixture.make_model()
    result, _ = round_trip(model)
    data = result.data
    assert data["inputs"] == {"left": [12], "right": [12]}
    assert data["layers"] == [
        {"Dense": {"units": 8, "activation": "relu", "name": "enc", "from": "left"}},
        {"reuse": {"layer": "enc", "name": "enc_call2", "from": "right"}},
        {"Subtract": {"name": "diff", "from": ["enc", "enc_call2"]}},
        {"Dense": {"units": 1, "activation": "sigmoid", "name": "same"}},
        {"Concatenate": {"name": "both", "from": ["enc", "enc_call2"]}},
        {"Dense": {"units": 3, "name": "score"}},
    ]
    assert data["outputs"] == {"same": {"loss": "binary_crossentropy", "metrics": ["accuracy"]},
                               "score": {"loss": "mse", "weight": 0.5, "metrics": ["mae"]}}
    assert data["training"] == {"optimizer": {"adam": {"learning_rate": 0.01}}}
    assert result.outputs == ["same", "score"]


def test_only_non_default_args_and_vocabulary_forms():
    x = keras.Input((6,), name="x")
    h = layers.Dense(5, name="plain")(x)
    h = layers.Dense(4, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                     kernel_regularizer=keras.regularizers.L2(0.01), bias_constraint=keras.constraints.MaxNorm(3),
                     activity_regularizer=keras.regularizers.L1L2(l1=0.1), name="busy")(h)
    h = layers.Dense(4, kernel_initializer="he_normal", bias_initializer=keras.initializers.Constant(0.5),
                     kernel_constraint=keras.constraints.NonNeg(), trainable=False, name="frozen")(h)
    h = layers.Reshape((2, 2), name="square")(h)
    h = layers.LayerNormalization(epsilon=1e-5, name="ln")(h)
    y = layers.Flatten(name="flat")(h)
    model = keras.Model(x, y, name="vocab")
    result, text = round_trip(model)
    items = _items(result.data)
    assert items["plain"] == ("Dense", {"units": 5, "name": "plain"})
    assert items["busy"] == ("Dense", {"units": 4, "activation": "tanh",
                                       "kernel_initializer": {"random_normal": {"stddev": 0.02}},
                                       "kernel_regularizer": {"l2": 0.01},
                                       "bias_constraint": {"max_norm": {"max_value": 3}},
                                       "activity_regularizer": {"l1_l2": {"l1": 0.1}}, "name": "busy"})
    assert items["frozen"] == ("Dense", {"units": 4, "kernel_initializer": "he_normal",
                                         "bias_initializer": {"constant": {"value": 0.5}},
                                         "kernel_constraint": "non_neg", "trainable": False, "name": "frozen"})
    assert items["ln"] == ("LayerNormalization", {"epsilon": 1e-5, "name": "ln"})
    assert items["flat"] == ("Flatten", {"name": "flat"})
    assert "from" not in str(result.data["layers"])  # a chain: every input is the previous item
    assert result.data["outputs"] == {"flat": None} and "training" not in result.data
    assert "  - Dense: {units: 5, name: plain}" in text.splitlines()


def test_nested_shared_sequential_is_flattened():
    encoder = keras.Sequential([keras.Input((8,)), layers.Dense(6, activation="relu", name="e1"),
                                layers.Dropout(0.25, name="drop"), layers.Dense(3, name="e2")], name="encoder")
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    dist = layers.Subtract(name="dist")([encoder(a), encoder(b)])
    out = layers.Dense(1, name="out")(dist)
    model = keras.Model([a, b], out, name="siamese_nested")
    result, _ = round_trip(model)
    kinds = [(next(iter(i)), next(iter(i.values()))["name"]) for i in result.data["layers"]]
    assert kinds == [("Dense", "e1"), ("Dropout", "drop"), ("Dense", "e2"), ("reuse", "e1_call2"),
                     ("reuse", "drop_call2"), ("reuse", "e2_call2"), ("Subtract", "dist"), ("Dense", "out")]
    assert any("flattened" in n for n in result.notes)


def test_sequential_recurrent_and_wrappers():
    model = keras.Sequential([
        keras.Input((5,), dtype="int32", name="tokens"),
        layers.Embedding(20, 8, mask_zero=True, name="emb"),
        layers.Bidirectional(layers.LSTM(4, return_sequences=True), name="bi"),
        layers.TimeDistributed(layers.Dense(3, activation="relu"), name="td"),
        layers.GRU(5, name="gru"),
        layers.Dense(2, activation="softmax", name="probs"),
    ], name="seq")
    result, _ = round_trip(model)
    items = _items(result.data)
    assert result.data["inputs"] == {"tokens": {"shape": [5], "dtype": "int32"}}
    assert items["bi"] == ("Bidirectional", {"layer": {"LSTM": {"units": 4, "return_sequences": True}}, "name": "bi"})
    assert items["td"] == ("TimeDistributed", {"layer": {"Dense": {"units": 3, "activation": "relu"}}, "name": "td"})


def test_attention_roles_and_slice():
    import nnspec.keras.registry  # noqa: F401
    from nnspec.keras.custom import Slice
    q, v = keras.Input((4, 8), name="q"), keras.Input((6, 8), name="v")
    att = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(q, v)
    first = Slice("..., :1", name="first")(att)
    model = keras.Model([q, v], first, name="attn")
    result, _ = round_trip(model)
    items = _items(result.data)
    assert items["mha"] == ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "name": "mha", "from": ["q", "v"]})
    assert items["first"] == ("Slice", {"key": "..., :1", "name": "first"})


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_example_spec_survives_build_then_import(path):
    """nnspec.build(spec) -> import -> the same network (penalties, WeightNorm, constraints included)."""
    spec = nnspec.load(path)
    model = nnspec.build(spec)
    result, _ = round_trip(model)
    assert list(result.data["outputs"]) == list(spec.outputs)
    for name, out in spec.outputs.items():  # losses, weights and metrics carried over
        got = result.data["outputs"][name] or {}
        assert got.get("loss") == out.loss and got.get("weight", 1.0) == (out.weight if out.loss else 1.0)
        assert got.get("metrics", []) == out.metrics
    assert len(result.data.get("penalties", [])) == len(spec.penalties)


# ------------------------------------------------------------------ refusals
def test_layer_outside_the_catalog_is_named():
    x = keras.Input((4,), name="x")
    y = layers.Identity(name="norm")(x)
    with pytest.raises(ModelImportError, match=r"layer 'norm' is a keras\.src\..*\.Identity, which is not in "
                                               r"nnspec's catalog"):
        model_to_spec(keras.Model(x, y))
    z = layers.Lambda(lambda t: t * 2, name="double")(x)
    with pytest.raises(ModelImportError, match="'double'.*Lambda.*Slice"):
        model_to_spec(keras.Model(x, z))


@pytest.mark.parametrize("make, message", [
    (lambda x: layers.Dense(3, lora_rank=2, name="d")(x),
     r"layer 'd' \(Dense\): lora_rank = 2 cannot be written in nnspec: Dense has no argument"),
    (lambda x: layers.Dense(3, dtype="float16", name="h")(x),
     r"layer 'h' \(Dense\): dtype policy 'float16' cannot be written"),
    (lambda x: layers.Dense(3, activation=lambda t: t * 2, name="fn")(x),
     r"layer 'fn' \(Dense\): activation = .* cannot be written in nnspec"),
])
def test_unexpressible_argument_is_named(make, message):
    x = keras.Input((4,), name="x")
    with pytest.raises(ModelImportError, match=message):
        model_to_spec(keras.Model(x, make(x)))


def test_several_outputs_of_one_layer_are_named():
    """return_state, initial_state and attention_mask (issue 8): written as lstm.state_h and from: ports."""
    x = keras.Input((3, 2), name="x")
    m = keras.Input((3, 3), name="m", dtype="bool")
    _, h, c = layers.LSTM(4, return_state=True, name="lstm")(x)
    seq = layers.LSTM(4, return_sequences=True, name="dec")(x, initial_state=[h, c])
    att = layers.MultiHeadAttention(2, 2, name="att")(seq, seq, attention_mask=m)
    result, _ = round_trip(keras.Model([x, m], [h, att]))
    items = _items(result.data)
    assert list(result.data["outputs"]) == ["lstm.state_h", "att"]
    assert items["dec"][1]["from"] == {"input": "x", "initial_state": ["lstm.state_h", "lstm.state_c"]}
    assert items["att"][1]["from"] == {"query": "dec", "value": "dec", "attention_mask": "m"}


# ------------------------------------------------------------------ custom layers, files, functions
def test_registered_custom_layer_becomes_custom_item(monkeypatch):
    monkeypatch.syspath_prepend(FIXTURES)
    import import_fixture
    model = import_fixture.make_custom_model()
    with pytest.raises(AssertionError, match="import-not-allowed"):
        round_trip(model, allow=())  # the spec declares its module; only the caller can allow it
    result, _ = round_trip(model, allow=("import_fixture",))
    assert result.data["requires_import"] == ["import_fixture"] and "allow_import" not in result.data
    assert _items(result.data)["gain"] == ("Custom", {"class": "import_fixture:Gain", "args": {"factor": 3.0},
                                                      "output_shape": [3], "name": "gain"})
    assert any("import_fixture:Gain" in n and "--allow-import import_fixture" in n for n in result.notes)


@pytest.mark.parametrize("brk", ["\n", "\r", "\x85", "\u2028", "\u2029", "\x0b"])
def test_names_cannot_inject_keys(tmp_path, brk, capsys):
    """A model name (or file name) holding a line break ends up in a comment line of the written spec;
    YAML breaks lines at \\r, U+0085, U+2028 and U+2029 too, so it could start a key of its own."""
    x = keras.Input((4,), name="x")
    y = layers.Dense(2, name="y")(x)
    model = keras.Model(x, y, name=f"m{brk}allow_import: [os]{brk}requires_import: [os]{brk}#")
    path = tmp_path / f"evil{brk}requires_import: [os]{brk}#.keras"
    model.save(path)
    out = tmp_path / "spec.yaml"
    assert _cli(str(path), "-o", str(out)) == 0, capsys.readouterr().err
    doc, diags = load_yaml(out.read_bytes(), str(out))
    assert not diags and set(doc.data) == {"nnspec", "name", "inputs", "layers", "outputs"}
    assert all(line.startswith(("#", " ", "nnspec:", "name:", "inputs:", "layers:", "outputs:")) or not line
               for line in out.read_text().split("\n"))
    assert all(len(line.splitlines()) <= 1 for line in capsys.readouterr().err.split("\n"))
    text = spec_to_yaml({**doc.data, "layers": [{"Dense": {"units": 2, "name": "y"}},
                                                {"Custom": {"class": "m:C", "args": {f"k{brk}": f"v{brk}a: b"}}}]})
    assert load_yaml(text, "<t>")[0].data["layers"][1]["Custom"]["args"] == {f"k{brk}": f"v{brk}a: b"}


@pytest.mark.parametrize("name, written", [("café", "caf_"), ("модель", "model"), ("3d-net", "model_3d_net")])
def test_a_model_name_becomes_a_spec_name(name, written):
    """Letters outside ASCII too (\\W kept them: the spec failed validation as a bug in nnspec import)."""
    from nnspec.keras.importer import import_model
    x = keras.Input((4,), name="x")
    result = import_model(keras.Model(x, layers.Dense(2, name="y")(x), name=name))
    assert result.data["name"] == written and any(f"'{written}'" in n for n in result.notes)
    spec, diags = nnspec.check_text(spec_to_yaml(result.data).encode(), "imported.yaml")
    assert spec is not None and not diags, diags


def test_keras_file_on_the_command_line(tmp_path, capsys):
    x = keras.Input((6,), name="x")
    y = layers.Dense(2, activation="softmax", name="y")(layers.Dense(4, activation="relu", name="h")(x))
    model = keras.Model(x, y, name="small")
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "small.keras"
    model.save(path)
    out = tmp_path / "spec" / "small.yaml"
    assert _cli(str(path), "-o", str(out)) == 0
    err = capsys.readouterr().err
    assert "wrote" in err and "validated" in err
    data = nnspec.load(out)
    assert [n.name for n in data.nodes] == ["h", "y"]
    assert data.outputs["y"].loss == "categorical_crossentropy" and data.training == {"optimizer": "sgd"}
    assert _cli(str(path)) == 0  # to stdout
    assert capsys.readouterr().out.startswith("# yaml-language-server: $schema=")
    # written atomically, through a temporary of nnspec's own: a user's file beside it is never touched
    mine = out.parent / "small.yaml.tmp"
    mine.write_text("the user's notes\n")
    assert _cli(str(path), "-o", str(out), "-q") == 0
    assert mine.read_text() == "the user's notes\n" and sorted(p.name for p in out.parent.iterdir()) == [
        "small.yaml", "small.yaml.tmp"]
    assert _cli(str(tmp_path / "missing.keras")) == 2
    assert load_model_ref(str(path)).count_params() == model.count_params()


def test_function_ref_needs_allow_import(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(FIXTURES)
    monkeypatch.delitem(sys.modules, "import_fixture", raising=False)
    out = tmp_path / "pair.yaml"
    assert _cli("import_fixture:make_model", "-o", str(out)) == 1
    assert "not allowed" in capsys.readouterr().err and "import_fixture" not in sys.modules and not out.exists()
    assert _cli("import_fixture:make_model", "-o", str(out), "--allow-import", "import_fixture") == 0
    assert [n.name for n in nnspec.load(out).nodes][:2] == ["enc", "enc_call2"]
    assert _cli("import_fixture:NOT_A_FUNCTION", "--allow-import", "import_fixture") == 1
    assert "not callable" in capsys.readouterr().err
    assert _cli("no_such_module_here:make", "--allow-import", "no_such_module_here") == 1


def test_dict_outputs_a_shared_layer_as_output_and_losses_by_key():
    x = keras.Input((5,), name="x")
    dense = layers.Dense(5, name="d")
    a = dense(x)
    b = dense(a)
    model = keras.Model(x, {"first": a, "second": b}, name="twice")
    model.compile(optimizer=keras.optimizers.RMSprop(0.01, rho=0.8),
                  loss={"first": "mse", "second": keras.losses.Huber(delta=2.0)},
                  metrics={"first": [keras.metrics.AUC(from_logits=True), "acc", keras.metrics.Mean()]})
    result, _ = round_trip(model)
    assert result.data["layers"] == [{"Dense": {"units": 5, "name": "d"}},
                                     {"reuse": {"layer": "d", "name": "d_call2"}}]
    assert result.data["outputs"] == {"d": {"loss": "mse", "metrics": [{"AUC": {"from_logits": True}}, "accuracy"]},
                                      "d_call2": {"loss": {"huber": {"delta": 2.0}}}}
    assert result.data["training"] == {"optimizer": {"rmsprop": {"learning_rate": 0.01, "rho": 0.8}}}
    assert any("metric Mean " in n for n in result.notes) and any("'first' is 'd'" in n for n in result.notes)


@pytest.mark.parametrize("make, message", [
    (lambda x: layers.Dense(2, name="my-dense")(x), "'my-dense' is not a valid nnspec name"),
    (lambda x: layers.ConvLSTM2D(2, 1, data_format="channels_first", name="c")(
        layers.Reshape((1, 1, 2, 2), name="r")(x)),
     r"layer 'c' \(ConvLSTM2D\): data_format = \"channels_first\" cannot be written in nnspec: ConvLSTM2D has no "
     r"argument"),
])
def test_names_and_layouts_nnspec_cannot_write(make, message):
    x = keras.Input((4,), name="x")
    with pytest.raises(ModelImportError, match=message):
        model_to_spec(keras.Model(x, make(x)))


def test_models_without_a_graph_are_refused():
    with pytest.raises(ModelImportError, match="Sequential model 'unbuilt' has no input shape yet"):
        model_to_spec(keras.Sequential([layers.Dense(2)], name="unbuilt"))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(ModelImportError, match="subclassed models"):
        model_to_spec(sub)


# ------------------------------------------------------------------ issue 8's new layers
def test_new_layers_round_trip():
    """Normalization with statistics, Dropout's noise_shape, Masking into an LSTM, Scale, and
    convnext's LayerScale (imported as Scale)."""
    from keras.src.applications.convnext import LayerScale
    x = keras.Input((6, 6, 3), name="image")
    h = layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.1, 0.2, 0.3], name="stats")(x)
    h = layers.Conv2D(8, 3, name="conv")(h)
    h = LayerScale(1e-6, 8, name="layer_scale")(h)
    h = layers.Dropout(0.2, noise_shape=(None, 1, 1, None), name="drop")(h)
    h = layers.Reshape((16, 8), name="steps")(h)
    h = layers.Masking(mask_value=0.5, name="mask")(h)
    y = layers.LSTM(4, name="lstm")(h)
    model = keras.Model(x, y)
    round_trip(model)
    data = model_to_spec(model)
    items = {next(k for k in item if k in ("Normalization", "Scale", "Dropout", "Masking")): item
             for item in data["layers"] if any(k in item for k in ("Normalization", "Scale", "Dropout", "Masking"))}
    assert items["Scale"]["Scale"]["gamma_initializer"] == {"constant": {"value": 1e-6}}
    assert items["Dropout"]["Dropout"]["noise_shape"] == [None, 1, 1, None]


def test_normalization_without_statistics_imports_with_a_warning():
    x = keras.Input((4,), name="x")
    model = keras.Model(x, layers.Dense(2, name="d")(layers.Normalization(name="norm")(x)))
    text = spec_to_yaml(model_to_spec(model))
    spec, diags = check_text(text, "<import>")
    assert [(d.code, d.severity) for d in diags] == [("unset-statistics", "warning")]
    assert "9 non-trainable weights" in diags[0].message
    built = nnspec.build(spec)
    assert built.count_params() == model.count_params()


def test_channels_first_round_trip():
    x = keras.Input((3, 8, 8), name="image")
    h = layers.Reshape((1, 3, 8, 8), name="r")(x)
    h = layers.Conv3D(2, 1, data_format="channels_first", name="c3")(h)  # (2, 3, 8, 8)
    h = layers.Reshape((6, 8, 8), name="r2")(h)
    h = layers.Conv2D(4, 3, groups=2, data_format="channels_first", name="conv")(h)  # (4, 6, 6)
    h = layers.MaxPooling2D(2, data_format="channels_first", name="pool")(h)
    h = layers.SeparableConv2D(4, 3, padding="same", data_format="channels_first", name="sep")(h)
    h = layers.UpSampling2D(2, data_format="channels_first", name="up")(h)
    y = layers.GlobalAveragePooling2D(data_format="channels_first", name="gap")(h)
    round_trip(keras.Model(x, y))


def test_hashing_and_category_encoding_round_trip():
    x = keras.Input((3,), dtype="int32", name="ids")
    h = layers.Hashing(num_bins=6, salt=[3, 4], name="hash")(x)
    y = layers.CategoryEncoding(num_tokens=6, output_mode="count", name="counts")(h)
    round_trip(keras.Model(x, layers.Dense(2, name="d")(y)))


# ------------------------------------------------------------------ keras.ops calls -> Expr layers
def test_keras_ops_calls_become_expr_layers_with_the_same_outputs():
    """Keras 3 graphs hold plain keras.ops calls as nodes (MobileNetV3's x + 3.0, ConvNeXt's residual
    x + y): each is one Expr item computing the same values (round_trip compares the outputs)."""
    from keras import ops
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer
    x = keras.Input((4, 6), name="x")
    y = keras.Input((4, 6), name="y")
    h = layers.Dense(6, name="d")(x)
    a = (h + 3.0) * (1.0 / 6.0)
    b = 2.0 - ops.maximum(a, y)
    c = b / ops.mean(b, axis=-1, keepdims=True)
    g = c[:, 1:3, ::2]
    k = ops.concatenate([g, g * g], axis=-1)
    m = ops.sum(ops.relu(ops.sqrt(ops.abs(k))), axis=[1, 2])
    s = CustomScaleLayer(0.17, name="scaled")([m, -m])
    model = keras.Model([x, y], layers.Dense(2, name="out")(layers.Reshape((1,), name="r")(s)))
    result, _ = round_trip(model)
    # keras.ops calls are named by a process-wide counter (add, add_1, ...): their names are not compared
    exprs = [(args["expr"], sorted(args["from"]) if isinstance(args.get("from"), dict) else None)
             for kind, args in _items(result.data).values() if kind == "Expr"]
    assert exprs == [
        ("x + 3.0", None), ("x * 0.16666666666666666", None), ("maximum(a, b)", ["a", "b"]), ("2.0 - x", None),
        ("mean(x, axis=-1, keepdims=true)", None), ("a / b", ["a", "b"]), ("x[:, 1:3, ::2]", None), ("x * x", None),
        ("concat(a, b, axis=-1)", ["a", "b"]), ("abs(x)", None), ("sqrt(x)", None), ("relu(x)", None),
        ("sum(x, axis=[1, 2])", None), ("-x", None), ("a + b * 0.17", ["a", "b"])]


@pytest.mark.parametrize("make, message, hint", [
    (lambda x: keras.ops.transpose(x, (0, 2, 1)), r"layer 'transpose\w*' \(keras\.src\.ops\.numpy\.Transpose\) is a "
     r"keras\.ops call that nnspec's Expr layer cannot write", "use the Permute layer"),
    (lambda x: keras.ops.mean(x), r"works along axis None \(every axis\), the batch axis among them",
     r"reduce or join over feature axes only \(axis=-1"),
    (lambda x: x[0], r"indexes the batch axis", "start the index with ':'"),
    (lambda x: x[:, None], r"adds an axis", "use the Reshape layer"),
    (lambda x: x > 0, r"Greater\) is a keras\.ops call", r"where\(x > 0, x, 0\.0\)"),
    (lambda x: x + np.ones(6), r"takes an array of shape \(6,\) as a constant", "make the constant a weight"),
    (lambda x: keras.ops.concatenate([x, x], axis=0), "works along axis 0", "feature axes only"),
    (lambda x: keras.ops.cast(x, "int32") + 1, r"Cast\) is a keras\.ops call", "give the input the dtype"),
])
def test_keras_ops_calls_nnspec_cannot_write_are_named_with_what_to_write(make, message, hint):
    x = keras.Input((4, 6), name="x")
    with pytest.raises(ModelImportError, match=message) as e:
        model_to_spec(keras.Model(x, make(x)))
    assert re.search(f"; hint: .*{hint}", str(e.value)), str(e.value)


def test_nnspec_expr_layers_import_back_with_their_names_and_seed():
    """A model nnspec built: its Expr layers come back as written (a map's names, a list's tensor
    names, the single x, a random layer's seed)."""
    text = """
nnspec: 1
name: e
inputs: {a: [4], b: [4]}
layers:
  - Dense: {units: 4, name: d, from: a}
  - Expr: {from: {p: d, q: b}, expr: "abs(p - q)", name: dist}
  - Expr: {expr: "x * 0.5 + 1", name: half}
  - Expr: {from: [d, half], expr: "d + half", name: both}
  - Expr: {expr: "x + normal(shape_of(x))", seed: 7, name: noisy}
outputs: {noisy: null}
"""
    spec, diags = check_text(text)
    assert diags == []
    items = _items(model_to_spec(nnspec.build(spec)))
    assert items["dist"] == ("Expr", {"expr": "abs(p - q)", "name": "dist", "from": {"p": "d", "q": "b"}})
    assert items["half"] == ("Expr", {"expr": "x * 0.5 + 1", "name": "half"})
    assert items["both"] == ("Expr", {"expr": "d + half", "name": "both", "from": ["d", "half"]})
    assert items["noisy"] == ("Expr", {"expr": "x + normal(shape_of(x))", "seed": 7, "name": "noisy"})
