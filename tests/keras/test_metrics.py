"""Metrics with arguments ({AUC: {curve: PR}}), expression metrics and custom metrics, against
Keras: the values after evaluate equal those of the same keras.metrics object computed by hand;
what nnspec refuses statically is what Keras fails on (the spec built anyway), and what it
accepts trains."""
import inspect
import sys
import textwrap

import numpy as np
import pytest

import nnspec
from nnspec import vocab
from nnspec.keras import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from nnspec.keras.build import build  # noqa: E402


def spec_of(text, **kw):
    spec, diags = nnspec.check_text(textwrap.dedent(text).encode(), "m.yaml", **kw)
    return spec, diags


def errors(diags):
    return [d for d in diags if d.severity == "error"]


# ---------------------------------------------------------------- the table is Keras's
@pytest.mark.parametrize("cls", sorted(vocab.METRIC_CLASSES))
def test_every_metric_class_and_argument_is_keras(cls):
    params = inspect.signature(getattr(keras.metrics, cls).__init__).parameters
    for arg in vocab.METRIC_CLASSES[cls]:
        assert arg in params, f"{cls} has no {arg}"
    required = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p != "self"
                and v.kind is v.POSITIONAL_OR_KEYWORD]
    assert sorted(required) == sorted(vocab.METRIC_REQUIRED.get(cls, ())), cls


def test_every_metric_name_stands_for_its_class():
    for name, cls in vocab.METRIC_NAME_CLASS.items():
        if name == "accuracy":
            continue  # the string is resolved by Keras from the targets; the mapping is Accuracy
        assert type(keras.metrics.get(name)).__name__ in (cls, "MeanMetricWrapper", "function") \
            or keras.metrics.get(name).__name__ in (name, "mean_squared_error", "mean_absolute_error",
                                                    "mean_absolute_percentage_error",
                                                    "mean_squared_logarithmic_error"), name


# ---------------------------------------------------------------- values equal Keras's own objects
SPEC = """\
nnspec: 1
name: m
seed: 3
inputs:
  x: [5]
layers:
  - Dense: {units: 3, activation: sigmoid, name: p}
outputs:
  p:
    loss: binary_crossentropy
    metrics: METRICS
"""


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype("float32"), rng.integers(0, 2, (n, 3)).astype("float32")


@pytest.mark.parametrize("metric,make", [
    ("{AUC: {curve: PR}}", lambda: keras.metrics.AUC(curve="PR")),
    ("{AUC: {num_thresholds: 50, summation_method: minoring}}",
     lambda: keras.metrics.AUC(num_thresholds=50, summation_method="minoring")),
    ("{AUC: {multi_label: true, num_labels: 3, label_weights: [1, 2, 0.5]}}",
     lambda: keras.metrics.AUC(multi_label=True, num_labels=3, label_weights=[1, 2, 0.5])),
    ("{Precision: {thresholds: 0.7}}", lambda: keras.metrics.Precision(thresholds=0.7)),
    ("{Recall: {class_id: 2}}", lambda: keras.metrics.Recall(class_id=2)),
    ("{precision: {top_k: 2}}", lambda: keras.metrics.Precision(top_k=2)),
    ("{BinaryAccuracy: {threshold: 0.3}}", lambda: keras.metrics.BinaryAccuracy(threshold=0.3)),
    ("{MeanIoU: {num_classes: 3, sparse_y_true: false, sparse_y_pred: false}}",
     lambda: keras.metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False)),
    ("{OneHotMeanIoU: {num_classes: 3}}", lambda: keras.metrics.OneHotMeanIoU(3)),
    ("{BinaryIoU: {target_class_ids: [1], threshold: 0.4}}",
     lambda: keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.4)),
    ("{F1Score: {average: macro, threshold: 0.5}}", lambda: keras.metrics.F1Score(average="macro", threshold=0.5)),
    ("{FBetaScore: {average: micro, beta: 2.0, threshold: 0.5}}",
     lambda: keras.metrics.FBetaScore(average="micro", beta=2.0, threshold=0.5)),
    ("{PrecisionAtRecall: {recall: 0.5}}", lambda: keras.metrics.PrecisionAtRecall(0.5)),
    ("{SensitivityAtSpecificity: {specificity: 0.5, class_id: 1}}",
     lambda: keras.metrics.SensitivityAtSpecificity(0.5, class_id=1)),
    ("{TruePositives: {thresholds: 0.6}}", lambda: keras.metrics.TruePositives(thresholds=0.6)),
    ("{BinaryCrossentropy: {label_smoothing: 0.2}}", lambda: keras.metrics.BinaryCrossentropy(label_smoothing=0.2)),
    ("{R2Score: {class_aggregation: variance_weighted_average}}",
     lambda: keras.metrics.R2Score(class_aggregation="variance_weighted_average")),
    ("{PearsonCorrelation: {axis: 0}}", lambda: keras.metrics.PearsonCorrelation(axis=0)),
    ("{CosineSimilarity: {axis: 0}}", lambda: keras.metrics.CosineSimilarity(axis=0)),
])
def test_metric_with_arguments_equals_the_keras_object_by_hand(metric, make):
    spec, diags = spec_of(SPEC.replace("METRICS", f"[{metric}]"))
    assert errors(diags) == [], diags
    model = build(spec)
    x, y = _data()
    model.fit(x, {"p": y}, epochs=1, batch_size=4, verbose=0)
    got = model.evaluate(x, {"p": y}, batch_size=4, verbose=0, return_dict=True)
    ref = make()
    for i in range(0, len(x), 4):  # the same batches, by hand
        ref.update_state(y[i:i + 4], model.predict(x[i:i + 4], verbose=0)["p"])
    (key,) = [k for k in got if k != "loss"]
    np.testing.assert_allclose(got[key], float(ref.result()), rtol=1e-5, atol=1e-6)


