"""'valid' is a promise, against Keras: what nnspec's static checks accept
builds, trains a step and serves; what Keras refuses, nnspec refuses first
(issue 9, "Trust"). The static halves are in tests/test_valid_promise.py."""
import numpy as np
import pytest

import nnspec
from nnspec.keras import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from nnspec.keras.build import build  # noqa: E402
from nnspec.keras.export import model_inputs, random_batch  # noqa: E402
from nnspec.passes.shapes import weight_ranks  # noqa: E402


def spec_of(text):
    spec, diags = nnspec.check_text(text.encode(), "k.yaml")
    return spec, [d for d in diags if d.severity == "error"]


def fit_one_step(spec):
    from nnspec.keras.check import synthetic_targets
    model = build(spec)
    x = model_inputs(spec, random_batch(spec, batch=4))
    y = synthetic_targets(spec, 4, model=model)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return model


# ---------------------------------------------------------------- constraint expressions
# (op, args, input shape, weights the table covers)
WEIGHTED = [
    ("Dense", {"units": 3}, (5,), ["kernel", "bias"]),
    ("Conv1D", {"filters": 2, "kernel_size": 3}, (6, 3), ["kernel", "bias"]),
    ("Conv2D", {"filters": 2, "kernel_size": 3}, (6, 6, 3), ["kernel", "bias"]),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3}, (6, 6, 3), ["kernel", "bias"]),
    ("DepthwiseConv2D", {"kernel_size": 3}, (6, 6, 3), ["depthwise", "bias"]),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 3}, (6, 3), ["depthwise", "pointwise", "bias"]),
    ("LSTM", {"units": 2}, (4, 3), ["kernel", "recurrent", "bias"]),
    ("GRU", {"units": 2}, (4, 3), ["kernel", "recurrent", "bias"]),
    ("GRU", {"units": 2, "reset_after": False}, (4, 3), ["kernel", "recurrent", "bias"]),
    ("SimpleRNN", {"units": 2}, (4, 3), ["kernel", "recurrent", "bias"]),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3}, (2, 6, 6, 3), ["kernel", "recurrent", "bias"]),
    ("Embedding", {"input_dim": 10, "output_dim": 3}, (4,), ["embeddings"]),
    ("BatchNormalization", {}, (4, 3), ["beta", "gamma"]),
    ("LayerNormalization", {"axis": [1, 2]}, (4, 3), ["beta", "gamma"]),
    ("PReLU", {}, (4, 3), ["alpha"]),
    ("EinsumDense", {"equation": "ab,bcd->acd", "output_shape": [3, 4], "bias_axes": "d"}, (5,),
     ["kernel", "bias"]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, (4, 5), ["kernel", "bias"]),
]
_KERAS_NAME = {"recurrent": "recurrent_kernel", "depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel"}


@pytest.mark.parametrize("op,args,shape,weights", WEIGHTED, ids=[f"{w[0]}{i}" for i, w in enumerate(WEIGHTED)])
def test_weight_rank_table_matches_keras(op, args, shape, weights):
    from nnspec.keras.layers import make_layer
    from nnspec.ops import CATALOG
    layer = make_layer(op, CATALOG[op].fill(args))
    x = keras.Input(shape)
    layer(x, x) if op == "MultiHeadAttention" else layer(x)
    for weight in weights:
        name = "kernel" if op.startswith("Depthwise") and weight == "depthwise" else _KERAS_NAME.get(weight, weight)
        got = {len(w.shape) for w in layer.weights if w.path.split("/")[-1] == name}
        assert got, [w.path for w in layer.weights]
        want = set(weight_ranks(op, weight, CATALOG[op].fill(args), (None,) + tuple(shape)))
        assert got == want, (op, weight, got, want)


CONSTRAINED = """nnspec: 1
name: c
seed: 1
inputs:
  x: [6, 3]
layers:
  - Conv1D: {{filters: 4, kernel_size: 3, kernel_constraint: {{expr: "{e}"}}}}
  - Flatten: {{}}
  - Dense: {{units: 2, name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("e", ["w / norm(w, axis=[0, 1], keepdims=true)", "w / sum(w, axis=0)", "abs(w)",
                               "clip(w, -0.1, 0.1)", "w / (1 + norm(w))", "w - mean(w, axis=-1, keepdims=true)"])
def test_accepted_constraint_expressions_train(e):
    spec, errs = spec_of(CONSTRAINED.format(e=e))
    assert errs == []
    fit_one_step(spec)


@pytest.mark.parametrize("e", ["sum(w)", "norm(w, axis=0)", "mean(w, axis=5)", "w / sum(w, axis=-1)",
                               "sum(w, keepdims=true)"])
def test_refused_constraint_expressions_fail_in_keras(e):
    spec, errs = spec_of(CONSTRAINED.format(e=e))
    assert [d.code for d in errs] in (["constraint-shape"], ["bad-expression"])
    assert (errs[0].span.line, errs[0].span.col) == (7, 68)
    # and Keras does fail on it: build without nnspec's check
    ok, _ = spec_of(CONSTRAINED.format(e="abs(w)"))
    node = ok.nodes[0]
    node.args["kernel_constraint"] = node.given["kernel_constraint"] = {"expr": e}
    with pytest.raises(Exception):
        fit_one_step(ok)


def test_loss_axis_out_of_range_refused_and_in_range_trains():
    text = """nnspec: 1
