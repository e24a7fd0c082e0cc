"""specs/lab_quake.yaml written by hand in Keras: a seismic multi-task model
with weighted losses and an L2 activation penalty on the shared trunk."""
import sys

import keras
from keras import layers, ops


class L2Penalty(layers.Layer):
    """Pass-through layer that adds coef * sum(square(x)) to the loss."""

    def __init__(self, coef, **kwargs):
        super().__init__(**kwargs)
        self.coef = coef

    def call(self, x):
        self.add_loss(self.coef * ops.sum(ops.square(x)))
        return x


def make_model():
    keras.utils.set_random_seed(42)
    signal = keras.Input(shape=(1, 64), name="signal")
    x = layers.BatchNormalization(name="batch_normalization")(signal)
    x = layers.LSTM(128, return_sequences=True, name="lstm")(x)
    x = layers.Conv1D(128, 2, activation="relu", padding="same", name="conv1d")(x)
    x = layers.Flatten(name="flatten")(x)
    trunk = layers.Dense(32, activation="relu", name="trunk")(x)
    trunk = L2Penalty(0.01, name="penalty_0")(trunk)
    ttf = layers.Dense(1, activation="relu", name="ttf")(trunk)
    tsf = layers.Dense(1, name="tsf")(trunk)
    imminent = layers.Dense(1, activation="sigmoid", name="imminent")(trunk)
    model = keras.Model(inputs=signal, outputs={"ttf": ttf, "tsf": tsf, "imminent": imminent},
                        name="lab_quake")
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate=0.008),
                  loss={"ttf": "mae", "tsf": "mae", "imminent": "binary_crossentropy"},
                  loss_weights={"ttf": 8.0, "tsf": 1.0, "imminent": 1.0},
                  metrics={"ttf": ["mae"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
