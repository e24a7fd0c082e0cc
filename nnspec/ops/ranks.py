"""What each op asks of its input's rank, beyond its shape rule, measured against Keras 3.

``RANK_FREE``: the layers Keras builds without pinning the input's rank (no ``InputSpec(ndim=...)``):
a shared one may be called on inputs of another rank (``Op.rank_free``). A wrapper (dtypes.WRAPPERS)
is as rank-free as the layer it wraps.

``SEQUENCE_INPUT``: the layers whose (first) input is a sequence, (batch, steps, ...): a rank-2
input there gets the hint to return sequences from the recurrent layer before, or to Reshape
(``Op.sequence_input``; tests/test_codes.py checks that their shape rules say so).

Applied to the catalog in ops/__init__.py, as dtypes.py is.
"""
from __future__ import annotations

RANK_FREE = frozenset({
    "Dense", "Embedding", "LayerNormalization", "UnitNormalization", "MultiHeadAttention", "Dropout",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Rescaling", "Activation", "ReLU", "LeakyReLU", "ELU",
    "Softmax", "Flatten", "Reshape", "Slice", "Attention",
    # merges: measured, a shared one runs on inputs of another rank (fuzzer, seed 33)
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    # no weights, no InputSpec (seeds 34-36: graphs 452, 1716, 3444)
    "Expr", "Hashing", "Masking", "CategoryEncoding"})

SEQUENCE_INPUT = frozenset({
    "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "ConvLSTM2D", "Attention", "MultiHeadAttention",
    "Conv1D", "Conv1DTranspose", "SeparableConv1D", "DepthwiseConv1D", "MaxPooling1D", "AveragePooling1D",
    "GlobalMaxPooling1D", "GlobalAveragePooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D",
    "SpatialDropout1D"})