name: l
inputs:
  x: [5]
layers:
  - Dense: {{units: 3, name: out}}
outputs:
  out: {{loss: {{expr: "mean(square(y_true - y_pred), axis={axis})"}}}}
"""
    spec, errs = spec_of(text.format(axis=5))
    assert [(d.code, d.span.line, d.span.col) for d in errs] == [("bad-expression", 8, 22)]
    spec, errs = spec_of(text.format(axis=-1))
    assert errs == []
    fit_one_step(spec)


# ---------------------------------------------------------------- block calls
BLOCK = """nnspec: 1
name: b
seed: 1
inputs:
  x: [8]
blocks:
  two:
    params: {{}}
    layers:
      - Dense: {{units: 4}}
      - Dense: {{units: 4}}
layers:
  - two: {{name: b, {extra}}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


def test_block_call_trainable_false_freezes_its_layers_in_keras():
    spec, errs = spec_of(BLOCK.format(extra="trainable: false"))
    assert errs == []
    model = build(spec)
    before = {layer.name: [w.numpy().copy() for w in layer.weights] for layer in model.layers}
    from nnspec.keras.check import synthetic_targets
    x = model_inputs(spec, random_batch(spec, batch=4))
    model.fit(x, synthetic_targets(spec, 4, model=model), epochs=1, batch_size=4, verbose=0)
    for name in ("b_dense", "b"):
        layer = model.get_layer(name)
        assert not layer.trainable
        for w0, w1 in zip(before[name], layer.weights):
            np.testing.assert_array_equal(w0, w1.numpy())
    assert not np.array_equal(before["out"][0], model.get_layer("out").weights[0].numpy())
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == sum(spec.params["out"])


def test_block_call_activity_regularizer_is_applied_in_keras():
    spec, errs = spec_of(BLOCK.format(extra="activity_regularizer: {l2: 0.1}"))
    assert errs == []
    model = build(spec)
    assert model.get_layer("b").activity_regularizer is not None
    assert model.get_layer("b_dense").activity_regularizer is None
    model(model_inputs(spec, random_batch(spec, batch=4)))
    assert len(model.losses) == 1


# ---------------------------------------------------------------- reuse on another rank
REUSE = """nnspec: 1
name: r
seed: 1
inputs:
  a: [4]
  b: [6, 4]
layers:
  - {layer}: {{{args}name: d, from: a}}
  - reuse: {{layer: d, from: b, name: d2}}
  - Flatten: {{}}
  - Concatenate: {{from: [d, flatten], name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("layer,args", [("Dense", "units: 4, "), ("LayerNormalization", ""),
                                        ("Dropout", "rate: 0.1, "), ("Flatten", ""), ("Reshape", "target_shape: [-1], "),
                                        ("Slice", "key: '..., :2', "), ("WeightNorm", "layer: {Dense: {units: 4}}, ")])
def test_reuse_on_another_rank_accepted_trains(layer, args):
    spec, errs = spec_of(REUSE.format(layer=layer, args=args))
    assert errs == []
    model = fit_one_step(spec)
    assert model.count_params() == sum(sum(p) for p in spec.params.values())


@pytest.mark.parametrize("layer,args", [("BatchNormalization", ""), ("BatchNormalization", "axis: -1, center: false, ")])
def test_reuse_on_another_rank_refused_fails_in_keras(layer, args):
    spec, errs = spec_of(REUSE.format(layer=layer, args=args))
    assert [d.code for d in errs] == ["shared-layer-mismatch"]
    with pytest.raises(ValueError, match="expected ndim"):
        keras_layer = __import__("nnspec.keras.layers", fromlist=["make_layer"]).make_layer(
            layer, spec.node("d").args)
        keras_layer(keras.Input((4,)))
        keras_layer(keras.Input((6, 4)))


# ---------------------------------------------------------------- input dtypes, every op family
S1, S2, S3 = [8, 3], [8, 8, 3], [4, 4, 4, 3]
OP_CASES = {
    "Activation": ({"activation": "relu"}, [[8]]), "Add": ({}, [[8], [8]]), "Attention": ({}, [S1, S1]),
    "Average": ({}, [[8], [8]]), "AveragePooling1D": ({"pool_size": 2}, [S1]),
    "AveragePooling2D": ({"pool_size": 2}, [S2]), "AveragePooling3D": ({"pool_size": 2}, [S3]),
    "BatchNormalization": ({}, [[8]]), "Bidirectional": ({"layer": {"LSTM": {"units": 2}}}, [S1]),
    "Concatenate": ({}, [[8], [8]]), "Conv1D": ({"filters": 2, "kernel_size": 3}, [S1]),
    "Conv1DTranspose": ({"filters": 2, "kernel_size": 3}, [S1]), "Conv2D": ({"filters": 2, "kernel_size": 3}, [S2]),
    "Conv2DTranspose": ({"filters": 2, "kernel_size": 3}, [S2]), "Conv3D": ({"filters": 2, "kernel_size": 3}, [S3]),
    "Conv3DTranspose": ({"filters": 2, "kernel_size": 3}, [S3]),
    "ConvLSTM2D": ({"filters": 2, "kernel_size": 3}, [S3]), "Cropping1D": ({}, [S1]), "Cropping2D": ({}, [S2]),
    "Dense": ({"units": 2}, [[8]]), "DepthwiseConv1D": ({"kernel_size": 3}, [S1]), "Expr": ({"expr": "x * 2 + 1"}, [[8]]),
    "DepthwiseConv2D": ({"kernel_size": 3}, [S2]), "Dot": ({"axes": 1}, [[8], [8]]), "Dropout": ({"rate": 0.5}, [[8]]),
    "ELU": ({}, [[8]]), "EinsumDense": ({"equation": "ab,bc->ac", "output_shape": [2]}, [[8]]),
    "Embedding": ({"input_dim": 10, "output_dim": 2}, [[8]]), "Flatten": ({}, [S1]), "GRU": ({"units": 2}, [S1]),
    "GaussianDropout": ({"rate": 0.5}, [[8]]), "GaussianNoise": ({"stddev": 0.5}, [[8]]),
    "GlobalAveragePooling1D": ({}, [S1]), "GlobalAveragePooling2D": ({}, [S2]), "GlobalAveragePooling3D": ({}, [S3]),
    "GlobalMaxPooling1D": ({}, [S1]), "GlobalMaxPooling2D": ({}, [S2]), "GlobalMaxPooling3D": ({}, [S3]),
    "LSTM": ({"units": 2}, [S1]), "LayerNormalization": ({}, [[8]]), "LeakyReLU": ({}, [[8]]),
    "MaxPooling1D": ({}, [S1]), "MaxPooling2D": ({}, [S2]), "MaxPooling3D": ({}, [S3]), "Maximum": ({}, [[8], [8]]),
    "Minimum": ({}, [[8], [8]]), "MultiHeadAttention": ({"num_heads": 2, "key_dim": 2}, [S1, S1]),
    "Multiply": ({}, [[8], [8]]), "PReLU": ({}, [[8]]), "Permute": ({"dims": [2, 1]}, [S1]), "ReLU": ({}, [[8]]),
    "RepeatVector": ({"n": 2}, [[8]]), "Rescaling": ({"scale": 0.5}, [[8]]), "Reshape": ({"target_shape": [4, 2]}, [[8]]),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 3}, [S1]),
    "SeparableConv2D": ({"filters": 2, "kernel_size": 3}, [S2]), "SimpleRNN": ({"units": 2}, [S1]),
    "Slice": ({"key": "..., :1"}, [S1]), "Softmax": ({}, [[8]]), "SpatialDropout1D": ({"rate": 0.5}, [S1]),
    "SpatialDropout2D": ({"rate": 0.5}, [S2]), "SpatialDropout3D": ({"rate": 0.5}, [S3]), "Subtract": ({}, [[8], [8]]),
    "TimeDistributed": ({"layer": {"Dense": {"units": 2}}}, [S1]), "UnitNormalization": ({}, [[8]]),
    "UpSampling1D": ({}, [S1]), "UpSampling2D": ({}, [S2]), "WeightNorm": ({"layer": {"Dense": {"units": 2}}}, [[8]]),
    "ZeroPadding1D": ({}, [S1]), "ZeroPadding2D": ({}, [S2]),
    "Normalization": ({}, [[8]]), "CategoryEncoding": ({"num_tokens": 4}, [[3]]), "Hashing": ({"num_bins": 4}, [[3]]),
    "Masking": ({}, [S1]), "Scale": ({}, [[8]]),
}


# nnspec refuses where Keras may accept: Activation's int support depends on the
# function (relu takes ints, softmax does not); a Rescaling or Cast first is clearer.
# GaussianDropout takes bool but not int inputs in Keras: refusing both is simpler.
# Masking of a bool input computes int32 while Keras declares float32: refused.
STRICTER = {"Activation", "GaussianDropout", "Masking"}


def test_every_op_has_a_dtype_case():
    from nnspec.ops import CATALOG
    assert sorted(set(CATALOG) - set(OP_CASES) - {"Custom"}) == []


def _dtype_spec(op, args, shapes, dtype):
    import json
    names = ["x", "y"][:len(shapes)]
    inputs = "\n".join(f"  {n}: {{shape: {json.dumps(s)}, dtype: {dtype}}}" for n, s in zip(names, shapes))
    args = {**args, "name": "op", "from": names if len(names) > 1 else names[0]}
    return f"""nnspec: 1
name: d
seed: 1
inputs:
{inputs}
layers:
  - {op}: {json.dumps(args)}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


def _keras_runs(spec):
    """Build, then one eager forward pass in training mode and its gradient, which must reach every
    trainable weight of the layer 'op' (LayerNormalization on an int input gets none)."""
    import tensorflow as tf
    model = build(spec)
    x = model_inputs(spec, random_batch(spec, batch=2))
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_sum(tf.cast(y["out"] if isinstance(y, dict) else y, "float32"))
    weights = model.get_layer("op").trainable_weights
    grads = tape.gradient(loss, weights)
    missing = [w.path for w, g in zip(weights, grads) if g is None]
    if missing:
        raise ValueError(f"No gradients provided for {missing}")


# int32 and bool for every op; uint8 and int64 for a sample
_DTYPE_CASES = [(op, dt) for op in sorted(OP_CASES) for dt in ("int32", "bool")] + [
    (op, dt) for op in ("Conv2D", "Dense", "Embedding", "Add", "MaxPooling2D", "Flatten", "LSTM", "Dropout",
                        "Rescaling") for dt in ("uint8", "int64")]


@pytest.mark.parametrize("op,dtype", _DTYPE_CASES)
def test_integer_input_builds_in_keras_or_is_refused(op, dtype):
    args, shapes = OP_CASES[op]
    text = _dtype_spec(op, args, shapes, dtype)
    spec, errs = spec_of(text)
    if errs:
        assert [(d.code, d.span.line) for d in errs] == [("input-dtype", 6 + len(shapes))], errs
        if op in STRICTER:
            return
        # Keras refuses it too: build the same model with the check skipped
        float_spec, _ = spec_of(text.replace(f"dtype: {dtype}", "dtype: float32"))
        for inp in float_spec.inputs.values():
            inp.dtype = dtype
        with pytest.raises(Exception):
            _keras_runs(float_spec)
    else:
        _keras_runs(spec)


_FLOAT_ONLY_CASES = [("ReLU", {"negative_slope": 0.25}, [[8]]), ("ReLU", {"threshold": 1.5}, [[8]]),
                     ("ReLU", {"max_value": 2.0}, [[8]]), ("ReLU", {"max_value": 6, "threshold": 1.0}, [[8]]),
                     ("ReLU", {"negative_slope": 0.25, "threshold": 1.5}, [[8]]),
                     ("ReLU", {"negative_slope": 0.25, "max_value": 6}, [[8]]),
                     ("ReLU", {"negative_slope": 0.056, "max_value": 0.615}, [[8]]),
                     ("ReLU", {"negative_slope": 0.25, "threshold": 1.5, "max_value": 6.0}, [[8]]),
                     ("Dot", {"axes": -1}, [[3], [3]]), ("Dot", {"axes": -1, "normalize": True}, [[3], [3]]),
                     ("LayerNormalization", {}, [[8]]), ("LayerNormalization", {"scale": False, "center": False}, [[8]]),
                     ("LSTM", {"units": 2}, [S1]), ("LSTM", {"units": 2, "dropout": 0.3}, [S1]),
                     ("LSTM", {"units": 2, "recurrent_dropout": 0.3}, [S1]), ("GRU", {"units": 2, "dropout": 0.3}, [S1]),
                     ("SimpleRNN", {"units": 2, "dropout": 0.3}, [S1]),
                     ("Bidirectional", {"layer": {"GRU": {"units": 2, "dropout": 0.3}}}, [S1])]


@pytest.mark.parametrize("op,args,shapes", _FLOAT_ONLY_CASES)
def test_arguments_that_need_a_float_input(op, args, shapes):
    """Ops that take int32, except with some arguments (Op.float_only): ReLU with negative_slope and
    threshold or max_value mixes float values into the int tensor, Dot's normalize takes an rsqrt, an
    RNN's dropout scales its input, LayerNormalization's gamma and beta get no gradient (fuzzer,
    FINDINGS F13; seed 31 graphs 1304, 1412, 3679, 3151). nnspec refuses exactly where Keras fails."""
    text = _dtype_spec(op, args, shapes, "int32")
    spec, errs = spec_of(text)
    if errs:
        assert [(d.code, d.span.line) for d in errs] == [("input-dtype", 6 + len(shapes))], errs
        float_spec, _ = spec_of(text.replace("dtype: int32", "dtype: float32"))
        for inp in float_spec.inputs.values():
            inp.dtype = "int32"
        with pytest.raises(Exception, match="AddV2|Cannot convert|not in the list of allowed values|"
                                            "must be a floating point|No gradients provided"):
            _keras_runs(float_spec)
    else:
        _keras_runs(spec)


def test_uint8_images_through_rescaling_train():
    spec, errs = spec_of("""nnspec: 1
name: img
seed: 1
inputs:
  image: {shape: [8, 8, 3], dtype: uint8}
layers:
  - Rescaling: {scale: 0.00392156862745098}
  - Conv2D: {filters: 2, kernel_size: 3}
  - Flatten: {}
  - Dense: {units: 1, name: out}
outputs:
  out: {loss: mse}
""")
    assert errs == []
    fit_one_step(spec)


def test_check_under_a_raised_weight_limit_runs(tmp_path):
    import os
    import pathlib
    import subprocess
    import sys
    path = tmp_path / "m.yaml"
    path.write_text(BLOCK.format(extra="trainable: true"))
    r = subprocess.run([sys.executable, "-m", "nnspec", "check", str(path), "--train-steps", "1",
                        "--max-weights-bytes", "1M"], capture_output=True, text=True, timeout=300,
                       cwd=pathlib.Path(__file__).parent.parent.parent, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("ok: 1 training steps")


# ---------------------------------------------------------------- from the fuzzer (/work/wt/FINDINGS.md)
def test_check_runs_a_model_without_trainable_weights():
    from nnspec.keras.check import run_check
    spec, errs = spec_of("nnspec: 1\nname: m\ninputs: {x: [4]}\nlayers:\n  - Dropout: {rate: 0.1}\n"
                         "outputs:\n  dropout: {loss: mse}\n")
    assert errs == []
    report = run_check(spec, steps=1, batch=4)
    assert report["finite"] and report["no_gradient"] == []


@pytest.mark.parametrize("constraint,ok", [("{unit_norm: {axis: 1}}", False), ("{max_norm: {axis: [0, 0]}}", False),
                                           ("{unit_norm: {axis: 0}}", True), ("{max_norm: {axis: -1}}", True)])
def test_named_constraint_axes_against_keras(constraint, ok):
    text = f"""nnspec: 1
name: c
seed: 1
inputs:
  x: [4]
layers:
  - Dense: {{units: 2, bias_constraint: {constraint}, kernel_constraint: {constraint}, name: out}}
outputs:
  out: {{loss: mse}}
"""
    spec, errs = spec_of(text)
    if ok:
        assert errs == []
        fit_one_step(spec)
        return
    assert errs and {d.code for d in errs} == {"bad-argument"}
    good, _ = spec_of(text.replace(constraint, "null"))
    good.nodes[0].args["bias_constraint"] = spec.nodes[0].args["bias_constraint"]
    good.nodes[0].args["kernel_constraint"] = spec.nodes[0].args["kernel_constraint"]
    with pytest.raises(Exception):
        fit_one_step(good)


def test_no_trainable_weight_reaching_a_loss_fails_in_keras():
    text = """nnspec: 1
name: m
inputs:
  x: [4]
layers:
  - Dense: {units: 2, name: features}
  - Dropout: {rate: 0.5, from: x, name: drop}
outputs:
  features: null
  drop: {loss: mse}
"""
    _, errs = spec_of(text)
    assert [d.code for d in errs] == ["no-gradient"]
    spec, errs = spec_of(text.replace("features: null", "features: {loss: mse}"))
    assert errs == []
    spec.outputs["features"].loss = None  # the refused spec, built anyway
    with pytest.raises(ValueError, match="No gradients"):
        fit_one_step(spec)


@pytest.mark.parametrize("metric", ["r2_score", "f1_score"])
def test_matrix_metric_on_rank_3_fails_in_keras_and_rank_2_trains(metric):
    text = f"""nnspec: 1
name: m
seed: 1
inputs:
  x: [3, 4]
layers:
  - Dense: {{units: 2, name: a}}
outputs:
  a: {{loss: mse, metrics: [{metric}]}}
"""
    spec, errs = spec_of(text)
    assert [d.code for d in errs] == ["metric-rank"]
    ok, errs = spec_of(text.replace("metrics: [", "metrics: [mae, ").replace(f", {metric}]", "]"))
    assert errs == []
    ok.outputs["a"].metrics = [metric]  # the refused spec, built anyway
    with pytest.raises(ValueError, match="2D inputs"):
        fit_one_step(ok)
    flat, errs = spec_of(text.replace("x: [3, 4]", "x: [4]"))
    assert errs == []
    fit_one_step(flat)


# ---------------------------------------------------------------- metrics beside an output without loss
def test_metrics_beside_an_output_without_loss_train_and_evaluate_with_loss_targets_only():
    """FINDINGS F4: Keras's metrics container wants a target for every output once any output has
    metrics (KeyError on the output without loss); nnspec's model takes the targets of the outputs
    with a loss, as without metrics."""
    text = """nnspec: 1
name: f4
seed: 1
inputs:
  x: [4]
layers:
  - Dense: {units: 2, name: a}
  - Dense: {units: 3, name: b, from: x}
  - Dense: {units: 1, name: c, from: x}
outputs:
  a: {loss: mse, metrics: [mae]}
  b: null
  c: {metrics: [mse]}
"""
    spec, errs = spec_of(text)
    assert errs == []
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4)).astype("float32")
    y = {"a": rng.standard_normal((4, 2)).astype("float32"), "c": rng.standard_normal((4, 1)).astype("float32")}
    # Keras itself, on the same model compiled the same way by hand: KeyError 'b'
    def raw():
        model = build(spec, compile=False)
        model.compile(optimizer="adam", loss={"a": "mse"}, metrics={"a": ["mae"], "c": ["mse"]})
        return model
    with pytest.raises(KeyError, match="b"):
        raw().train_on_batch(x, {"a": y["a"]})
    with pytest.raises(ValueError, match="different structures"):  # c's target fails the loss container
        raw().train_on_batch(x, y)
    model = build(spec)
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model(x, training=False)
    assert got["a_mae"] == pytest.approx(float(np.mean(np.abs(np.asarray(pred["a"]) - y["a"]))), rel=1e-5)
    assert got["c_mse"] == pytest.approx(float(np.mean((np.asarray(pred["c"]) - y["c"]) ** 2)), rel=1e-5)
    model.train_on_batch(x, y)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    model.train_on_batch(x, {**y, "b": np.zeros((4, 3), "float32")})  # every output's target, as Keras takes
    with pytest.raises(KeyError, match="c"):  # c's metric needs its target: not made up
        model.train_on_batch(x, {"a": y["a"]})
    # without c's metric (the fuzzer's F4): the targets of the outputs with a loss are enough
    spec, errs = spec_of(text.replace("  c: {metrics: [mse]}\n", ""))
    assert errs == []
    model = build(spec)
    assert set(model.train_on_batch(x, {"a": y["a"]}, return_dict=True)) == {"loss", "a_mae"}
    model.evaluate(x, {"a": y["a"]}, verbose=0)


