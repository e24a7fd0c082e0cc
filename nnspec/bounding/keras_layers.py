"""A Keras model as bounding records (net.py): the only module of nnspec.bounding that touches Keras
objects. It walks the Functional graph (a Sequential's own) from the outputs; each layer's type is
looked up in the op catalog, whose ``Op.bounds`` names the builder below; the builders read the
layer's config and weights as numpy and call net.py's. Anything else raises Unsupported."""
from __future__ import annotations

import numpy as np

from . import Unsupported
from . import net as N

_ACTIVATION_NAMES = {"linear": ("linear", 0.0), "relu": ("relu", 0.0), "sigmoid": ("sigmoid", 0.0),
                     "tanh": ("tanh", 0.0), "softplus": ("softplus", 0.0), "elu": ("elu", 1.0),
                     "leaky_relu": ("leaky_relu", 0.2)}  # keras.activations.leaky_relu's default slope


def supported() -> list:
    """The layer types `nnspec bounds` takes (from the op catalog)."""
    from ..ops import CATALOG
    return sorted(op.name for op in CATALOG.values() if op.bounds)


def _np(v):
    return None if v is None else np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)


def _activation(net, x, layer, value, kind):
    if value is None:
        return x
    if callable(value) and not isinstance(value, str):
        value = getattr(value, "__name__", str(value))
    if isinstance(value, dict):
        value = value.get("config", value.get("class_name"))
        value = value if isinstance(value, str) else str(value)
    if value not in _ACTIVATION_NAMES:
        raise Unsupported(layer.name, kind, f"its activation {value!r} (bounds supports "
                          f"{', '.join(sorted(_ACTIVATION_NAMES))})")
    act, alpha = _ACTIVATION_NAMES[value]
    return net.act(x, act, alpha, layer.name)


def _channels_last(layer, kind):
    if getattr(layer, "data_format", "channels_last") not in (None, "channels_last"):
        raise Unsupported(layer.name, kind, "data_format channels_first (bounds takes channels_last only)")


def _dense(net, layer, xs, kind, out_shape):
    x = N.dense(net, xs[0], _np(layer.kernel), _np(layer.bias) if layer.use_bias else None, layer.name)
    return _activation(net, x, layer, layer.get_config().get("activation"), kind)


def _conv(net, layer, xs, kind, out_shape):
    _channels_last(layer, kind)
    cfg = layer.get_config()
    depthwise = kind.startswith("Depthwise")
    kernel = _np(layer.kernel)
    x = N.conv(net, xs[0], kernel, _np(layer.bias) if layer.use_bias else None, cfg["strides"], cfg["padding"],
               cfg["dilation_rate"], cfg.get("groups", 1), depthwise, layer.name)
    return _activation(net, x, layer, cfg.get("activation"), kind)


def _batchnorm(net, layer, xs, kind, out_shape):
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise Unsupported(layer.name, kind, "it normalizes several axes")
        axis = axis[0]
    return N.batchnorm(net, xs[0], _np(layer.gamma) if layer.scale else None,
                       _np(layer.beta) if layer.center else None, _np(layer.moving_mean),
                       _np(layer.moving_variance), layer.epsilon, axis, layer.name)


def _activation_layer(net, layer, xs, kind, out_shape):
    return _activation(net, xs[0], layer, layer.get_config().get("activation"), kind)


def _relu(net, layer, xs, kind, out_shape):
    cfg = layer.get_config()
    if cfg.get("max_value") is not None or cfg.get("threshold", 0):
        raise Unsupported(layer.name, kind, "max_value or threshold (bounds takes ReLU with negative_slope only)")
    return net.act(xs[0], "leaky_relu", float(cfg.get("negative_slope", 0.0) or 0.0), layer.name)


def _leaky(net, layer, xs, kind, out_shape):
    cfg = layer.get_config()
    return net.act(xs[0], "leaky_relu", float(cfg.get("negative_slope", cfg.get("alpha", 0.3))), layer.name)


def _elu(net, layer, xs, kind, out_shape):
    return net.act(xs[0], "elu", float(layer.get_config().get("alpha", 1.0)), layer.name)


