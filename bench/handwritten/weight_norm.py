"""specs/weight_norm.yaml written by hand in Keras: weight normalisation two ways.
Kernel constraints project the weights back after each update (a hand-written
unit-norm projection, Keras's UnitNorm / MaxNorm / NonNeg, and a norm clip as a
plain function); a hand-written Dense layer reparameterises its kernel as
g * v / ||v|| (Salimans & Kingma, 2016; Keras 3 ships no WeightNorm)."""
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


def clip_column_norm(w):
    """Columns with an l2 norm above 1 are scaled back to 1."""
    return w / ops.maximum(ops.sqrt(ops.sum(ops.square(w), axis=0, keepdims=True)), 1.0)


class WeightNormDense(layers.Layer):
    """Dense whose kernel is g * v / ||v|| (norm over the input axis), g and v both trained."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.v = self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.g = self.add_weight(name="g", shape=(self.units,), initializer="ones")
        self.g.assign(ops.sqrt(ops.sum(ops.square(self.v), axis=0)))  # start out as the plain Dense

    def call(self, x):
        kernel = self.v * ops.rsqrt(ops.maximum(ops.sum(ops.square(self.v), axis=0, keepdims=True), 1e-12)) * self.g
        return self.activation(ops.matmul(x, kernel) + self.bias)


def make_model():
    keras.utils.set_random_seed(3)
    features = keras.Input(shape=(20,), name="features")
    x = layers.Dense(64, activation="relu", kernel_constraint=WeightNorm(), name="h1")(features)
    x = layers.Dense(64, activation="relu", kernel_constraint=keras.constraints.UnitNorm(axis=0), name="h2")(x)
    x = layers.Dense(64, activation="relu", kernel_constraint=keras.constraints.MaxNorm(max_value=2.0, axis=0),
                     bias_constraint=keras.constraints.NonNeg(), name="h3")(x)
    x = layers.Dense(64, activation="relu", kernel_constraint=clip_column_norm, name="h4")(x)
    x = WeightNormDense(32, activation="relu", name="h5")(x)
    label = layers.Dense(3, activation="softmax", name="label")(x)
    model = keras.Model(inputs=features, outputs={"label": label}, name="weight_norm_mlp")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss={"label": "categorical_crossentropy"}, metrics={"label": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
