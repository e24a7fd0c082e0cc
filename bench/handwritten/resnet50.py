"""specs/resnet50.yaml the way a Keras user gets ResNet50: keras.applications,
untrained, outputs keyed by name, compiled with the spec's training setup."""
import sys

import keras


def make_model():
    image = keras.Input(shape=(224, 224, 3), name="image")
    base = keras.applications.ResNet50(weights=None, input_tensor=image)
    model = keras.Model(inputs=image, outputs={"predictions": base.output}, name="resnet50")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss={"predictions": "categorical_crossentropy"}, metrics={"predictions": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