# ---------------------------------------------------------------- metrics and the target the loss takes
def _metric_runs(metric, y_true, y_pred) -> bool:
    """Does the metric, as compile() resolves it (accuracy by the targets), update on these?"""
    from keras.src.trainers.compile_utils import get_metric

    from nnspec.keras.build import metric_object
    try:
        m = get_metric(metric_object(metric), y_true, y_pred)
        m.update_state(y_true, y_pred)
        m.result()
        return True
    except Exception:
        return False


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "mse"])
def test_metric_beside_a_loss_taking_other_targets_is_refused_where_keras_fails(loss):
    """One target per output: class labels for a sparse loss, values shaped like the output for any
    other. Every vocabulary metric, on a (batch, 3, 4) output: nnspec refuses (metric-target)
    exactly the metrics Keras cannot compute on the target the loss takes."""
    from nnspec.vocab import METRICS
    rng = np.random.default_rng(0)
    y_pred = keras.ops.softmax(rng.standard_normal((2, 3, 4)).astype("float32"))
    y_true = (rng.integers(0, 4, size=(2, 3)).astype("int32") if loss.startswith("sparse")
              else rng.uniform(0.1, 1, size=(2, 3, 4)).astype("float32"))
    refused, fails = [], []
    for metric in METRICS:
        if metric in ("r2_score", "f1_score"):
            continue  # (batch, n) only: metric-rank
        _, errs = spec_of(f"""nnspec: 1
name: m
inputs:
  x: [3, 4]
layers:
  - Dense: {{units: 4, activation: softmax, name: a}}
outputs:
  a: {{loss: {loss}, metrics: [{metric}]}}
""")
        if [d.code for d in errs] == ["metric-target"]:
            refused.append(metric)
        else:
            assert errs == []
        if not _metric_runs(metric, y_true, y_pred):
            fails.append(metric)
    assert refused == fails
    assert refused  # both directions have some


