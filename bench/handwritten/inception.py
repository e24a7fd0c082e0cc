"""specs/inception.yaml written by hand in Keras: an inception-style block,
four parallel branches over one stem joined on the channel axis."""
import sys

import keras
from keras import layers


def make_model():
    keras.utils.set_random_seed(5)
    image = keras.Input(shape=(32, 32, 3), name="image")
    stem = layers.Conv2D(64, 3, padding="same", activation="relu", name="stem")(image)
    b1 = layers.Conv2D(32, 1, activation="relu", name="b1x1")(stem)
    b3 = layers.Conv2D(24, 1, activation="relu", name="b3_reduce")(stem)
    b3 = layers.Conv2D(32, 3, padding="same", activation="relu", name="b3x3")(b3)
    b5 = layers.Conv2D(8, 1, activation="relu", name="b5_reduce")(stem)
    b5 = layers.Conv2D(16, 5, padding="same", activation="relu", name="b5x5")(b5)
    pool = layers.MaxPooling2D(pool_size=3, strides=1, padding="same", name="pool")(stem)
    pool = layers.Conv2D(16, 1, activation="relu", name="pool_proj")(pool)
    x = layers.Concatenate(axis=-1, name="mixed")([b1, b3, b5, pool])
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    label = layers.Dense(10, activation="softmax", name="label")(x)
    model = keras.Model(inputs=image, outputs={"label": label}, name="inception_block")
    model.compile(optimizer="adam", loss={"label": "sparse_categorical_crossentropy"},
                  metrics={"label": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
