"""specs/features_before_dropout.yaml written by hand in Keras: the embedding,
taken before Dropout, is a second output without a loss."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(1)
    x = keras.Input(shape=(128,), name="x")
    h = layers.Dense(256, activation="relu", name="dense")(x)
    embedding = layers.Dense(64, activation="relu", name="embedding")(h)
    h = layers.Dropout(0.5, name="dropout")(embedding)
    label = layers.Dense(10, activation="softmax", name="label")(h)
    model = keras.Model(inputs=x, outputs={"label": label, "embedding": embedding},
                        name="features_before_dropout")
    model.compile(optimizer="adam", loss={"label": "categorical_crossentropy"},
                  metrics={"label": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