def test_mse_metric_beside_sparse_loss_fails_to_train_in_keras():
    """The fuzzer's case: fit fails with Incompatible shapes; with accuracy it trains."""
    text = """nnspec: 1
name: m
seed: 1
inputs:
  x: [3, 4]
layers:
  - Dense: {units: 4, activation: softmax, name: a}
outputs:
  a: {loss: sparse_categorical_crossentropy, metrics: [mse]}
"""
    spec, errs = spec_of(text)
    assert [(d.code, d.span.line) for d in errs] == [("metric-target", 9)]
    ok, errs = spec_of(text.replace("[mse]", "[accuracy]"))
    assert errs == []
    fit_one_step(ok)
    ok.outputs["a"].metrics = ["mse"]  # the refused spec, built anyway
    with pytest.raises(Exception, match="Incompatible shapes|Dimensions must be equal"):
        fit_one_step(ok)


def test_metrics_on_an_integer_output_are_refused_where_keras_fails():
    """A Flatten keeps an int64 input's dtype; Keras computes some metrics on it and fails (fuzzer,
    FINDINGS F14). Every vocabulary metric (the sparse ones aside: they want labels), against
    compile's metric on an int64 output."""
    from nnspec.vocab import METRICS
    rng = np.random.default_rng(0)
    y_pred = rng.integers(0, 3, size=(2, 20)).astype("int64")
    y_true = rng.uniform(0.1, 1, size=(2, 20)).astype("float32")
    refused, fails = [], []
    for metric in METRICS:
        if metric.startswith("sparse"):
            continue
        _, errs = spec_of(f"""nnspec: 1
name: m
inputs:
  x: {{shape: [5, 4], dtype: int64}}
layers:
  - Flatten: {{name: f}}
outputs:
  f: {{loss: mse, metrics: [{metric}]}}
""")
        if errs:
            assert [d.code for d in errs] == ["metric-dtype"], errs
            refused.append(metric)
        if not _metric_runs(metric, y_true, y_pred):
            fails.append(metric)
    assert refused == fails and "hinge" in refused


