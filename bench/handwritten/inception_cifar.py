"""specs/inception_cifar.yaml written by hand in Keras: the small Inception
network for CIFAR-10 (Zhang et al., 2017), with helper functions for the conv,
inception and downsample modules."""
import sys

import keras
from keras import layers


def conv(x, filters, kernel=3, strides=1, padding="same", name=None):
    """conv -> batch norm -> ReLU; the ReLU carries the module's name."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, name=f"{name}_conv2d")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_batch_normalization")(x)
    return layers.ReLU(name=name)(x)


def inception(x, ch1, ch3, name):
    b1 = conv(x, ch1, 1, name=f"{name}_b1")
    b3 = conv(x, ch3, 3, name=f"{name}_b3")
    return layers.Concatenate(name=name)([b1, b3])


def downsample(x, ch3, name):
    c = conv(x, ch3, 3, strides=2, padding="valid", name=f"{name}_conv")
    p = layers.MaxPooling2D(pool_size=3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=name)([c, p])


def make_model():
    keras.utils.set_random_seed(10)
    image = keras.Input(shape=(28, 28, 3), name="image")
    x = conv(image, 96, 3, name="stem")
    x = inception(x, 32, 32, "inc1")
    x = inception(x, 32, 48, "inc2")
    x = downsample(x, 80, "down1")
    x = inception(x, 112, 48, "inc3")
    x = inception(x, 96, 64, "inc4")
    x = inception(x, 80, 80, "inc5")
    x = inception(x, 48, 96, "inc6")
    x = downsample(x, 96, "down2")
    x = inception(x, 176, 160, "inc7")
    x = inception(x, 176, 160, "inc8")
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    label = layers.Dense(10, activation="softmax", name="label")(x)
    model = keras.Model(inputs=image, outputs={"label": label}, name="inception_cifar")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss={"label": "sparse_categorical_crossentropy"}, metrics={"label": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
