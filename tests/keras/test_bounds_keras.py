"""nnspec bounds on Keras models (issue 10): .keras files written by plain Keras (Sequential and
Functional) and by nnspec compile --keras, and a spec with --weights. Judged by Keras itself: every
witness reproduces its bound through model.predict within 1e-5, and random inputs from the box stay
inside the sound bounds."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("scipy")

import nnspec  # noqa: E402
from nnspec.cli import _bounds_json  # noqa: E402


def _cli(*argv):
    r = subprocess.run([sys.executable, "-m", "nnspec", "bounds", *argv], capture_output=True, text=True)
    return r


def _outputs(out, names):
    """model.predict's result as a list in the order of ``names`` (a dict for nnspec's models)."""
    if isinstance(out, dict):
        return [out[n] for n in names]
    return out if isinstance(out, list) else [out]


def _predict(model, feeds: dict, names):
    inputs = [t._keras_history[0].name for t in model.inputs]
    return _outputs(model.predict([np.asarray(feeds[n], np.float32)[None] for n in inputs], verbose=0), names)


def _check_witnesses(model, result, tol=1e-5):
    names = list(result["outputs"])
    for o, out in enumerate(result["outputs"].values()):
        for side in ("lower", "upper"):
            for e, w in enumerate(out["witnesses"][side]):
                got = _predict(model, w, names)[o][0].ravel()[e]
                assert abs(got - out[side].ravel()[e]) <= tol * (1 + abs(got)), (side, e, got, out[side])


def _check_sound(model, box, result, n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    names = [t._keras_history[0].name for t in model.inputs]
    xs = [rng.uniform(box[nm][0], box[nm][1], size=(n,) + tuple(t.shape[1:])).astype(np.float32)
          for nm, t in zip(names, model.inputs)]
    outs = _outputs(model.predict(xs, verbose=0, batch_size=4096), list(result["outputs"]))
    for y, out in zip(outs, result["outputs"].values()):
        tol = 1e-5 * (1 + np.abs(y).max())
        assert (y >= out["lower"] - tol).all() and (y <= out["upper"] + tol).all()


@pytest.mark.parametrize("seed", range(4))
def test_plain_keras_sequential_exact(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n_in = 2 + seed % 3
    width = 10 if seed < 2 else 15  # up to 30 ReLUs
    model = keras.Sequential([keras.Input((n_in,), name="x"), keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(width), keras.layers.ReLU(), keras.layers.Dense(2)])
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    path = tmp_path / "m.keras"
    model.save(path)
    r = _cli(str(path), "--box", "x=-1:1", "--method", "exact", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    result = {"outputs": {k: {"lower": np.array(v["lower"]), "upper": np.array(v["upper"]),
                              "witnesses": {s: [{n: np.array(x) for n, x in w.items()} for w in v["witnesses"][s]]
                                            for s in ("lower", "upper")}} for k, v in data["outputs"].items()}}
    _check_witnesses(model, result)
    _check_sound(model, {"x": (-1, 1)}, result)


def test_plain_keras_functional_conv_bn_residual(tmp_path):
    rng = np.random.default_rng(7)
    x = keras.Input((6, 6, 2), name="img")
    h = keras.layers.Conv2D(3, 3, padding="same")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("tanh")(h)
    g = keras.layers.DepthwiseConv2D(3, padding="same")(h)
    h = keras.layers.Add()([h, g])
    h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.ZeroPadding2D(1)(h)
    p = keras.layers.MaxPooling2D(2)(h)
    q = keras.layers.AveragePooling2D(2)(h)
    h = keras.layers.Concatenate()([p, q])
    h = keras.layers.Conv2D(2, 2, strides=2, activation="sigmoid")(h)
    a = keras.layers.GlobalAveragePooling2D()(h)
    b = keras.layers.Flatten()(h)
    b = keras.layers.Dropout(0.5)(keras.layers.Dense(3, activation="elu")(b))
    out = keras.layers.Dense(2, name="head")(keras.layers.Concatenate()([a, b]))
    model = keras.Model(x, out)
    for layer in model.layers:
        ws = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            ws = [rng.uniform(0.5, 2, size=w.shape) for w in ws]
        else:
            ws = [rng.normal(size=w.shape) for w in ws]
        layer.set_weights([w.astype(np.float32) for w in ws])
    path = tmp_path / "f.keras"
    model.save(path)
    box = {"img": (np.zeros((6, 6, 2)), np.full((6, 6, 2), 0.5))}
    for method in ("ibp", "crown"):
        result = nnspec.bounds(str(path), box=box, method=method)
        _check_sound(model, box, result)
    r = _cli(str(path), "--box", "img=0:0.5", "--method", "exact")
    assert r.returncode == 1 and "[bounds-not-exact]" in r.stderr


def test_unsupported_layer(tmp_path):
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.LayerNormalization(name="norm")(x)))
    path = tmp_path / "u.keras"
    model.save(path)
    r = _cli(str(path), "--box", "x=0:1")
    code = "bounds-unsupported"
    assert r.returncode == 1 and f"[{code}]" in r.stderr
    assert "layer 'norm' of type LayerNormalization" in r.stderr and "Dense" in r.stderr and "Conv2D" in r.stderr


def test_nnspec_keras_file_and_spec_with_weights(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("""nnspec: 1
name: net
inputs: {x: {shape: [3], range: [-1, 1]}}
layers:
  - Dense: {units: 8, activation: relu}
  - BatchNormalization: {}
  - Dense: {units: 8}
  - ReLU: {}
  - Dense: {units: 2, name: out}