@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_output_dtype_of_every_op_on_integer_input_matches_keras(dtype):
    """nnspec's dtype pass says which ops give back their input's dtype (Op.keeps_dtype):
    a Cropping1D or an Add of int32 tensors is int32 in Keras, and a float-only layer after it fails
    (fuzzer, FINDINGS F15)."""
    from nnspec.keras.layers import call_layer, make_layer
    from nnspec.ops import CATALOG
    from nnspec.ops.base import dtype_kind
    wrong = []
    for op_name, (args, shapes) in sorted(OP_CASES.items()):
        spec, errs = spec_of(_dtype_spec(op_name, args, shapes, dtype))
        if errs:
            continue
        op = CATALOG[op_name]
        out = call_layer(op, make_layer(op, op.fill(args)), [np.ones([2] + list(s), dtype) for s in shapes])
        got = dtype_kind(keras.backend.standardize_dtype(out.dtype))
        want = dtype_kind(spec.dtypes["op"])
        if got != want:
            wrong.append((op_name, got, want))
    assert wrong == []


@pytest.mark.parametrize("inner,shape", [("MaxPooling2D: {}", [3, 4, 4, 2]), ("Flatten: {}", [3, 4, 2]),
                                         ("ReLU: {}", [3, 4]), ("Dense: {units: 2}", [3, 4])])
