"""MACs against a brute-force count from Keras's own built layers: random small models."""
import random

import numpy as np
import pytest

import nnspec
from nnspec import cost


def keras_macs(model):
    """From the built layers' kernels and output shapes only (not nnspec's op records)."""
    total = 0
    for layer in model.layers:
        name = type(layer).__name__
        out = layer.output.shape
        if getattr(layer, "data_format", None) == "channels_first":  # (batch, channels, ...): as channels last
            out = (out[0], *out[2:], out[1])
        if name in ("Conv1D", "Conv2D", "DepthwiseConv2D", "DepthwiseConv1D"):
            # (window, input channels / groups, filters) or, depthwise, (window, channels, multiplier)
            total += int(np.prod(out[1:-1])) * int(np.prod(layer.kernel.shape))
        elif name in ("SeparableConv1D", "SeparableConv2D"):
            total += int(np.prod(out[1:-1])) * (int(np.prod(layer.depthwise_kernel.shape)) +
                                                int(np.prod(layer.pointwise_kernel.shape)))
        elif name == "Dense":
            total += int(np.prod(out[1:-1])) * int(np.prod(layer.kernel.shape))
        elif name in ("LSTM", "GRU", "SimpleRNN"):
            steps = layer.input.shape[1]
            total += steps * (int(np.prod(layer.cell.kernel.shape)) + int(np.prod(layer.cell.recurrent_kernel.shape)))
    return total


def random_spec(rng):
    if rng.random() < 0.3:  # a sequence model
        t, f = rng.randint(2, 9), rng.randint(1, 6)
        layers = [f"  - {rng.choice(['LSTM', 'GRU', 'SimpleRNN'])}: {{units: {rng.randint(1, 9)}, "
                  f"return_sequences: true}}",
                  f"  - Dense: {{units: {rng.randint(1, 9)}}}",
                  f"  - {rng.choice(['LSTM', 'GRU'])}: {{units: {rng.randint(1, 9)}}}"]
        inputs = f"[{t}, {f}]"
    else:
        h, c = rng.randint(8, 20), rng.randint(1, 5)
        layers = []
        for _ in range(rng.randint(1, 4)):
            k, s = rng.randint(1, 3), rng.randint(1, 2)
            pad = rng.choice(["same", "valid"])
            kind = rng.choice(["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2D"])
            filters = "" if kind == "DepthwiseConv2D" else f"filters: {rng.randint(1, 8)}, "
            layers.append(f"  - {kind}: {{{filters}kernel_size: {k}, strides: {s}, padding: {pad}}}")
        layers += ["  - Flatten: {}", f"  - Dense: {{units: {rng.randint(1, 9)}}}"]
        inputs = f"[{h}, {h}, {c}]"
    layers.append("  - Dense: {units: 1, name: out}")
    return "\n".join(["nnspec: 1", "name: r", "inputs:", f"  x: {inputs}", "layers:", *layers,
                      "outputs:", "  out: {loss: mse}", ""])


@pytest.mark.parametrize("seed", range(12))
def test_macs_match_keras_layers(seed):
    from nnspec.keras.build import build
    text = random_spec(random.Random(seed))
    spec, diags = nnspec.check_text(text, "r.yaml")
    assert spec is not None and not [d for d in diags if d.severity == "error"], (text, diags)
    assert cost.total_macs(spec) == keras_macs(build(spec)), text


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"])
def test_macs_channels_first_match_keras_layers(kind):
    """channels_first puts the channels at axis 1: the count must not take the last axis for them."""
    from nnspec.keras.build import build
    args = {"Conv2D": "filters: 6, groups: 2, ", "DepthwiseConv2D": "depth_multiplier: 2, ",
            "SeparableConv2D": "filters: 5, "}[kind]
    text = f"""nnspec: 1
name: r
inputs:
  x: [4, 9, 7]
layers:
  - {kind}: {{{args}kernel_size: 3, data_format: channels_first}}
  - Flatten: {{}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""
    spec, diags = nnspec.check_text(text, "r.yaml")
    assert spec is not None and not [d for d in diags if d.severity == "error"], diags
    assert cost.total_macs(spec) == keras_macs(build(spec))
