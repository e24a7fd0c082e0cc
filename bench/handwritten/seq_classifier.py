"""specs/seq_classifier.yaml written by hand in Keras: tokens -> Embedding ->
Conv1D -> bidirectional LSTM -> score, with a squared-hinge loss written out."""
import sys

import keras
from keras import layers, ops


def squared_hinge(y_true, y_pred):
    y_true = ops.cast(y_true, y_pred.dtype)
    return ops.mean(ops.square(ops.maximum(1 - y_true * y_pred, 0)), axis=-1)


def make_model():
    keras.utils.set_random_seed(17)
    tokens = keras.Input(shape=(100,), dtype="int32", name="tokens")
    x = layers.Embedding(20000, 64, name="embed")(tokens)
    x = layers.Conv1D(64, 5, activation="relu", name="conv1d")(x)
    x = layers.MaxPooling1D(pool_size=2, name="max_pooling1d")(x)
    x = layers.Bidirectional(layers.LSTM(32), name="summary")(x)
    score = layers.Dense(1, activation="tanh", name="score")(x)
    model = keras.Model(inputs=tokens, outputs={"score": score}, name="seq_classifier")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-4), loss={"score": squared_hinge})
    return model


if __name__ == "__main__":
    make_model().export(sys.argv[1])
