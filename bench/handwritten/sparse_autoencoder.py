"""specs/sparse_autoencoder.yaml written by hand in Keras: a 784-128-32-128-784
autoencoder with sparsity penalties (add_loss, not divided by the batch size)
on the code and the first hidden layer; the code is a second output."""
import sys

import keras
from keras import layers, ops


class CodeSparsity(layers.Layer):
    """Pass-through: adds coef * sum(mean(abs(x), axis=0)) to the loss."""

    def __init__(self, coef, **kwargs):
        super().__init__(**kwargs)
        self.coef = coef

    def call(self, x):
        self.add_loss(self.coef * ops.sum(ops.mean(ops.abs(x), axis=0)))
        return x


class MeanL1(layers.Layer):
    """Pass-through: adds coef * mean(abs(x)) to the loss."""

    def __init__(self, coef, **kwargs):
        super().__init__(**kwargs)
        self.coef = coef

    def call(self, x):
        self.add_loss(self.coef * ops.mean(ops.abs(x)))
        return x


def make_model():
    keras.utils.set_random_seed(7)
    pixels = keras.Input(shape=(784,), name="pixels")
    enc1 = layers.Dense(128, activation="relu", name="enc1")(pixels)
    enc1 = MeanL1(0.0001, name="penalty_1")(enc1)
    code = layers.Dense(32, activation="relu", name="code")(enc1)
    code = CodeSparsity(0.001, name="penalty_0")(code)
    x = layers.Dense(128, activation="relu", name="dec1")(code)
    reconstruction = layers.Dense(784, activation="sigmoid", name="reconstruction")(x)
    model = keras.Model(inputs=pixels, outputs={"reconstruction": reconstruction, "code": code},
                        name="sparse_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss={"reconstruction": "binary_crossentropy"})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