def test_a_metric_is_named_by_its_name_argument():
    spec, diags = spec_of(SPEC.replace("METRICS", "[{AUC: {curve: PR, name: pr_auc}}, {auc: {name: roc_auc}}]"))
    assert errors(diags) == []
    model = build(spec)
    x, y = _data()
    got = model.evaluate(x, {"p": y}, verbose=0, return_dict=True)
    assert {"pr_auc", "roc_auc"} <= set(got)


# ---------------------------------------------------------------- expression metrics
DICE = "2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))"


def test_expression_metric_is_the_mean_of_its_batch_values():
    spec, diags = spec_of(SPEC.replace("METRICS", f'[{{expr: "{DICE}", name: dice}}, '
                                                   '{expr: "mean(abs(y_true - y_pred), axis=-1)", name: mae2}, mae]'))
    assert errors(diags) == [], diags
    model = build(spec)
    x, y = _data()
    got = model.evaluate(x, {"p": y}, batch_size=4, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)["p"]
    dice = [2 * np.sum(y[i:i + 4] * p[i:i + 4]) / (np.sum(y[i:i + 4]) + np.sum(p[i:i + 4]))
            for i in range(0, 12, 4)]
    np.testing.assert_allclose(got["dice"], np.mean(dice), rtol=1e-5)
    ref = keras.metrics.MeanAbsoluteError()
    ref.update_state(y, p)
    np.testing.assert_allclose(got["mae2"], float(ref.result()), rtol=1e-5)
    np.testing.assert_allclose(got["mae2"], got["mae"], rtol=1e-5)


def test_expression_metric_saves_as_text_and_loads_with_safe_mode(tmp_path):
    import nnspec.keras.registry  # noqa: F401
    # named: Keras makes an unnamed AUC's name unique in the process (auc_1 after another test's AUC)
    spec, _ = spec_of(SPEC.replace("METRICS", f'[{{expr: "{DICE}", name: dice}}, {{AUC: {{curve: PR, name: pr_auc}}}}]'))
    model = build(spec)
    x, y = _data()
    model.fit(x, {"p": y}, epochs=1, batch_size=4, verbose=0)
    before = model.evaluate(x, {"p": y}, batch_size=4, verbose=0, return_dict=True)
    path = tmp_path / "m.keras"
    model.save(path)
    import zipfile
    config = zipfile.ZipFile(path).read("config.json").decode()
    assert DICE in config and "ExprMetric" in config
    loaded = keras.models.load_model(path)  # safe_mode=True
    after = loaded.evaluate(x, {"p": y}, batch_size=4, verbose=0, return_dict=True)
    for k in ("dice", "pr_auc"):
        np.testing.assert_allclose(after[k], before[k], rtol=1e-5)


# ---------------------------------------------------------------- custom metrics
MODULE = '''
import keras

class Half(keras.metrics.Mean):
    def __init__(self, name="half", **kw):
        super().__init__(name=name, **kw)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(0.5 * keras.ops.abs(y_true - y_pred), sample_weight)


def gap(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)
'''


