"""Metrics in a spec, statically: the argument schema's positioned errors, expression metrics'
names and ranks, the mapping rules, and both spec forms (tests/keras/test_metrics.py measures
the same against Keras)."""
import textwrap

import pytest

import nnspec
from nnspec.api import check_text
from nnspec.source.dsl import load_dsl
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source.yaml_loader import load_yaml

SPEC = """\
nnspec: 1
name: m
inputs:
  x: [5]
layers:
  - Dense: {units: 3, activation: sigmoid, name: p}
outputs:
  p:
    loss: binary_crossentropy
    metrics: METRICS
"""


def diags_of(metrics):
    _, diags = nnspec.check_text(SPEC.replace("METRICS", metrics).encode(), "m.yaml")
    return [(d.code, d.span.line, d.span.col, d.hint) for d in diags]


def test_metric_arguments_are_checked_with_positions_and_hints():
    assert diags_of("[{AUC: {curv: PR}}]") == [("unknown-argument", 10, 22, "did you mean 'curve'?")]
    assert diags_of("[{AUC: {curve: XY}}]")[0][:2] == ("bad-value", 10)
    assert diags_of("[{MeanIoU: {}}]") == [("missing-argument", 10, 16, "add num_classes: ... to its arguments")]
    assert diags_of("[{MeanIou: {num_classes: 3}}]") == [("unknown-metric", 10, 16, "did you mean 'MeanIoU'?")]
    assert diags_of("[{Precision: {thresholds: 1.5}}]")[0][:2] == ("out-of-range", 10)
    assert diags_of("[{AUC: {curve: PR, name: pr_auc}}, {auc: {name: roc}}]") == []


def test_mapping_rules():
    assert [d[0] for d in diags_of("[{AUC: {}, name: x}]")] == ["bad-metric"]
    assert [d[0] for d in diags_of("[{AUC: {}, MeanSquaredError: {}}]")] == ["bad-metric"]
    assert [d[0] for d in diags_of("[{name: x}]")] == ["bad-metric"]


def test_expression_metric_names_and_axes():
    assert diags_of('[{expr: "2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))", name: dice}]') == []
    assert [d[:2] for d in diags_of('[{expr: "sum(y_true * yhat)", name: d}]')] == [("unknown-tensor", 10)]
    assert [d[:2] for d in diags_of('[{expr: "sum(y_pred, axis=2)"}]')] == [("bad-expression", 10)]
    assert [d[0] for d in diags_of('[{expr: "mean(y_pred)", name: "2x"}]')] == ["bad-name"]


def test_custom_metric_needs_permission():
    assert [d[0] for d in diags_of('[{custom: "mymetrics:Half"}]')] == ["import-not-allowed"]
    _, diags = nnspec.check_text(SPEC.replace("METRICS", '[{custom: "mymetrics:Half"}]').encode(), "m.yaml",
                                 allow_import=["mymetrics"])
    assert diags == []


def test_both_forms_round_trip():
    text = SPEC.replace("METRICS", '[accuracy, {AUC: {curve: PR, name: pr}}, {Precision: {thresholds: 0.7}}, '
                                   '{expr: "2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))", name: dice}, '
                                   '{expr: "mean(y_pred)"}, {custom: "m:M"}]')
    doc, _ = load_yaml(text.encode(), "m.yaml")
    nns = to_dsl(doc.data)
    assert "AUC(curve=PR, name=pr)" in nns and "expr(mean(y_pred))" in nns
    back, diags = load_dsl(nns.encode(), "m.nns")
    assert diags == [] and back.data == doc.data
    assert load_yaml(to_yaml(back.data).encode(), "m.yaml")[0].data == doc.data


def _spec(loss, metrics="[]", first="Masking: {}"):
    return (f"nnspec: 1\nname: m\ninputs: {{x: [8, 7]}}\nlayers:\n  - {first}\n  - Dense: {{units: 7, name: out}}\n"
            f"outputs: {{out: {{loss: {loss}, metrics: {metrics}}}}}\n")


@pytest.mark.parametrize("loss, metrics, code", [
    ("{categorical_crossentropy: {axis: 3}}", "[]", "loss-args"),  # outside (batch, 8, 7)
    ("{cosine_similarity: {axis: -4}}", "[]", "loss-args"),
    ("{categorical_crossentropy: {axis: -2}}", "[]", "loss-args"),  # masked, not the last axis
    ("{cosine_similarity: {axis: 1}}", "[]", "loss-args"),
    ("mse", "[{cosine_similarity: {axis: 1}}]", "metric-args"),
    ("mse", "[{categorical_crossentropy: {axis: -2}}]", "metric-args"),
])
def test_loss_and_metric_axes_that_fail_in_keras_are_refused(loss, metrics, code):
    """Measured in Keras: an axis outside the output, or one other than the last on an output
    carrying a mask (Masking before it), fails at the first training step (fuzzer, seed 53)."""
    _, diags = check_text(_spec(loss, metrics), "s.yaml")
    assert [d.code for d in diags] == [code], [d.format() for d in diags]
    assert diags[0].hint and diags[0].span.line == 7


@pytest.mark.parametrize("loss, metrics", [
    ("{categorical_crossentropy: {axis: 2}}", "[{cosine_similarity: {axis: -1}}]"),  # the last axis, masked
    ("{categorical_crossentropy: {axis: -2}}", "[{cosine_similarity: {axis: 1}}]"),
])
def test_axes_that_keras_takes_are_valid(loss, metrics):
    first = "Masking: {}" if "-2" not in loss else "Dropout: {rate: 0.1}"  # no mask: any axis inside
    _, diags = check_text(_spec(loss, metrics, first), "s.yaml")
    assert not diags, [d.format() for d in diags]