outputs: {out: {loss: mse}}
""")
    keras_file = tmp_path / "net.keras"
    r = subprocess.run([sys.executable, "-m", "nnspec", "compile", str(spec), "-o", str(tmp_path / "sm"), "--keras",
                        str(keras_file), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    model = nnspec.build(str(spec), compile=False, weights=str(keras_file))
    a = _cli(str(keras_file), "--box", "x=-1:1", "--method", "exact", "--format", "json")
    b = _cli(str(spec), "--weights", str(keras_file), "--method", "exact", "--format", "json")  # range: [-1, 1]
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert np.allclose(ja["outputs"]["out"]["lower"], jb["outputs"]["out"]["lower"], atol=1e-6)
    assert np.allclose(ja["outputs"]["out"]["upper"], jb["outputs"]["out"]["upper"], atol=1e-6)
    result = nnspec.bounds(str(spec), method="exact", weights=str(keras_file))
    _check_witnesses(model, result)
    assert json.loads(_bounds_json(result))["outputs"]["out"]["lower"] == jb["outputs"]["out"]["lower"]


def test_issue_examples_through_keras(tmp_path):
    x = keras.Input((2,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, use_bias=False, name="dense_1")(x))
    model.layers[-1].set_weights([np.array([[-0.5], [1.0]], np.float32)])
    path = tmp_path / "e.keras"
    model.save(path)
    r = _cli(str(path), "--box", "x=0:1", "--method", "exact", "--format", "json")
    assert json.loads(r.stdout) == {"method": "exact", "outputs": {"dense_1": {
        "lower": [-0.5], "upper": [1.0], "witnesses": {"lower": [{"x": [1.0, 0.0]}], "upper": [{"x": [0.0, 1.0]}]}}}}


def test_one_dimensional_layers_and_merges(tmp_path):
    """Conv1D (causal, dilated), DepthwiseConv1D, ZeroPadding1D, 1-D pooling with 'same' padding,
    GlobalAveragePooling1D, Subtract, Average, Reshape and softplus: sound against Keras."""
    rng = np.random.default_rng(11)
    x = keras.Input((9, 2), name="seq")
    a = keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="softplus")(x)
    b = keras.layers.Conv1D(3, 2, padding="same", strides=1)(x)
    h = keras.layers.Subtract()([a, b])
    h = keras.layers.DepthwiseConv1D(3, padding="same", depth_multiplier=2)(h)
    h = keras.layers.ReLU(negative_slope=0.1)(h)
    h = keras.layers.ZeroPadding1D((1, 2))(h)
    p = keras.layers.MaxPooling1D(3, strides=2, padding="same")(h)
    q = keras.layers.AveragePooling1D(3, strides=2, padding="same")(h)
    h = keras.layers.Average()([p, q])
    g = keras.layers.GlobalAveragePooling1D()(h)
    r = keras.layers.Reshape((3, -1))(keras.layers.Flatten()(h))
    out = keras.layers.Concatenate()([keras.layers.Dense(2)(g), keras.layers.Flatten()(keras.layers.Dense(1)(r))])
    model = keras.Model(x, out)
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    box = {"seq": (np.zeros((9, 2)), np.ones((9, 2)))}
    for method in ("ibp", "crown"):
        _check_sound(model, box, nnspec.bounds(model, box=box, method=method))


def test_exact_through_keras_max_pooling(tmp_path):
    rng = np.random.default_rng(12)
    x = keras.Input((4, 4, 1), name="img")
    h = keras.layers.Conv2D(2, 2, activation="relu")(x)
    h = keras.layers.MaxPooling2D(2, padding="same")(h)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(x, out)
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    box = {"img": (0.0, 1.0)}
    result = nnspec.bounds(model, box=box, method="exact")
    _check_witnesses(model, result)
    _check_sound(model, box, result)


def test_keras_ops_calls_are_not_taken_for_layers():
    """x + 1 in a Functional model is a keras.ops operation named Add: bounding it as the Add layer
    of its one tensor input would drop the constant."""
    x = keras.Input((2,), name="x")
    model = keras.Model(x, keras.layers.Dense(1)(x + 1.0))
    with pytest.raises(nnspec.SpecError) as e:
        nnspec.bounds(model, box={"x": (0, 1)})
    assert [d.code for d in e.value.diagnostics] == ["bounds-unsupported"]
    assert "keras.src.ops" in e.value.diagnostics[0].message
