"""specs/random_projection.yaml written by hand in Keras: a frozen Gaussian
random projection in front of a small trainable classifier."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(2024)
    tfidf = keras.Input(shape=(5000,), name="tfidf")
    x = layers.Dense(256, use_bias=False, trainable=False, name="projection",
                     kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.0625))(tfidf)
    x = layers.Dense(64, activation="relu", name="hidden")(x)
    spam = layers.Dense(1, activation="sigmoid", name="spam")(x)
    model = keras.Model(inputs=tfidf, outputs={"spam": spam}, name="random_projection")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss={"spam": "binary_crossentropy"}, metrics={"spam": ["accuracy", "auc"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
