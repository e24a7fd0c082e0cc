"""Keras masks, as far as validation needs them: Masking and Embedding(mask_zero) put a mask of
(batch, steps) on their output, and the layers listed here pass it on (measured against Keras 3.15:
each op on a masked (batch, steps, features) tensor, does its output carry the mask?). Softmax is
the one layer a propagated mask breaks: Keras applies the (batch, steps) mask to its (batch, steps,
features) input and fails when it runs, so the shapes pass refuses a masked Softmax."""
from __future__ import annotations

PROPAGATES = frozenset({
    "Activation", "ELU", "LeakyReLU", "PReLU", "ReLU", "Dense", "Scale", "Masking", "Rescaling", "Normalization",
    "BatchNormalization", "LayerNormalization", "UnitNormalization", "Dropout", "GaussianDropout",
    "GaussianNoise", "SpatialDropout1D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "Attention", "MultiHeadAttention", "TimeDistributed",
})
RECURRENT = frozenset({"SimpleRNN", "LSTM", "GRU"})  # with return_sequences: true


def output_masked(op_name: str, args: dict, masked_inputs: list) -> bool:
    """Whether the op's output carries a mask, given which inputs do."""
    if op_name in ("Masking",) or (op_name == "Embedding" and args.get("mask_zero")):
        return True
    if not any(masked_inputs):
        return False
    if op_name in PROPAGATES:
        return True
    if op_name in RECURRENT:
        return bool(args.get("return_sequences"))
    inner = args.get("layer") if isinstance(args.get("layer"), dict) and len(args["layer"]) == 1 else None
    if inner is not None:
        (name, inner_args), = inner.items()
        if op_name == "Bidirectional":
            return bool((inner_args or {}).get("return_sequences"))
        if op_name == "WeightNorm":
            return name == "Dense"
    return False
