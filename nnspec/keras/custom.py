"""nnspec's own Keras layers, for what specs need but Keras only offers as a
``Lambda`` (which cannot be checked statically nor loaded safely).

Each is registered as serializable under the package "nnspec", so a saved
model loads again once this module is imported.
"""
from __future__ import annotations

import keras

from ..ops.base import ShapeError
from ..ops.reshaping import parse_key, slice_shape


def _value_error(e: ShapeError) -> ValueError:
    return ValueError(e.message + (f" ({e.hint})" if e.hint else ""))


@keras.saving.register_keras_serializable(package="nnspec")
class Slice(keras.layers.Layer):
    """``x[key]`` for a numpy-style ``key`` string such as ``"..., :1"``.

    The key covers the whole tensor, batch axis included; the batch axis must
    be taken whole. The output shape is nnspec's static rule (``slice_shape``).
    """

    def __init__(self, key, **kwargs):
        super().__init__(**kwargs)
        try:
            self._items = parse_key(key)
        except ShapeError as e:
            raise _value_error(e) from None
        self.key = key

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # refuse a bad key on eager calls too

    def compute_output_shape(self, input_shape):
        try:
            return slice_shape(self.key, tuple(input_shape))
        except ShapeError as e:
            raise _value_error(e) from None

    def call(self, inputs):
        return inputs[self._items]

    def get_config(self):
        return {**super().get_config(), "key": self.key}
