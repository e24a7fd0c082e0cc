"""nnspec's own Keras objects (registered, serializable)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nnspec")
class WeightNormConstraint(keras.constraints.Constraint):
    """Projects a kernel so each output unit's weights have l2 norm 1:
    w / ||w|| over every axis but the last. A projection constraint, applied
    after each update; not Salimans & Kingma's reparameterisation."""

    def __init__(self, eps: float = 1e-12):
        self.eps = eps

    def __call__(self, w):
        axes = list(range(len(w.shape) - 1))
        return w / (ops.sqrt(ops.sum(ops.square(w), axis=axes, keepdims=True)) + self.eps)

    def get_config(self):
        return {"eps": self.eps}