def test_custom_metric_needs_allow_import_and_equals_keras(tmp_path, monkeypatch):
    (tmp_path / "mymetrics.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = SPEC.replace("nnspec: 1\n", "nnspec: 1\nrequires_import: [mymetrics]\n").replace(
        "METRICS", '[{custom: "mymetrics:Half"}, {custom: "mymetrics:gap"}]')
    _, diags = spec_of(text)
    assert [d.code for d in diags] == ["import-not-allowed", "import-not-allowed"]
    assert "mymetrics" not in sys.modules  # validation imports nothing
    spec, diags = spec_of(text, allow_import=["mymetrics"])
    assert errors(diags) == []
    model = build(spec)
    x, y = _data()
    got = model.evaluate(x, {"p": y}, batch_size=4, verbose=0, return_dict=True)
    ref = keras.metrics.MeanAbsoluteError()
    ref.update_state(y, model.predict(x, verbose=0)["p"])
    np.testing.assert_allclose(got["half"], 0.5 * float(ref.result()), rtol=1e-5)
    np.testing.assert_allclose(got["gap"], float(ref.result()), rtol=1e-5)


# ---------------------------------------------------------------- static checks against Keras
def _spec(units, activation, loss, shape="[5]", reshape=None):
    layers = f"  - Dense: {{units: {units}, activation: {activation}, name: d}}\n"
    name = "d"
    if reshape:
        layers += f"  - Reshape: {{target_shape: {reshape}, name: r}}\n"
        name = "r"
    return (f"nnspec: 1\nname: m\nseed: 1\ninputs:\n  x: {shape}\nlayers:\n{layers}outputs:\n"
            f"  {name}: {{loss: {loss}, metrics: METRICS}}\n"), name


def _fits(spec, name, metric) -> str | None:
    """None if one step of fit and an evaluate run, else Keras's error."""
    from nnspec.keras.check import synthetic_targets
    from nnspec.keras.export import model_inputs, random_batch
    from nnspec.keras.build import metric_object
    spec.outputs[name].metrics = [metric]
    try:
        metric_object(metric)
    except Exception as e:  # noqa: BLE001 - Keras's constructor refuses it
        return str(e)
    model = build(spec)
    x = model_inputs(spec, random_batch(spec, batch=4))
    y = synthetic_targets(spec, 4, model=model)
    try:
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        model.evaluate(x, y, verbose=0)
    except Exception as e:  # noqa: BLE001
        return str(e)
    return None