def _reshape(net, layer, xs, kind, out_shape):
    return N.reshape(net, xs[0], out_shape, layer.name)


def _zero_padding(net, layer, xs, kind, out_shape):
    _channels_last(layer, kind)
    pads = layer.padding
    if isinstance(pads[0], int):
        pads = (tuple(pads),)
    return N.zero_padding(net, xs[0], tuple(tuple(p) for p in pads), layer.name)


def _pool(net, layer, xs, kind, out_shape, fn):
    _channels_last(layer, kind)
    cfg = layer.get_config()
    return fn(net, xs[0], cfg["pool_size"], cfg["strides"], cfg["padding"], layer.name)


def _global(net, layer, xs, kind, out_shape):
    _channels_last(layer, kind)
    return N.global_average_pool(net, xs[0], layer.get_config().get("keepdims", False), layer.name)


def _concatenate(net, layer, xs, kind, out_shape):
    return N.concatenate(net, xs, layer.axis, layer.name)


BUILDERS = {
    "dense": _dense, "conv": _conv, "batchnorm": _batchnorm, "activation": _activation_layer, "relu": _relu,
    "leaky_relu": _leaky, "elu": _elu, "reshape": _reshape, "zero_padding": _zero_padding,
    "max_pool": lambda *a: _pool(*a, N.max_pool), "average_pool": lambda *a: _pool(*a, N.average_pool),
    "global_average_pool": _global, "concatenate": _concatenate,
    "add": lambda net, layer, xs, kind, s: N.merge(net, xs, [1] * len(xs), layer.name),
    "subtract": lambda net, layer, xs, kind, s: N.merge(net, xs, [1, -1], layer.name),
    "average": lambda net, layer, xs, kind, s: N.merge(net, xs, [1 / len(xs)] * len(xs), layer.name),
}


def from_keras(model) -> N.Net:
    """The model's records. Raises Unsupported naming the first layer it cannot take."""
    from ..ops import CATALOG
    by_keras = {(op.keras or op.name): op for op in CATALOG.values()}
    graph = getattr(model, "_functional", None) or model
    if not hasattr(graph, "outputs") or graph.outputs is None:
        raise Unsupported(model.name, type(model).__name__, "the model is not built (it has no inputs)")
    net = N.Net()
    done: dict = {}

    def visit(tensor) -> int:
        key = id(tensor)
        if key in done:
            return done[key]
        layer, node_index, _ = tensor._keras_history
        kind = type(layer).__name__
        if kind == "InputLayer":
            shape = tuple(tensor.shape[1:])
            if any(d is None for d in shape):
                raise Unsupported(layer.name, kind, f"its shape {tuple(tensor.shape)} has an unknown size")
            done[key] = net.input(layer.name, shape)
            return done[key]
        op = by_keras.get(kind)
        # Keras's own layer classes only: a keras.ops call (x + 1 is an operation named Add) or a
        # user's class of the same name computes something else
        builtin = type(layer).__module__.startswith("keras.src.layers.")
        if op is None or not op.bounds or op.bounds not in BUILDERS or not builtin:
            raise Unsupported(layer.name, kind if builtin else f"{type(layer).__module__}.{kind}",
                              "" if builtin or op is None else "not a keras.layers layer")
        node = layer._inbound_nodes[node_index]
        inputs = [visit(t) for t in node.input_tensors]
        outs = node.output_tensors
        if len(outs) != 1:
            raise Unsupported(layer.name, kind, "it has several outputs")
        out_shape = tuple(outs[0].shape[1:])
        done[key] = BUILDERS[op.bounds](net, layer, inputs, kind, out_shape)
        if net.shape(done[key]) != out_shape:
            raise Unsupported(layer.name, kind, f"bounds computes shape {net.shape(done[key])}, Keras {out_shape}")
        return done[key]

    for t in graph.inputs:
        visit(t)
    names = list(getattr(model, "output_names", None) or [])
    for i, t in enumerate(graph.outputs):
        name = names[i] if i < len(names) else t._keras_history[0].name
        net.outputs[name] = visit(t)
    return net
