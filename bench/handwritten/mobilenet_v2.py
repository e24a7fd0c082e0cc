"""specs/mobilenet_v2.yaml the way a Keras user gets MobileNetV2: keras.applications,
alpha 1.0, untrained, outputs keyed by name, compiled with the spec's training setup."""
import sys

import keras


def make_model():
    image = keras.Input(shape=(224, 224, 3), name="image")
    base = keras.applications.MobileNetV2(weights=None, input_tensor=image)
    model = keras.Model(inputs=image, outputs={"predictions": base.output}, name="mobilenet_v2")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.045, momentum=0.9),
                  loss={"predictions": "categorical_crossentropy"}, metrics={"predictions": ["accuracy"]})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
