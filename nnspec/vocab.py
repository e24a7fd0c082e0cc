"""Everything a spec can name that is not a layer: activations, initializers,
regularizers, constraints, losses, metrics, optimizers. Each is a table and a
JSON Schema fragment; ``schema.py`` puts them under ``definitions``.

The names are Keras's own (checked against Keras in tests/test_vocab_parity.py).
"""
from __future__ import annotations

NUM = {"type": "number"}
POS_NUM = {"type": "number", "exclusiveMinimum": 0}
NONNEG_NUM = {"type": "number", "minimum": 0}
SEED = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
AXES = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}],
        "description": "an axis or a list of axes"}

ACTIVATIONS = [
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
]

# name -> {arg: schema}
INITIALIZERS = {
    "glorot_uniform": {"seed": SEED},
    "glorot_normal": {"seed": SEED},
    "he_uniform": {"seed": SEED},
    "he_normal": {"seed": SEED},
    "lecun_uniform": {"seed": SEED},
    "lecun_normal": {"seed": SEED},
    "zeros": {},
    "ones": {},
    "constant": {"value": NUM},
    "random_normal": {"mean": NUM, "stddev": POS_NUM, "seed": SEED},
    "random_uniform": {"minval": NUM, "maxval": NUM, "seed": SEED},
    "truncated_normal": {"mean": NUM, "stddev": POS_NUM, "seed": SEED},
    "orthogonal": {"gain": NUM, "seed": SEED},
    "identity": {"gain": NUM},
    "variance_scaling": {
        "scale": POS_NUM,
        "mode": {"enum": ["fan_in", "fan_out", "fan_avg"]},
        "distribution": {"enum": ["truncated_normal", "untruncated_normal", "uniform"]},
        "seed": SEED,
    },
}

REGULARIZERS = {
    "l1": NONNEG_NUM,
    "l2": NONNEG_NUM,
    "l1_l2": {"type": "object", "properties": {"l1": NONNEG_NUM, "l2": NONNEG_NUM}, "additionalProperties": False},
    "orthogonal_regularizer": {
        "type": "object",
        "properties": {"factor": NONNEG_NUM, "mode": {"enum": ["rows", "columns"]}},
        "additionalProperties": False,
    },
}

CONSTRAINTS = {
    "max_norm": {"max_value": POS_NUM, "axis": AXES},
    "min_max_norm": {"min_value": NONNEG_NUM, "max_value": POS_NUM, "rate": NONNEG_NUM, "axis": AXES},
    "non_neg": {},
    "unit_norm": {"axis": AXES},
    # nnspec's own: l2-normalise over every axis but the last (a projection constraint,
    # not Salimans & Kingma's reparameterisation, which is the WeightNorm wrapper).
    "weight_norm": {"eps": POS_NUM},
}

