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


@keras.saving.register_keras_serializable(package="nnspec")
class Scale(keras.layers.Layer):
    """``x * gamma``, with ``gamma`` a learned weight of one entry per channel (the size of
    ``axis``, the last by default): ConvNeXt's and CaiT's "layer scale". ConvNeXt starts it at
    1e-6: ``Scale(gamma_initializer=keras.initializers.Constant(1e-6))``."""

    def __init__(self, axis=-1, gamma_initializer="ones", gamma_regularizer=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank < self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"Scale: axis {self.axis} is not a non-batch axis of an input of shape {input_shape}")
        axis = self.axis % rank
        if input_shape[axis] is None:
            raise ValueError(f"Scale needs a known size on axis {self.axis}; input shape {input_shape}")
        self._shape = tuple(input_shape[axis] if i == axis else 1 for i in range(1, rank))
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[axis],), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
                                     trainable=True)

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)  # integer and bool inputs too, as Dense
        return x * keras.ops.reshape(keras.ops.cast(self.gamma, self.compute_dtype), self._shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis,
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
                "gamma_constraint": keras.constraints.serialize(self.gamma_constraint)}
