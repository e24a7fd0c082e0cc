"""Output bounds of a network over an input box (`nnspec bounds`, issue 10).

The network is first turned into a plain list of numpy layer records (net.py; the only module that
touches Keras objects), then bounded without TensorFlow or Keras:

  * ibp.py: interval arithmetic;
  * crown.py: backward linear relaxation (CROWN), intersected with interval arithmetic;
  * exact.py: a mixed-integer linear program over the ReLUs (scipy's HiGHS), with witnesses.

Every tensor is a flat vector in row-major (channels-last) order; a layer is one of four kinds of
record: an input, a linear map of its inputs (Dense, Conv, BatchNormalization at inference, pooling
by averages, padding, reshapes, merges), an elementwise activation, or a max over windows.
"""
from __future__ import annotations


class Unsupported(Exception):
    """A layer the bounding methods cannot take: ``layer`` its name, ``kind`` its type."""

    def __init__(self, layer: str, kind: str, why: str = ""):
        super().__init__(f"layer {layer!r} ({kind}){': ' + why if why else ''}")
        self.layer, self.kind, self.why = layer, kind, why


class NotExact(Exception):
    """--method exact on a network that is not piecewise linear."""

    def __init__(self, layer: str, what: str):
        super().__init__(f"layer {layer!r} applies {what}, which is not piecewise linear")
        self.layer, self.what = layer, what