LOSSES = {
    "binary_crossentropy": {"from_logits": {"type": "boolean"}, "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1}},
    "binary_focal_crossentropy": {"from_logits": {"type": "boolean"}, "gamma": NONNEG_NUM, "alpha": NONNEG_NUM,
                                  "apply_class_balancing": {"type": "boolean"},
                                  "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1}},
    "categorical_crossentropy": {"from_logits": {"type": "boolean"}, "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1},
                                 "axis": {"type": "integer"}},
    "categorical_focal_crossentropy": {"from_logits": {"type": "boolean"}, "gamma": NONNEG_NUM, "alpha": NONNEG_NUM,
                                       "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1}},
    "sparse_categorical_crossentropy": {"from_logits": {"type": "boolean"}, "ignore_class": {"type": "integer"}},
    "mean_squared_error": {}, "mse": {},
    "mean_absolute_error": {}, "mae": {},
    "mean_absolute_percentage_error": {}, "mape": {},
    "mean_squared_logarithmic_error": {}, "msle": {},
    "kl_divergence": {}, "kld": {},
    "poisson": {}, "cosine_similarity": {"axis": {"type": "integer"}},
    "huber": {"delta": POS_NUM}, "log_cosh": {},
    "hinge": {}, "squared_hinge": {}, "categorical_hinge": {},
    "dice": {}, "tversky": {"alpha": NONNEG_NUM, "beta": NONNEG_NUM},
}

# The short names Keras takes for a loss, and the loss they stand for (its class, in snake_case).
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence"}

# The targets a loss takes where they are not any real numbers shaped like the output (`nnspec check`
# draws its synthetic targets by these): "index", a class index per example (the output's last axis
# are the classes); "one_hot", a one-hot vector; "binary", 0 or 1 per element; "positive", in (0, 1].
LOSS_TARGETS = {
    "sparse_categorical_crossentropy": "index",
    **dict.fromkeys(("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge"), "one_hot"),
    **dict.fromkeys(("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"), "binary"),
    **dict.fromkeys(("poisson", "kl_divergence", "mean_squared_logarithmic_error"), "positive"),
}

METRICS = [
    "accuracy", "auc", "binary_accuracy", "binary_crossentropy", "categorical_accuracy", "categorical_crossentropy",
    "categorical_hinge", "cosine_similarity", "f1_score", "hinge", "kl_divergence", "log_cosh_error", "mae", "mape",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "mse", "msle", "poisson", "precision", "r2_score", "recall", "root_mean_squared_error",
    "sparse_categorical_accuracy", "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy",
    "squared_hinge", "top_k_categorical_accuracy",
]

# Keras metric classes a spec may configure: `{AUC: {curve: PR}}`. Class name -> {arg: schema}
# (Keras's own argument names; every class also takes `name`, the key of the metric in the logs).
# Each argument's limits are those Keras enforces, or where it fails at the first step
# (measured: tests/keras/test_metrics.py); passes/shapes.py checks them against the output.
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
_THRESHOLD = {**_UNIT, "description": "a threshold in [0, 1] (one number: a list makes the metric a "
                                      "vector, which Keras's evaluate cannot log)"}
_CLASS_ID = {"type": "integer", "minimum": 0, "description": "an index on the output's last axis"}
_NUM_CLASSES = {"type": "integer", "minimum": 2, "maximum": 2**16, "description": "the number of classes"}
_IOU = {"ignore_class": {"type": ["integer", "null"]}, "axis": {"type": "integer"}}
_NUM_THRESHOLDS = {"type": "integer", "minimum": 2, "maximum": 100000}
METRIC_CLASSES = {
    "AUC": {"num_thresholds": _NUM_THRESHOLDS, "curve": {"enum": ["ROC", "PR"]},
            "summation_method": {"enum": ["interpolation", "minoring", "majoring"]},
            "thresholds": {"type": "array", "items": _UNIT, "minItems": 1, "maxItems": 100000},
            "multi_label": {"type": "boolean"}, "num_labels": {"type": "integer", "minimum": 1},
            "label_weights": {"type": "array", "items": NONNEG_NUM, "minItems": 1},
            "from_logits": {"type": "boolean"}},
    "Accuracy": {},
    "BinaryAccuracy": {"threshold": NUM},
    "BinaryCrossentropy": {"from_logits": {"type": "boolean"}, "label_smoothing": _UNIT},
    "BinaryIoU": {"target_class_ids": {"type": "array", "items": {"enum": [0, 1]}, "minItems": 1, "maxItems": 2,
                                       "uniqueItems": True}, "threshold": NUM},
    "CategoricalAccuracy": {},
    "CategoricalCrossentropy": {"from_logits": {"type": "boolean"}, "label_smoothing": _UNIT, "axis": {"type": "integer"}},
    "CategoricalHinge": {},
    "ConcordanceCorrelation": {"axis": {"type": "integer"}},
    "CosineSimilarity": {"axis": {"type": "integer"}},
    "F1Score": {"average": {"enum": ["micro", "macro", "weighted", None]}, "threshold": {**_UNIT, "exclusiveMinimum": 0}},
    "FBetaScore": {"average": {"enum": ["micro", "macro", "weighted", None]}, "beta": POS_NUM,
                   "threshold": {**_UNIT, "exclusiveMinimum": 0}},
    "FalseNegatives": {"thresholds": _THRESHOLD},
    "FalsePositives": {"thresholds": _THRESHOLD},
    "Hinge": {},
    "IoU": {"num_classes": _NUM_CLASSES, "target_class_ids": {"type": "array", "items": {"type": "integer", "minimum": 0},
                                                             "minItems": 1, "uniqueItems": True},
            "sparse_y_true": {"type": "boolean"}, "sparse_y_pred": {"type": "boolean"}, **_IOU},
    "KLDivergence": {},
    "LogCoshError": {},
    "MeanAbsoluteError": {},
    "MeanAbsolutePercentageError": {},
    "MeanIoU": {"num_classes": _NUM_CLASSES, "sparse_y_true": {"type": "boolean"},
                "sparse_y_pred": {"type": "boolean"}, **_IOU},
    "MeanSquaredError": {},
    "MeanSquaredLogarithmicError": {},
    "OneHotIoU": {"num_classes": _NUM_CLASSES,
                  "target_class_ids": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1,
                                       "uniqueItems": True},
                  "sparse_y_pred": {"type": "boolean"}, **_IOU},
    "OneHotMeanIoU": {"num_classes": _NUM_CLASSES, "sparse_y_pred": {"type": "boolean"}, **_IOU},
    "PearsonCorrelation": {"axis": {"type": "integer"}},
    "Poisson": {},
    "Precision": {"thresholds": _THRESHOLD, "top_k": {"type": "integer", "minimum": 1}, "class_id": _CLASS_ID},
    "PrecisionAtRecall": {"recall": _UNIT, "num_thresholds": _NUM_THRESHOLDS, "class_id": _CLASS_ID},
    "R2Score": {"class_aggregation": {"enum": ["uniform_average", "variance_weighted_average", None]},
                "num_regressors": {"type": "integer", "minimum": 0}},
    "Recall": {"thresholds": _THRESHOLD, "top_k": {"type": "integer", "minimum": 1}, "class_id": _CLASS_ID},
    "RecallAtPrecision": {"precision": _UNIT, "num_thresholds": _NUM_THRESHOLDS, "class_id": _CLASS_ID},
    "RootMeanSquaredError": {},
    "SensitivityAtSpecificity": {"specificity": _UNIT, "num_thresholds": _NUM_THRESHOLDS, "class_id": _CLASS_ID},
    "SparseCategoricalAccuracy": {},
    "SparseCategoricalCrossentropy": {"from_logits": {"type": "boolean"}, "ignore_class": {"type": ["integer", "null"]},
                                      "axis": {"type": "integer"}},
    "SparseTopKCategoricalAccuracy": {"k": {"type": "integer", "minimum": 1}, "from_sorted_ids": {"type": "boolean"}},
    "SpecificityAtSensitivity": {"sensitivity": _UNIT, "num_thresholds": _NUM_THRESHOLDS, "class_id": _CLASS_ID},
    "SquaredHinge": {},
    "TopKCategoricalAccuracy": {"k": {"type": "integer", "minimum": 1}},
    "TrueNegatives": {"thresholds": _THRESHOLD},
    "TruePositives": {"thresholds": _THRESHOLD},
}
METRIC_REQUIRED = {"IoU": ("num_classes", "target_class_ids"), "MeanIoU": ("num_classes",),
                   "OneHotIoU": ("num_classes", "target_class_ids"), "OneHotMeanIoU": ("num_classes",),
                   "PrecisionAtRecall": ("recall",), "RecallAtPrecision": ("precision",),
                   "SensitivityAtSpecificity": ("specificity",), "SpecificityAtSensitivity": ("sensitivity",)}
# the class each metric name stands for in the mapping form (`{auc: {curve: PR}}` = `{AUC: ...}`)
METRIC_NAME_CLASS = {
    "accuracy": "Accuracy", "auc": "AUC", "binary_accuracy": "BinaryAccuracy",
    "binary_crossentropy": "BinaryCrossentropy", "categorical_accuracy": "CategoricalAccuracy",
    "categorical_crossentropy": "CategoricalCrossentropy", "categorical_hinge": "CategoricalHinge",
    "cosine_similarity": "CosineSimilarity", "f1_score": "F1Score", "hinge": "Hinge", "kl_divergence": "KLDivergence",
    "log_cosh_error": "LogCoshError", "mae": "MeanAbsoluteError", "mape": "MeanAbsolutePercentageError",
    "mean_absolute_error": "MeanAbsoluteError", "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "mean_squared_error": "MeanSquaredError", "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "mse": "MeanSquaredError", "msle": "MeanSquaredLogarithmicError", "poisson": "Poisson", "precision": "Precision",
    "r2_score": "R2Score", "recall": "Recall", "root_mean_squared_error": "RootMeanSquaredError",
    "sparse_categorical_accuracy": "SparseCategoricalAccuracy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "sparse_top_k_categorical_accuracy": "SparseTopKCategoricalAccuracy", "squared_hinge": "SquaredHinge",
    "top_k_categorical_accuracy": "TopKCategoricalAccuracy",
}
METRIC_NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]*$(?!\n)", "maxLength": 128,
               "description": "the metric's name in the training logs (letters, digits, _)"}