def test_a_wrappers_output_dtype_is_its_layers(inner, shape):
    """TimeDistributed(MaxPooling2D) of int32 is int32 in Keras, and a float-only layer after it failed
    while nnspec took it as float32 (fuzzer, seed 33 graph 3540)."""
    from nnspec.keras.layers import call_layer, make_layer
    from nnspec.ops import CATALOG
    from nnspec.ops.base import dtype_kind
    import yaml
    args = {"layer": yaml.safe_load(inner)}
    spec, errs = spec_of(_dtype_spec("TimeDistributed", args, [shape], "int32"))
    assert errs == []
    op = CATALOG["TimeDistributed"]
    out = call_layer(op, make_layer(op, op.fill(args)), [np.ones([2] + shape, "int32")])
    assert dtype_kind(keras.backend.standardize_dtype(out.dtype)) == dtype_kind(spec.dtypes["op"])


@pytest.mark.parametrize("shape,refused", [([1], False), ([3, 1], True), ([3, 2], False)])
def test_sparse_crossentropy_on_a_last_axis_of_1(shape, refused):
    """Keras squeezes an output's last axis of 1 to the labels' rank, then wants one more axis: it
    fails on (batch, 3, 1), not on (batch, 1) (fuzzer, FINDINGS F16)."""
    text = f"""nnspec: 1
name: s
seed: 1
inputs:
  x: {shape}
layers:
  - Dense: {{units: {shape[-1]}, name: a}}
outputs:
  a: {{loss: sparse_categorical_crossentropy}}
"""
    spec, errs = spec_of(text)
    assert [d.code for d in errs] == (["loss-shape"] if refused else [])
    if refused:
        spec, _ = spec_of(text.replace("sparse_categorical_crossentropy", "mse"))
        spec.outputs["a"].loss = "sparse_categorical_crossentropy"  # the refused spec, built anyway
        with pytest.raises(ValueError, match="must have rank"):
            fit_one_step(spec)
    else:
        fit_one_step(spec)


