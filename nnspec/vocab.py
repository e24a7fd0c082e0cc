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

METRICS = [
    "accuracy", "auc", "binary_accuracy", "binary_crossentropy", "categorical_accuracy", "categorical_crossentropy",
    "categorical_hinge", "cosine_similarity", "f1_score", "hinge", "kl_divergence", "log_cosh_error", "mae", "mape",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "mse", "msle", "poisson", "precision", "r2_score", "recall", "root_mean_squared_error",
    "sparse_categorical_accuracy", "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy",
    "squared_hinge", "top_k_categorical_accuracy",
]

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
        "metric": _named({m: {} for m in METRICS}, "metric"),
        "optimizer": _named(OPTIMIZERS, "optimizer"),
    }