SPARSE = "sparse_categorical_crossentropy"
# (units, activation, loss, reshape, metric, code nnspec gives: an error Keras must fail on, a warning or None)
CASES = [
    (3, "softmax", SPARSE, None, {"MeanIoU": {"num_classes": 3}}, ("metric-target", "metric-range")),
    (3, "softmax", SPARSE, None, {"MeanIoU": {"num_classes": 3, "sparse_y_pred": False}}, None),
    (3, "softmax", "categorical_crossentropy", None, {"MeanIoU": {"num_classes": 3, "sparse_y_pred": False}},
     "metric-target"),
    (3, "softmax", "categorical_crossentropy", None, {"MeanIoU": {"num_classes": 3}}, "metric-range"),
    (3, "softmax", SPARSE, None, {"IoU": {"num_classes": 3, "target_class_ids": [3], "sparse_y_pred": False}},
     "metric-args"),
    (3, "softmax", SPARSE, None, {"IoU": {"num_classes": 3, "target_class_ids": [2], "sparse_y_pred": False}}, None),
    (3, "softmax", "categorical_crossentropy", None, {"OneHotMeanIoU": {"num_classes": 2}}, "metric-range"),
    (3, "sigmoid", SPARSE, None, {"AUC": {}}, "metric-target"),
    (3, "sigmoid", SPARSE, None, {"Precision": {}}, "metric-target"),
    (3, "sigmoid", "binary_crossentropy", None, {"AUC": {"multi_label": True, "num_labels": 5}}, "metric-args"),
    (3, "sigmoid", "binary_crossentropy", None, {"AUC": {"multi_label": True, "num_labels": 3}}, None),
    (3, "sigmoid", "binary_crossentropy", None, {"AUC": {"label_weights": [1, 2]}}, "metric-args"),
    (6, "sigmoid", "binary_crossentropy", "[2, 3]", {"AUC": {"multi_label": True}}, "metric-args"),
    (6, "sigmoid", "binary_crossentropy", "[2, 3]", {"AUC": {}}, None),
    (3, "linear", "mse", None, {"AUC": {}}, "metric-range"),
    (3, "linear", "mse", None, {"AUC": {"from_logits": True}}, None),
    (3, "sigmoid", "binary_crossentropy", None, {"Precision": {"class_id": 3}}, "metric-args"),
    (3, "sigmoid", "binary_crossentropy", None, {"Precision": {"class_id": 2}}, None),
    (3, "sigmoid", "binary_crossentropy", None, {"Recall": {"top_k": 4}}, "metric-args"),
    (3, "sigmoid", "binary_crossentropy", None, {"Recall": {"top_k": 3}}, None),
    (3, "sigmoid", "binary_crossentropy", None, {"RecallAtPrecision": {"precision": 0.5, "class_id": 5}},
     "metric-args"),
    (6, "sigmoid", "binary_crossentropy", "[2, 3]", {"F1Score": {}}, "metric-rank"),
    (6, "sigmoid", "binary_crossentropy", "[2, 3]", {"R2Score": {}}, "metric-rank"),
    (3, "sigmoid", "binary_crossentropy", None, {"R2Score": {"num_regressors": 1}}, "metric-args"),
    (3, "sigmoid", "binary_crossentropy", None, {"R2Score": {"num_regressors": 0}}, None),
    (3, "softmax", "categorical_crossentropy", None, {"CategoricalCrossentropy": {"axis": 2}}, "metric-args"),
    (3, "softmax", "categorical_crossentropy", None, {"CosineSimilarity": {"axis": -3}}, "metric-args"),
    (3, "softmax", "categorical_crossentropy", None, {"TopKCategoricalAccuracy": {}}, "metric-args"),
    (3, "softmax", "categorical_crossentropy", None, {"TopKCategoricalAccuracy": {"k": 2}}, None),
    (3, "softmax", SPARSE, None, {"SparseTopKCategoricalAccuracy": {"k": 2}}, None),
]


@pytest.mark.parametrize("units,activation,loss,reshape,metric,code", CASES,
                         ids=[f"{next(iter(c[4]))}{i}" for i, c in enumerate(CASES)])
def test_what_nnspec_refuses_keras_fails_on(units, activation, loss, reshape, metric, code):
    text, name = _spec(units, activation, loss, reshape=reshape)
    import json
    _, diags = spec_of(text.replace("METRICS", "[" + json.dumps(metric) + "]"))
    codes = list(code) if isinstance(code, tuple) else [code] if code else []
    assert [d.code for d in diags] == codes, diags
    severity = "error" if errors(diags) else None
    base, base_diags = spec_of(text.replace("METRICS", "[]"))
    assert errors(base_diags) == []
    failure = _fits(base, name, metric)
    if severity == "error":
        assert failure is not None, f"nnspec refuses {metric} but Keras trains it"
    else:
        assert failure is None, failure


def test_top_k_warning_is_true_the_metric_is_always_one():
    text, name = _spec(3, "softmax", "categorical_crossentropy")
    spec, _ = spec_of(text.replace("METRICS", "[{TopKCategoricalAccuracy: {}}]"))
    model = build(spec)
    x, _ = _data()
    y = np.eye(3)[np.random.default_rng(1).integers(0, 3, 12)].astype("float32")
    assert model.evaluate(x, {name: y}, verbose=0, return_dict=True)["top_k_categorical_accuracy"] == 1.0


def test_onehot_iou_warning_is_true_classes_past_num_classes_are_left_out():
    """num_classes 2 on 3 classes: Keras gives another value than the metric with num_classes 3."""
    rng = np.random.default_rng(0)
    y = np.eye(3)[rng.integers(0, 3, 64)].astype("float32")
    p = rng.uniform(size=(64, 3)).astype("float32")
    small, full = keras.metrics.OneHotMeanIoU(2), keras.metrics.OneHotMeanIoU(3)
    small.update_state(y, p)
    full.update_state(y, p)
    assert abs(float(small.result()) - float(full.result())) > 1e-3


