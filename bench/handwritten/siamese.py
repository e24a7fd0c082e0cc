"""specs/siamese.yaml written by hand in Keras: one two-layer encoder shared by
both inputs (calling the same layer objects twice shares their weights)."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(13)
    left = keras.Input(shape=(64,), name="left")
    right = keras.Input(shape=(64,), name="right")
    enc1 = layers.Dense(32, activation="relu", name="enc1")
    enc2 = layers.Dense(16, name="enc2")
    a = enc2(enc1(left))
    b = enc2(enc1(right))
    diff = layers.Subtract(name="diff")([a, b])
    same = layers.Dense(1, activation="sigmoid", name="same")(diff)
    model = keras.Model(inputs={"left": left, "right": right}, outputs={"same": same}, name="siamese")
    model.compile(optimizer="adam", loss={"same": "binary_crossentropy"}, metrics={"same": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
