"""specs/channel_reduction.yaml written by hand in Keras: 1x1 convolutions
squeeze 256 channels to 32 and expand them back around a 3x3, with a residual."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(9)
    features = keras.Input(shape=(14, 14, 256), name="features")
    x = layers.Conv2D(32, 1, activation="relu", name="squeeze")(features)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="spatial")(x)
    x = layers.Conv2D(256, 1, name="expand")(x)
    x = layers.Add(name="residual")([features, x])
    x = layers.ReLU(name="re_lu")(x)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    label = layers.Dense(5, activation="softmax", name="label")(x)
    model = keras.Model(inputs=features, outputs={"label": label}, name="channel_reduction")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
                  loss={"label": "categorical_crossentropy"})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
