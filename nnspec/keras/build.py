"""IR -> keras.Model (Functional). The graph only: training configuration,
penalties and export belong to `nnspec compile` (issue 3)."""
from __future__ import annotations

import keras

from ..ir import Spec
from ..ops import CATALOG
from .layers import call_layer, make_layer, regularizer


def build_graph(spec: Spec) -> keras.Model:
    """One Keras layer per spec layer (shared for `reuse`), named as in the spec;
    outputs as a dict keyed by output name."""
    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    tensors = {}
    for name, inp in spec.inputs.items():
        tensors[name] = keras.Input(shape=inp.shape[1:], dtype=inp.dtype, name=name)
    layers = {}
    for node in spec.nodes:
        op = CATALOG[node.op]
        if node.reuse:
            layer = layers[node.layer]
        else:
            layer = make_layer(op, node.args, name=node.name,
                               activity_regularizer=regularizer(node.activity_regularizer))
            layer.trainable = node.trainable
            layers[node.name] = layer
        tensors[node.name] = call_layer(op, layer, [tensors[r] for r in node.inputs])
    outputs = {name: tensors[name] for name in spec.outputs}
    return keras.Model(inputs=[tensors[n] for n in spec.inputs], outputs=outputs, name=spec.name)
