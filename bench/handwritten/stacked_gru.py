"""specs/stacked_gru.yaml written by hand in Keras: three GRUs that return
sequences (each its own layer, its own weights), a summary GRU, a forecast."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(11)
    series = keras.Input(shape=(None, 8), name="series")
    x = series
    for i in range(3):
        x = layers.GRU(64, return_sequences=True, dropout=0.1, name=f"gru{i}")(x)
    x = layers.GRU(32, name="summary")(x)
    forecast = layers.Dense(1, name="forecast")(x)
    model = keras.Model(inputs=series, outputs={"forecast": forecast}, name="stacked_gru")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001),
                  loss={"forecast": "huber"}, metrics={"forecast": ["mae"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
