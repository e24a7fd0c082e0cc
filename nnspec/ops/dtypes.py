"""Which input dtypes each op takes, measured against Keras 3 (TensorFlow
backend): an op not listed does float math and takes float inputs only
(``Op.dtypes`` defaults to {"float"}). Keras casts integer (and often bool)
inputs to float in the layers listed here; convolutions, average pooling,
dropout and the like refuse them. Applied to the catalog in ops/__init__.py;
tests/keras/test_valid_promise_keras.py feeds every op int32, uint8, int64
and bool inputs and asserts that nnspec refuses exactly what Keras refuses.
"""
from __future__ import annotations

ANY = frozenset({"float", "int", "bool"})
NUMERIC = frozenset({"float", "int"})

ACCEPTS = {
    # Keras casts to float (int and bool)
    **dict.fromkeys(("Dense", "EinsumDense", "Embedding", "BatchNormalization", "LayerNormalization",
                     "SimpleRNN", "LSTM", "GRU", "MultiHeadAttention", "Concatenate", "Dot", "Rescaling",
                     "Cropping1D", "Cropping2D", "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D", "UpSampling2D",
                     "RepeatVector", "Slice", "Flatten", "Reshape", "Permute",
                     "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                     "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Expr",
                     "Normalization", "Hashing", "Scale"), ANY),
    # integer indices: Keras casts a float to int, and a negative value fails when it runs
    "CategoryEncoding": frozenset({"int", "bool"}),
    # integers, not bool
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "ReLU", "LeakyReLU",
                     "MaxPooling1D", "MaxPooling2D", "Masking"), NUMERIC),
}
# Keras returns the input's dtype (measured: an int32 / int64 / bool input gives an output of that dtype;
# ReLU with a negative_slope gives float32, shapes.py; Average of ints gives float64, taken as float)
KEEPS_DTYPE = frozenset({"Flatten", "Reshape", "Permute", "Add", "Subtract", "Multiply", "Maximum", "Minimum",
                         "Concatenate", "Dot", "Cropping1D", "Cropping2D", "ZeroPadding1D", "ZeroPadding2D",
                         "UpSampling1D", "UpSampling2D", "RepeatVector", "Slice", "MaxPooling1D", "MaxPooling2D",
                         "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ReLU",
                         "Masking"})
WRAPPERS = frozenset({"Bidirectional", "TimeDistributed", "WeightNorm"})  # as the layer they wrap
OPAQUE = frozenset({"Custom"})  # nnspec cannot know: not checked
