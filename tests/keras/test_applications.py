"""Every keras.applications family through `nnspec import` and back (issue 8, item 6): one model of
each of the 14 families, imported, validated, built by nnspec; the static parameter count and the
built model's are Keras's own `count_params()`, and with every weight copied by layer name the
logits (classifier_activation=None, so a saturated softmax cannot hide a difference) agree.

Small inputs (32x32, Keras's minimum 75 or 71 for the Inception families and Xception) keep it fast;
where a family's public constructors are slow to build, its own builder (the function they all
call, e.g. keras.src.applications.convnext.ConvNeXt) makes a shallow member with every block type.
MobileNetV3Small goes the user's way: saved as .keras, `nnspec import`, `nnspec compile --weights`,
the SavedModel reloaded. The full list of 40 constructors is bench/applications_roundtrip.py
(docs/benchmarks.md)."""
import re

import numpy as np
import pytest

import nnspec
from nnspec.api import check_text
from nnspec.cli import main
from nnspec.keras import quiet_tensorflow
from nnspec.summary import totals

quiet_tensorflow()

import keras  # noqa: E402
from keras.src.applications import convnext, densenet, efficientnet, efficientnet_v2, nasnet, resnet  # noqa: E402

from nnspec.keras.importer import import_model, spec_to_yaml  # noqa: E402

pytestmark = pytest.mark.slow
TOP = {"weights": None, "classes": 10, "classifier_activation": None}
SMALL = {"input_shape": (32, 32, 3), **TOP}


def _resnet(stack, preact, blocks):
    def stack_fn(x):
        for i, filters in enumerate((16, 32, 64, 128)):
            x = stack(x, filters, blocks, **({"stride1": 1} if i == 0 else {}), name=f"conv{i + 2}")
        return x
    return resnet.ResNet(stack_fn, preact, True, name="resnet_small", **SMALL)


FAMILIES = {
    "ConvNeXt": lambda: convnext.ConvNeXt([1, 1, 1, 1], [16, 32, 64, 128], name="convnext_small", **SMALL),
    "DenseNet": lambda: densenet.DenseNet([1, 1, 1, 1], name="densenet_small", **SMALL),
    "EfficientNet": lambda: efficientnet.EfficientNet(0.25, 0.1, 32, name="efficientnet_small", **SMALL),
    "EfficientNetV2": lambda: efficientnet_v2.EfficientNetV2(0.25, 0.1, 32, name="efficientnetv2-b0", **SMALL),
    "InceptionResNetV2": lambda: keras.applications.InceptionResNetV2(input_shape=(75, 75, 3), **TOP),
    "InceptionV3": lambda: keras.applications.InceptionV3(input_shape=(75, 75, 3), **TOP),
    "MobileNet": lambda: keras.applications.MobileNet(alpha=0.25, **SMALL),
    "MobileNetV2": lambda: keras.applications.MobileNetV2(alpha=0.35, **SMALL),
    "NASNet": lambda: nasnet.NASNet(penultimate_filters=96, num_blocks=1, stem_block_filters=8, default_size=32,
                                    **SMALL),
    "ResNet": lambda: _resnet(resnet.stack_residual_blocks_v1, preact=False, blocks=1),
    "ResNetV2": lambda: _resnet(resnet.stack_residual_blocks_v2, preact=True, blocks=2),  # v2 names 1 block twice
    "VGG": lambda: keras.applications.VGG16(**SMALL),
    "Xception": lambda: keras.applications.Xception(input_shape=(71, 71, 3), **TOP),
}


def _leaf_layers(model) -> list:
    """Layers, nested models flattened (as the importer flattens ConvNeXt's stem)."""
    out = []
    for layer in model.layers:
        out += _leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def _copy_weights(reference, model) -> int:
    ours = {layer.name: layer for layer in _leaf_layers(model)}
    copied = 0
    for layer in _leaf_layers(reference):
        if layer.weights:
            ours[layer.name].set_weights(layer.get_weights())
            copied += 1
    return copied


def _images(model, seed=0):
    side = model.inputs[0].shape[1]
    return np.random.default_rng(seed).uniform(0, 255, (2, side, side, 3)).astype("float32")


def _assert_same(want, got):
    want, got = np.asarray(want), np.asarray(got)
    assert want.shape == got.shape and np.ptp(want) > 0  # logits that differ between classes and images
    assert np.max(np.abs(want - got)) <= 1e-5 * np.max(np.abs(want))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_round_trips(family):
    keras.utils.set_random_seed(0)
    model = FAMILIES[family]()
    result = import_model(model)
    spec, diags = check_text(spec_to_yaml(result.data, result.notes), f"{family}.yaml")
    assert [d for d in diags if d.severity == "error"] == []
    assert sum(totals(spec)) == model.count_params()  # nnspec's static count, without TensorFlow
    built = nnspec.build(spec, compile=False)
    assert built.count_params() == model.count_params()
    assert _copy_weights(model, built) > 0
    x = _images(model)
    got = built(x, training=False)
    _assert_same(model(x, training=False), got[result.outputs[0]] if isinstance(got, dict) else got)


def test_mobilenet_v3_file_import_compile_with_weights(tmp_path, capsys):
    """The user's way, on the family of keras.ops nodes (x + 3.0, x * (1 / 6)): a .keras file,
    `nnspec import`, `nnspec compile --weights` of the same file, the SavedModel reloaded."""
    import tensorflow as tf
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(alpha=0.75, **SMALL)
    model.save(tmp_path / "m.keras")
    assert main(["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.yaml"), "-q"]) == 0
    text = (tmp_path / "m.yaml").read_text()
    # hard sigmoid, ReLU(6.0)(x + 3.0) * (1.0 / 6.0): Keras's own auto names (add, add_1, ...)
    assert re.search(r'- Expr: \{expr: "x \+ 3\.0", name: add(_\d+)?\}', text)
    assert re.search(r'- Expr: \{expr: "x \* 0\.16666666666666666", name: multiply(_\d+)?\}', text)
    assert main(["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"), "--weights",
                 str(tmp_path / "m.keras"), "-q"]) == 0
    x = _images(model)
    served = tf.saved_model.load(str(tmp_path / "out")).signatures["serving_default"]
    (got,) = served(**{model.layers[0].name: tf.constant(x)}).values()  # the input layer's name
    _assert_same(model(x, training=False), got.numpy())
    assert "error" not in capsys.readouterr().err
