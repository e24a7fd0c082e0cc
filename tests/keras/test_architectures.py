"""Real architectures written with blocks: specs/resnet50.yaml and
specs/mobilenet_v2.yaml reproduce keras.applications.ResNet50 and MobileNetV2
(weights=None): same parameter count, same layer names, same predictions once
the keras.applications weights are copied over by layer name."""
import pathlib
import subprocess
import sys

import pytest

import nnspec
from nnspec.summary import totals

ROOT = pathlib.Path(__file__).parent.parent.parent
APPS = ROOT / "specs"

CASES = {
    # spec -> (keras.applications constructor, parameter count, the Keras source it replaces)
    "resnet50": ("ResNet50", 25_636_712, "resnet.py"),
    "mobilenet_v2": ("MobileNetV2", 3_538_984, "mobilenet_v2.py"),
}


def _spec(name):
    return APPS / f"{name}.yaml"


@pytest.mark.parametrize("name", CASES)
def test_validates_with_no_diagnostics(name):
    assert nnspec.validate(_spec(name)) == []
    r = subprocess.run([sys.executable, "-m", "nnspec", "validate", "--strict", str(_spec(name))],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", CASES)
def test_static_parameter_count(name):
    trainable, frozen = totals(nnspec.load(_spec(name)))
    assert trainable + frozen == CASES[name][1]


@pytest.mark.parametrize("name", CASES)
def test_same_layers_and_predictions_as_keras_applications(name):
    pytest.importorskip("tensorflow")
    import keras
    import numpy as np

    keras.backend.clear_session()  # Keras's auto names (global_average_pooling2d) count per session
    reference = getattr(keras.applications, CASES[name][0])(weights=None)
    model = nnspec.build(_spec(name), compile=False)

    def named(m):
        return {layer.name: layer for layer in m.layers if not isinstance(layer, keras.layers.InputLayer)}

    ours, theirs = named(model), named(reference)
    assert sorted(ours) == sorted(theirs)
    assert len(ours) == len(model.layers) - 1
    assert model.count_params() == reference.count_params() == CASES[name][1]

    # Fresh batch norms are identities at inference and the signal of a random
    # MobileNetV2 fades to ~1e-11 by its last block: give the batch norms random
    # scales and offsets and calibrate their moving statistics on one batch
    # (momentum 0), so that the two inputs below give clearly different outputs.
    rng = np.random.default_rng(0)

    def images(n):
        x = rng.uniform(-1, 1, size=(n, 224, 224, 3)).astype("float32")
        for k in range(1, n, 2):  # smooth images between the noisy ones
            x[k] = np.linspace(-1, 1, 224 * 224 * 3).reshape(224, 224, 3) * rng.uniform(0.5, 1)
        return x

    norms = [layer for layer in reference.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        n = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, n))
        layer.beta.assign(rng.uniform(-0.2, 0.2, n))
        layer.momentum, momentum = 0.0, layer.momentum
    reference(images(4), training=True)
    for layer in norms:
        layer.momentum = momentum

    for layer_name, layer in ours.items():
        assert type(layer) is type(theirs[layer_name]), layer_name
        layer.set_weights(theirs[layer_name].get_weights())

    # the pooled features (before the classifier) and the predictions
    pooled = reference.layers[-2].name
    probe = keras.Model(reference.inputs, [reference.get_layer(pooled).output, reference.outputs[0]])
    ours_probe = keras.Model(model.inputs, [model.get_layer(pooled).output, model.get_layer("predictions").output])
    x = images(2)
    feat_ref, pred_ref = (np.asarray(t) for t in probe([x], training=False))
    feat, pred = (np.asarray(t) for t in ours_probe([x], training=False))
    print(f"{name}: max |diff| predictions {np.max(np.abs(pred - pred_ref)):.2g}, "
          f"pooled features {np.max(np.abs(feat - feat_ref)):.2g} (features up to {np.max(np.abs(feat_ref)):.3g}, "
          f"the two inputs' predictions differ by up to {np.max(np.abs(pred_ref[0] - pred_ref[1])):.2g})")
    assert pred.shape == pred_ref.shape == (2, 1000)
    assert float(np.max(np.abs(pred - pred_ref))) <= 1e-4
    assert float(np.max(np.abs(feat - feat_ref))) <= 1e-4 * max(1.0, float(np.max(np.abs(feat_ref))))
    # the comparison can fail: the two inputs are told apart far beyond the tolerance
    assert float(np.max(np.abs(pred_ref[0] - pred_ref[1]))) > 1e-3
    assert float(np.max(np.abs(feat_ref[0] - feat_ref[1]))) > 0.1


def test_line_counts():
    import importlib.util
    found = importlib.util.find_spec("keras")
    keras_dir = pathlib.Path(found.origin).parent / "src" / "applications" if found else ROOT
    for name, (cls, _, source) in CASES.items():
        spec_lines = len(_spec(name).read_text().splitlines())
        py = keras_dir / source
        py_lines = len(py.read_text().splitlines()) if py.exists() else None
        print(f"{name}.yaml: {spec_lines} lines; keras {source} ({cls} and its family): {py_lines} lines")
        assert spec_lines < 120, (name, spec_lines)
