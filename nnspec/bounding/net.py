"""A network as a plain list of numpy records, and the builders that make them.

``Net.nodes`` is in topological order; each ``Node`` is one of
  * ``input``: a model input (``name``, ``shape``);
  * ``linear``: ``sum_i mats[i] @ x_i + bias`` (a matrix in one of the forms of prims.py);
  * ``act``: an elementwise activation (activations.py) of its one input;
  * ``maxpool``: ``out[j] = max(x[groups[j, k]] for k with groups[j, k] >= 0)``.
Shapes leave out the batch axis; a tensor is its row-major flattening (channels last).

The builders (``dense``, ``conv``, ``batchnorm``, ...) take numpy weights as Keras stores them.
``from_keras(model)`` walks a Keras Functional or Sequential model with them: it is the only code
here that touches Keras objects, and the op catalog's ``Op.bounds`` says which builder a layer
type maps to (None: not supported).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import Unsupported, activations, prims


@dataclass
class Node:
    kind: str
    shape: tuple
    inputs: tuple = ()
    layer: str = ""  # the layer it comes from (for messages), or the input's name
    mats: tuple = ()
    bias: np.ndarray | None = None
    act: str = ""
    alpha: float = 0.0
    groups: np.ndarray | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Net:
    nodes: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # name -> node index
    outputs: dict = field(default_factory=dict)  # name -> node index

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def shape(self, i: int) -> tuple:
        return self.nodes[i].shape

    def input(self, name: str, shape) -> int:
        i = self.add(Node("input", tuple(int(d) for d in shape), layer=name))
        self.inputs[name] = i
        return i

    def linear(self, inputs, mats, bias, shape, layer="") -> int:
        shape = tuple(int(d) for d in shape)
        bias = None if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (math.prod(shape),)).copy()
        return self.add(Node("linear", shape, tuple(inputs), layer, tuple(mats), bias))

    def act(self, x: int, kind: str, alpha: float = 0.0, layer="") -> int:
        if kind not in activations.KINDS:
            raise ValueError(kind)
        if kind == "linear":
            return x
        if kind == "leaky_relu" and alpha == 0:
            kind = "relu"
        return self.add(Node("act", self.shape(x), (x,), layer, act=kind, alpha=float(alpha)))

    def maxpool_groups(self, x: int, groups, shape, layer="") -> int:
        return self.add(Node("maxpool", tuple(shape), (x,), layer, groups=np.asarray(groups, np.int64)))

    def forward(self, feeds: dict) -> dict:
        """Evaluate in float64: feeds name -> array (batch, *shape); returns output name -> array."""
        vals = self.evaluate(feeds)
        b = vals[0].shape[0] if vals else 0
        return {k: vals[i].reshape((b,) + self.nodes[i].shape) for k, i in self.outputs.items()}

    def evaluate(self, feeds: dict) -> list:
        vals: list = []
        for n in self.nodes:
            if n.kind == "input":
                x = np.asarray(feeds[n.layer], np.float64)
                vals.append(x.reshape(x.shape[0], -1))
            elif n.kind == "linear":
                out = sum(prims.forward(m, vals[i]) for m, i in zip(n.mats, n.inputs))
                vals.append(out + n.bias if n.bias is not None else out)
            elif n.kind == "act":
                vals.append(activations.apply(n.act, n.alpha, vals[n.inputs[0]]))
            else:
                vals.append(_group_max(vals[n.inputs[0]], n.groups))
        return vals


def _group_max(x, groups):
    """x (batch, n) -> (batch, len(groups)): the max over each row of groups (-1: none)."""
    picked = x[:, np.maximum(groups, 0)]
    picked = np.where(groups[None] >= 0, picked, -np.inf)
    return picked.max(axis=2)


# ---------------------------------------------------------------- layer builders
def _spatial(shape):
    """(spatial dims, channels) of a channels-last shape."""
    return tuple(shape[:-1]), shape[-1]


def _window_taps(in_sp, kernel, strides, dilation, padding):
    """Output spatial dims and, for every (output position, kernel offset) that lands inside the
    input: (out flat position, kernel flat offset, in flat position)."""
    rank = len(in_sp)
    out_sp, before = [], []
    for d in range(rank):
        k = (kernel[d] - 1) * dilation[d] + 1
        n, s = in_sp[d], strides[d]
        if padding == "valid":
            o, pad = (n - k) // s + 1, 0
        elif padding == "same":
            o = -(-n // s)
            pad = max((o - 1) * s + k - n, 0) // 2
        elif padding == "causal":
            o, pad = -(-n // s), k - 1
        else:
            raise ValueError(padding)
        out_sp.append(o)
        before.append(pad)
    grids = np.meshgrid(*[np.arange(o) for o in out_sp], *[np.arange(k) for k in kernel], indexing="ij")
    pos = [g.ravel() for g in grids]
    opos, koff = pos[:rank], pos[rank:]
    ipos = [opos[d] * strides[d] + koff[d] * dilation[d] - before[d] for d in range(rank)]
    ok = np.ones(opos[0].shape, bool)
    for d in range(rank):
        ok &= (ipos[d] >= 0) & (ipos[d] < in_sp[d])
    flat = lambda idx, dims: np.ravel_multi_index([i[ok] for i in idx], dims)  # noqa: E731
    return tuple(out_sp), flat(opos, out_sp), flat(koff, kernel), flat(ipos, in_sp)


def dense(net: Net, x: int, kernel, bias=None, layer="") -> int:
    """Keras Dense: the last axis times kernel (n_in, n_out)."""
    kernel = np.asarray(kernel, np.float64)
    shape = net.shape(x)
    n_in, n_out = kernel.shape
    reps = math.prod(shape[:-1])
    if reps == 1:
        m = kernel.T.copy()
    else:
        r, o, i = np.meshgrid(np.arange(reps), np.arange(n_out), np.arange(n_in), indexing="ij")
        m = prims.matrix((r * n_out + o).ravel(), (r * n_in + i).ravel(), kernel.T[o, i].ravel(),
                         (reps * n_out, reps * n_in))
    b = None if bias is None else np.tile(np.asarray(bias, np.float64), reps)
    return net.linear([x], [m], b, shape[:-1] + (n_out,), layer)


def conv(net: Net, x: int, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1,
         depthwise=False, layer="") -> int:
    """Keras ConvND (kernel (*k, c_in / groups, filters)) or DepthwiseConvND (kernel (*k, c_in,
    multiplier)), channels last."""
    kernel = np.asarray(kernel, np.float64)
    in_sp, c_in = _spatial(net.shape(x))
    rank = len(in_sp)
    ks = kernel.shape[:rank]
    strides, dilation = _tuple(strides, rank), _tuple(dilation, rank)
    out_sp, opos, koff, ipos = _window_taps(in_sp, ks, strides, dilation, padding)
    kflat = kernel.reshape(math.prod(ks), kernel.shape[-2], kernel.shape[-1])
    if depthwise:
        mult = kernel.shape[-1]
        c_out = c_in * mult
        c, m = np.meshgrid(np.arange(c_in), np.arange(mult), indexing="ij")
        oc, ic, kc, kf = (c * mult + m).ravel(), c.ravel(), c.ravel(), m.ravel()
    else:
        c_out = kernel.shape[-1]
        per_in, per_out = c_in // groups, c_out // groups
        f, cc = np.meshgrid(np.arange(c_out), np.arange(per_in), indexing="ij")
        g = f // per_out
        oc, ic, kc, kf = f.ravel(), (g * per_in + cc).ravel(), cc.ravel(), f.ravel()
    rows = (opos[:, None] * c_out + oc[None]).ravel()
    cols = (ipos[:, None] * c_in + ic[None]).ravel()
    vals = kflat[koff[:, None], kc[None], kf[None]].ravel()
    n_out = math.prod(out_sp) * c_out
    m = prims.matrix(rows, cols, vals, (n_out, math.prod(in_sp) * c_in))
    b = None if bias is None else np.tile(np.asarray(bias, np.float64), math.prod(out_sp))
    return net.linear([x], [m], b, out_sp + (c_out,), layer)


def batchnorm(net: Net, x: int, gamma, beta, mean, var, epsilon, axis=-1, layer="") -> int:
    """BatchNormalization at inference: gamma (x - mean) / sqrt(var + epsilon) + beta along axis."""
    shape = net.shape(x)
    axis = axis % (len(shape) + 1) - 1  # Keras counts the batch axis
    if axis < 0:
        raise Unsupported(layer, "BatchNormalization", "it normalizes the batch axis")
    n = shape[axis]
    gamma = np.ones(n) if gamma is None else np.asarray(gamma, np.float64)
    beta = np.zeros(n) if beta is None else np.asarray(beta, np.float64)
    scale = gamma / np.sqrt(np.asarray(var, np.float64) + epsilon)
    shift = beta - np.asarray(mean, np.float64) * scale
    view = [1] * len(shape)
    view[axis] = n
    d = np.broadcast_to(scale.reshape(view), shape).ravel().copy()
    b = np.broadcast_to(shift.reshape(view), shape).ravel().copy()
    return net.linear([x], [d], b, shape, layer)


def reshape(net: Net, x: int, shape, layer="") -> int:
    """Flatten, Reshape, Dropout (identity at inference): the same flat vector."""
    return net.linear([x], [1.0], None, tuple(shape), layer)


def merge(net: Net, xs, weights, layer="") -> int:
    """Add (weights 1, 1, ...), Subtract (1, -1), Average (1/n each) of equal shapes."""
    shapes = {net.shape(x) for x in xs}
    if len(shapes) != 1:
        raise Unsupported(layer, "merge", "its inputs have different shapes (broadcasting)")
    return net.linear(xs, [float(w) for w in weights], None, net.shape(xs[0]), layer)


def concatenate(net: Net, xs, axis=-1, layer="") -> int:
    shapes = [net.shape(x) for x in xs]
    rank = len(shapes[0])
    axis = axis % (rank + 1) - 1
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    mats, offset = [], 0
    for s in shapes:
        idx = np.arange(math.prod(s)).reshape(s)
        pos = np.indices(s)
        pos[axis] += offset
        rows = np.ravel_multi_index(tuple(pos.reshape(rank, -1)), out)
        mats.append(prims.matrix(rows, idx.ravel(), 1.0, (math.prod(out), math.prod(s))))
        offset += s[axis]
    return net.linear(xs, mats, None, tuple(out), layer)


def zero_padding(net: Net, x: int, pads, layer="") -> int:
    """ZeroPadding1D/2D: pads = ((before, after), ...) per spatial axis."""
    in_sp, c = _spatial(net.shape(x))
    out_sp = tuple(n + a + b for n, (a, b) in zip(in_sp, pads))
    pos = np.indices(in_sp + (c,)).reshape(len(in_sp) + 1, -1)
    moved = [pos[d] + pads[d][0] for d in range(len(in_sp))] + [pos[-1]]
    rows = np.ravel_multi_index(moved, out_sp + (c,))
    n_in = math.prod(in_sp) * c
    return net.linear([x], [prims.matrix(rows, np.arange(n_in), 1.0, (math.prod(out_sp) * c, n_in))], None,
                      out_sp + (c,), layer)


def _pool_taps(net, x, pool, strides, padding):
    in_sp, c = _spatial(net.shape(x))
    rank = len(in_sp)
    pool = _tuple(pool, rank)
    strides = pool if strides is None else _tuple(strides, rank)
    out_sp, opos, _, ipos = _window_taps(in_sp, pool, strides, (1,) * rank, padding)
    return in_sp, c, out_sp, opos, ipos


def average_pool(net: Net, x: int, pool, strides=None, padding="valid", layer="") -> int:
    """AveragePooling: the mean of the window's positions inside the input (Keras's 'same' leaves
    the padding out of the count)."""
    in_sp, c, out_sp, opos, ipos = _pool_taps(net, x, pool, strides, padding)
    count = np.bincount(opos, minlength=math.prod(out_sp)).astype(np.float64)
    ch = np.arange(c)
    rows = (opos[:, None] * c + ch).ravel()
    cols = (ipos[:, None] * c + ch).ravel()
    vals = np.repeat(1.0 / count[opos], c)
    m = prims.matrix(rows, cols, vals, (math.prod(out_sp) * c, math.prod(in_sp) * c))
    return net.linear([x], [m], None, out_sp + (c,), layer)


def max_pool(net: Net, x: int, pool, strides=None, padding="valid", layer="") -> int:
    in_sp, c, out_sp, opos, ipos = _pool_taps(net, x, pool, strides, padding)
    n_pos = math.prod(out_sp)
    k = np.bincount(opos, minlength=n_pos).max()
    slot = np.zeros_like(opos)
    order = np.argsort(opos, kind="stable")
    starts = np.searchsorted(opos[order], np.arange(n_pos))
    slot[order] = np.arange(len(opos)) - starts[opos[order]]
    groups = -np.ones((n_pos, c, k), np.int64)
    for ch in range(c):
        groups[opos, ch, slot] = ipos * c + ch
    return net.maxpool_groups(x, groups.reshape(n_pos * c, k), out_sp + (c,), layer)


def global_average_pool(net: Net, x: int, keepdims=False, layer="") -> int:
    in_sp, c = _spatial(net.shape(x))
    n = math.prod(in_sp)
    ch = np.tile(np.arange(c), n)
    m = prims.matrix(ch, np.arange(n * c), 1.0 / n, (c, n * c))
    shape = ((1,) * len(in_sp) if keepdims else ()) + (c,)
    return net.linear([x], [m], None, shape, layer)


def _tuple(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