def metric_args_schema(cls: str) -> dict:
    out = {"type": ["object", "null"], "properties": {**METRIC_CLASSES[cls], "name": METRIC_NAME},
           "additionalProperties": False, "x-nnspec": f"args:{cls}",
           "description": f"keras.metrics.{cls}'s arguments"}
    if cls in METRIC_REQUIRED:
        out["type"] = "object"
        out["required"] = list(METRIC_REQUIRED[cls])
    return out


def metric_definition() -> dict:
    """A metric: a name (Keras's string form), or one mapping: {Class: {args}}, {name: {args}},
    {expr: "...", name: ...} or {custom: "module:Name"}. That a mapping holds one metric, and
    `name` only beside `expr`, is checked in passes/resolve.py (the fast check has no
    `dependencies`)."""
    props = {cls: metric_args_schema(cls) for cls in METRIC_CLASSES}
    for name in METRICS:
        props[name] = metric_args_schema(METRIC_NAME_CLASS[name])
    props["expr"] = {**EXPR, "description": "a metric written as an expression over y_true and y_pred; its "
                                            "mean over the batches (and samples, for a value per sample) is logged"}
    props["custom"] = CUSTOM_REF
    props["name"] = {**METRIC_NAME, "description": "an expression metric's name in the training logs"}
    return {
        "description": "metric: a name, {Class: {args}} (keras.metrics), {expr: \"...\", name: ...} or "
                       "{custom: module:Name}",
        "anyOf": [
            {"type": "string", "enum": sorted(METRICS), "description": "a metric name"},
            {"type": "object", "minProperties": 1, "maxProperties": 2, "properties": props,
             "additionalProperties": False, "x-nnspec": "metric",
             "description": "a one-key mapping {Class: {args}}, {expr: \"...\", name: ...} or {custom: module:Name}"},
        ],
    }


