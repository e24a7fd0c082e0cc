"""specs/weight_norm.yaml written by hand in Keras: kernel constraints that
project the weights back after each update (a hand-written weight-norm
projection, and Keras's own UnitNorm / MaxNorm / NonNeg)."""
import sys

import keras
from keras import layers, ops


class WeightNorm(keras.constraints.Constraint):
    """Scale each output unit's weights to l2 norm 1 (norm over every axis but the last)."""

    def __init__(self, eps=1e-12):
        self.eps = eps

    def __call__(self, w):
        axes = list(range(len(w.shape) - 1))
        return w / (ops.sqrt(ops.sum(ops.square(w), axis=axes, keepdims=True)) + self.eps)

    def get_config(self):
        return {"eps": self.eps}


def make_model():
    keras.utils.set_random_seed(3)
    features = keras.Input(shape=(20,), name="features")
    x = layers.Dense(64, activation="relu", kernel_constraint=WeightNorm(), name="h1")(features)
    x = layers.Dense(64, activation="relu", kernel_constraint=keras.constraints.UnitNorm(axis=0), name="h2")(x)
    x = layers.Dense(64, activation="relu", kernel_constraint=keras.constraints.MaxNorm(max_value=2.0, axis=0),
                     bias_constraint=keras.constraints.NonNeg(), name="h3")(x)
    label = layers.Dense(3, activation="softmax", name="label")(x)
    model = keras.Model(inputs=features, outputs={"label": label}, name="weight_norm_mlp")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss={"label": "categorical_crossentropy"}, metrics={"label": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