# ---------------------------------------------------------------- nnspec import
def test_import_writes_metric_classes_with_their_arguments(tmp_path):
    from nnspec.keras.expr import ExprMetric
    from nnspec.keras.importer import import_model
    M = keras.metrics
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, {"p": keras.layers.Dense(3, activation="sigmoid", name="p")(inp)})
    model.compile("adam", {"p": "binary_crossentropy"},
                  metrics={"p": [M.AUC(curve="PR"), M.AUC(name="roc"), M.Precision(thresholds=0.7),
                                 M.AUC(thresholds=[0.2, 0.5]), ExprMetric(DICE, name="dice"), M.BinaryAccuracy(),
                                 M.Mean()]})
    model.save(tmp_path / "m.keras")
    result = import_model(keras.models.load_model(tmp_path / "m.keras"))
    assert result.data["outputs"]["p"]["metrics"] == [
        {"AUC": {"curve": "PR"}}, {"AUC": {"name": "roc"}}, {"Precision": {"thresholds": 0.7}},
        {"AUC": {"thresholds": [0.2, 0.5]}}, {"expr": DICE, "name": "dice"}, "binary_accuracy"]
    assert any("Mean" in n for n in result.notes)


LOSS_AXIS_SPEC = """
nnspec: 1
name: m
inputs: {x: [5, 4]}
layers:
  - FIRST
  - Dense: {units: 4, name: out}
outputs: {out: {loss: LOSS, metrics: METRICS}}
"""


@pytest.mark.parametrize("first, loss, metric", [
    ("Dropout: {rate: 0.1}", {"categorical_crossentropy": {"from_logits": True, "axis": -2}}, None),
    ("Dropout: {rate: 0.1}", {"categorical_crossentropy": {"from_logits": True, "axis": 1}}, None),
    ("Dropout: {rate: 0.1}", "mse", {"categorical_crossentropy": {"from_logits": True, "axis": -2}}),
    ("Dropout: {rate: 0.1}", {"categorical_crossentropy": {"axis": 3}}, None),
    ("Masking: {}", {"categorical_crossentropy": {"axis": -2}}, None),
    ("Masking: {}", "mse", {"cosine_similarity": {"axis": 1}}),
    ("Masking: {}", {"cosine_similarity": {"axis": -1}}, {"cosine_similarity": {"axis": 2}}),
])
def test_loss_and_metric_axes_against_keras(first, loss, metric):
    """What nnspec refuses (an axis outside the output; not the last on a masked output) Keras fails
    on; what it accepts trains a step, and a negative axis means what Keras means by it (TensorFlow's
    softmax cross-entropy fails on one other than -1: nnspec counts it from the front; seed 53)."""
    import json
    text = (LOSS_AXIS_SPEC.replace("FIRST", first).replace("LOSS", json.dumps(loss))
            .replace("METRICS", json.dumps([metric] if metric else [])))
    spec, diags = spec_of(text)
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    y = np.random.default_rng(1).uniform(0.1, 1, size=(3, 5, 4)).astype("float32")
    inp = keras.Input((5, 4))
    h = keras.layers.Masking()(inp) if first.startswith("Masking") else keras.layers.Dropout(0.1)(inp)
    raw = keras.Model(inp, keras.layers.Dense(4)(h))

    def keras_object(value, module):  # the spec's words, as Keras itself takes them
        if isinstance(value, str):
            return value
        (name, args), = value.items()
        return getattr(module, "".join(p.capitalize() for p in name.split("_")))(**args)
    raw.compile("sgd", loss=keras_object(loss, keras.losses),
                metrics=[keras_object(metric, keras.metrics)] if metric else None)
    try:
        raw.train_on_batch(x, y)
        keras_fails = None
    except Exception as e:  # noqa: BLE001 (Keras's refusal, whatever its type)
        keras_fails = e
    if errors(diags):
        assert keras_fails is not None, f"nnspec refuses {loss} / {metric} but Keras trains it"
        return
    model = build(spec)
    assert np.isfinite(model.train_on_batch(x, y, return_dict=True)["loss"])
    if isinstance(loss, dict) and "categorical_crossentropy" in loss:
        args = loss["categorical_crossentropy"]
        axis = args["axis"] % 3  # the same axis, counted from the front: what Keras computes without failing
        pred = model(x)["out"]
        want = keras.losses.CategoricalCrossentropy(**{**args, "axis": axis})(y, pred)
        got = model.loss["out"](y, pred) if isinstance(model.loss, dict) else model.loss(y, pred)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