@pytest.mark.parametrize("op", sorted(OP_CASES))
def test_activity_regularizer_is_applied_on_every_op(op):
    """`activity_regularizer` adds sum(y**2) / batch (l2: 1) for the layer's output y, whatever the
    op: SimpleRNN's Keras constructor takes the keyword and drops it, and a spec whose only path
    to a loss was that regularizer failed with "No gradients provided" (fuzzer, FINDINGS F17)."""
    import json
    args, shapes = OP_CASES[op]
    dtype = "int32" if op in ("CategoryEncoding", "Hashing") else "float32"  # of indices
    text = _dtype_spec(op, {**args, "activity_regularizer": {"l2": 1.0}}, shapes, dtype)
    spec, errs = spec_of(text)
    assert errs == []
    model = build(spec)
    x = model_inputs(spec, random_batch(spec, batch=2))
    y = keras.Model(model.inputs, model.get_layer("op").output)(x, training=False)
    model(x, training=False)
    assert len(model.losses) == 1, json.dumps(args)
    assert float(model.losses[0]) == pytest.approx(float(np.sum(np.square(y))) / 2, rel=1e-4)


# ---------------------------------------------------------------- masks (issue 8: Masking)
MASKED_SOFTMAX = """nnspec: 1
name: masked
seed: 1
inputs:
  x: [5, 3]
layers:
  - Masking: {mask_value: 0.0}
  - Dense: {units: 4}
  - SOFTMAX
  - LSTM: {units: 2}
outputs:
  lstm: {loss: mse}
"""


