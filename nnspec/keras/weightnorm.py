"""WeightNorm: Salimans & Kingma's (2016) reparameterisation w = g * v / ||v||, as a layer wrapper.
Unlike the `weight_norm` kernel *constraint* (WeightNormConstraint, objects.py), which projects the
kernel back to unit norm after each optimizer update (so the scale is lost, and the bias/next layer
must absorb it), this wrapper trains two variables, the direction v and a per-unit scale g, and
builds the effective kernel from them inside the forward pass, so gradients flow through the norm.
"""
from __future__ import annotations

import keras
from keras import ops

_WRAPPABLE = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


@keras.saving.register_keras_serializable(package="nnspec")
class WeightNorm(keras.layers.Wrapper):
    """Weight normalisation of a Dense, Conv1D, Conv2D or Conv3D layer.

    The wrapped layer's kernel variable is ``v`` (the direction); ``g`` holds one scale
    per output unit / filter, initialised to ||v|| so the wrapped layer starts out
    computing exactly what the bare layer would. The norm is over every axis but the
    last. ``call`` computes the layer's output itself with the effective kernel
    ``g * v / ||v||`` (same strides, padding, dilation, groups, bias and activation).
    """

    def __init__(self, layer, epsilon: float = 1e-12, **kwargs):
        if not isinstance(layer, _WRAPPABLE):
            raise ValueError(f"WeightNorm wraps a Dense, Conv1D, Conv2D or Conv3D layer, "
                             f"not {type(layer).__name__} ({layer!r})")
        if getattr(layer, "lora_rank", None) or getattr(layer, "quantization_mode", None):
            raise ValueError(f"WeightNorm cannot wrap a layer with LoRA or quantization ({layer.name})")
        super().__init__(layer, **kwargs)
        self.epsilon = float(epsilon)
        self.supports_masking = bool(getattr(layer, "supports_masking", False))

    # ------------------------------------------------------------ weights
    @property
    def v(self):
        """The direction: the wrapped layer's own kernel variable."""
        return self.layer.kernel

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        units = self.v.shape[-1]
        self.g = self.add_weight(name="g", shape=(units,), initializer="ones", trainable=True,
                                 dtype=self.layer.variable_dtype)
        # data-independent init: g = ||v||, so the initial function is the bare layer's
        self.g.assign(ops.cast(ops.sqrt(ops.sum(ops.square(self.v), axis=self._axes())), self.g.dtype))
        self.built = True

    def _axes(self):
        return tuple(range(len(self.v.shape) - 1))

    def effective_kernel(self):
        """g * v / ||v|| (norm over every axis but the last), in the compute dtype."""
        v = ops.cast(self.v, self.compute_dtype)
        g = ops.cast(self.g, self.compute_dtype)
        # rsqrt(max(sum v^2, eps)), like tf.math.l2_normalize: finite value and gradient at v = 0
        inv = ops.rsqrt(ops.maximum(ops.sum(ops.square(v), axis=self._axes(), keepdims=True), self.epsilon))
        return v * inv * g

    # ------------------------------------------------------------ forward
    def call(self, inputs):
        layer, kernel = self.layer, self.effective_kernel()
        if isinstance(layer, keras.layers.Dense):
            x = ops.matmul(inputs, kernel)
            if layer.use_bias:
                x = ops.add(x, ops.cast(layer.bias, self.compute_dtype))
        else:
            channels_last = layer.data_format == "channels_last"
            padding = layer.padding
            if padding == "causal":  # Conv1D only: left-pad the steps axis, then 'valid'
                left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
                pad = [[0, 0], [left, 0], [0, 0]] if channels_last else [[0, 0], [0, 0], [left, 0]]
                inputs, padding = ops.pad(inputs, pad), "valid"
            x = ops.conv(inputs, kernel, strides=list(layer.strides), padding=padding,
                         dilation_rate=layer.dilation_rate, data_format=layer.data_format)
            if layer.use_bias:
                rank = layer.rank
                shape = (1,) * (rank + 1) + (layer.filters,) if channels_last else (1, layer.filters) + (1,) * rank
                x = ops.add(x, ops.reshape(ops.cast(layer.bias, self.compute_dtype), shape))
        if layer.activation is not None:
            x = layer.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    # ------------------------------------------------------------ config
    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # keras.layers.Wrapper.from_config pops "layer" from the caller's dict: work on a copy
        return super().from_config(dict(config), custom_objects=custom_objects)