_OPT_COMMON = {"learning_rate": POS_NUM, "weight_decay": NONNEG_NUM, "clipnorm": POS_NUM, "clipvalue": POS_NUM,
               "global_clipnorm": POS_NUM, "use_ema": {"type": "boolean"},
               "ema_momentum": {"type": "number", "minimum": 0, "maximum": 1}}
_BETAS = {"beta_1": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
          "beta_2": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}}
_EPS = {"epsilon": POS_NUM}
OPTIMIZERS = {
    "adam": {**_OPT_COMMON, **_BETAS, **_EPS, "amsgrad": {"type": "boolean"}},
    "adamw": {**_OPT_COMMON, **_BETAS, **_EPS, "amsgrad": {"type": "boolean"}},
    "nadam": {**_OPT_COMMON, **_BETAS, **_EPS},
    "adamax": {**_OPT_COMMON, **_BETAS, **_EPS},
    "lion": {**_OPT_COMMON, **_BETAS},
    "sgd": {**_OPT_COMMON, "momentum": NONNEG_NUM, "nesterov": {"type": "boolean"}},
    "rmsprop": {**_OPT_COMMON, **_EPS, "rho": NONNEG_NUM, "momentum": NONNEG_NUM, "centered": {"type": "boolean"}},
    "adagrad": {**_OPT_COMMON, **_EPS, "initial_accumulator_value": NONNEG_NUM},
    "adadelta": {**_OPT_COMMON, **_EPS, "rho": NONNEG_NUM},
}


def _named(table: dict, what: str, value_schema=None, extra=None) -> dict:
    """`name` or `{name: {args}}`, dispatched on the key (no oneOf over names)."""
    props = {}
    for name, args in table.items():
        if value_schema is not None:
            props[name] = value_schema(args)
        else:
            props[name] = {"type": ["object", "null"], "properties": args, "additionalProperties": False}
    if extra:
        props.update(extra)
    return {
        "description": f"{what}: a name, or a one-key mapping {{name: {{args}}}}",
        "anyOf": [
            {"type": "string", "enum": sorted(table), "description": f"a {what} name"},
            {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": props,
             "additionalProperties": False, "description": f"a one-key mapping {{{what}: {{args}}}}"},
        ],
    }


EXPR = {"type": "string", "minLength": 1, "maxLength": 4000, "description": "an nnspec expression"}
MODULE = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$(?!\n)", "maxLength": 200,
          "description": "a Python module name, e.g. mypkg or mypkg.layers"}
CUSTOM_REF = {"type": "string", "maxLength": 300,
              "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$(?!\n)",
              "description": "your own Python object as module:attribute, e.g. mypkg.losses:focal; "
                             "its module must be allowed by whoever runs nnspec (--allow-import, or "
                             "[tool.nnspec] allow_import in pyproject.toml) and is best declared in requires_import"}


def definitions() -> dict:
    """JSON Schema definitions for the vocabulary, keyed as referenced by op args."""
    return {
        "activation": {"anyOf": [{"type": "string", "enum": ACTIVATIONS, "description": "a Keras activation name"},
                                 {"type": "null"}],
                       "description": "an activation name (Keras's), or null for linear"},
        "initializer": _named(INITIALIZERS, "initializer"),
        "regularizer": _named(REGULARIZERS, "regularizer", value_schema=lambda s: s),
        "constraint": _named(CONSTRAINTS, "constraint", extra={"expr": EXPR, "custom": CUSTOM_REF}),
        "loss": _named(LOSSES, "loss", extra={"expr": EXPR, "custom": CUSTOM_REF}),
        "metric": metric_definition(),
        "optimizer": _named(OPTIMIZERS, "optimizer"),
    }