def test_masked_softmax_is_refused_and_keras_fails():
    spec, errs = spec_of(MASKED_SOFTMAX.replace("SOFTMAX", "Softmax: {}"))
    assert [d.code for d in errs] == ["masked-softmax"]
    x = keras.Input((5, 3))
    h = keras.layers.Dense(4)(keras.layers.Masking()(x))
    with pytest.raises(Exception, match="mask"):
        keras.Model(x, keras.layers.Softmax()(h))(np.ones((2, 5, 3), "float32"))
    # the hint: Activation softmax ignores the mask
    spec, errs = spec_of(MASKED_SOFTMAX.replace("SOFTMAX", "Activation: {activation: softmax}"))
    assert errs == []
    fit_one_step(spec)


def test_embedding_input_dim_one_checks():
    """nnspec check's random integers fit every Embedding, also one of input_dim 1 (fuzzer)."""
    from nnspec.keras.check import run_check
    spec, errs = spec_of("nnspec: 1\nname: m\ninputs:\n  x: {shape: [3], dtype: int32}\nlayers:\n"
                         "  - Embedding: {input_dim: 1, output_dim: 2}\noutputs:\n  embedding: {loss: mse}\n")
    assert errs == []
    assert run_check(spec, steps=1, batch=4)["finite"]


AREA = """nnspec: 1
name: a
seed: 1
inputs:
  x: [4, 4, 3]
layers:
  - Conv2D: {{filters: 2, kernel_size: 1, name: c{frozen}}}
  - UpSampling2D: {{interpolation: {interpolation}, name: up}}
  - Flatten: {{}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("interpolation,frozen,refused", [("area", "", True), ("area", ", trainable: false", True),
                                                          ("bilinear", "", False)])
def test_area_upsampling_after_a_layer_with_weights(interpolation, frozen, refused):
    """TensorFlow has no gradient for ResizeArea: fit fails when a layer with weights, even frozen,
    comes before an UpSampling2D with interpolation area (fuzzer, seed 33 graph 1157)."""
    text = AREA.format(interpolation=interpolation, frozen=frozen)
    spec, errs = spec_of(text)
    assert [(d.code, d.span.line) for d in errs] == ([("no-gradient", 8)] if refused else [])
    if refused:
        spec, _ = spec_of(text.replace("interpolation: area", "interpolation: nearest"))
        spec.node("up").args["interpolation"] = "area"  # the refused spec, built anyway
        with pytest.raises(LookupError, match="ResizeArea"):
            fit_one_step(spec)
    else:
        fit_one_step(spec)


def test_area_upsampling_with_no_weights_before_it_trains():
    spec, errs = spec_of(AREA.replace("  - Conv2D: {{filters: 2, kernel_size: 1, name: c{frozen}}}\n", "")
                         .format(interpolation="area"))
    assert errs == []
    fit_one_step(spec)


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                                   "Dot"])
def test_shared_merge_on_another_rank_is_accepted_and_runs(merge):
    """Keras's merge layers pin no input rank: reused on inputs of another rank they run, and
    nnspec refused them (fuzzer, seed 33 graphs 5211, 5712, 5963, 6414)."""
    args = "axes: -1, " if merge == "Dot" else ""
    spec, errs = spec_of(f"""nnspec: 1
name: m
seed: 1
inputs:
  a: [4]
  b: [3, 4]
layers:
  - {merge}: {{{args}from: [a, a], name: m1}}
  - reuse: {{layer: m1, from: [b, b], name: m2}}
  - Flatten: {{from: m2, name: f}}
  - Concatenate: {{from: [m1, f], name: out}}
outputs:
  out: {{loss: mse}}
""")
    assert errs == []
    model = build(spec)
    y = model(model_inputs(spec, random_batch(spec, batch=2)))
    assert tuple(y.shape[1:] if not isinstance(y, dict) else y["out"].shape[1:]) == spec.shapes["out"][1:]


@pytest.mark.parametrize("penalty", ["{expr: '0.01 * mean(square(avg))'}", "{on: avg, l2: 0.01}"])
def test_penalty_on_a_float64_tensor_trains(penalty):
    """An Average of int64 inputs is float64 in Keras; a penalty on it added a float64 term beside the
    float32 losses and the training step failed ("cannot compute Pack"; fuzzer, seed 33 graph 5788)."""
    spec, errs = spec_of(f"""nnspec: 1
name: p
seed: 1
inputs:
  x: {{shape: [5], dtype: int64}}
layers:
  - Average: {{from: [x, x], name: avg}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
penalties:
  - {penalty}
""")
    assert errs == []
    fit_one_step(spec)
