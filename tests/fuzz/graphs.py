"""Random model graphs over the whole op catalog, for the differential fuzzer.

A graph is plain data (JSON-serialisable, so a failing one can be written out
and replayed):

    {"inputs":  {"x0": {"shape": [8, 3], "dtype": "float32"}, ...},
     "layers":  [{"op": "Dense", "args": {...}, "name": "l1", "from": ["x0"],
                  "trainable": true, "activity_regularizer": null},
                 {"reuse": "l1", "name": "l4", "from": ["l3"]},
                 {"repeat": 2, "name": "r5", "layers": [{"op": ..., "args": ...}], "from": ["l4"]}],
     "outputs": {"l4": {"loss": "mse"}},
     "penalties": [{"on": "l1", "l2": 0.01}],
     "seed": 3}

``to_doc`` turns it into an nnspec spec (a dict for yaml.safe_dump); the
oracle's raw-Keras translator reads the same graph without nnspec's builder.

Arguments are drawn from each op's JSON Schema in the catalog (``Op.args``),
with the vocabulary of nnspec/vocab.py for activations, initializers,
regularizers and constraints. Values a schema cannot make plausible alone
(a Reshape target, a Permute order, a Slice key, an einsum equation, an axis
that fits the input's rank) come from small per-argument helpers that look
at the input shape. The generator steers with the catalog's own shape rules
(it retries ops whose rule refuses the input, except in graphs drawn to hold
a refusal); the oracle never trusts them: it reads shapes and counts from
Keras.

Randomness goes through a ``Draw``: ``RandomDraw`` (a seeded random.Random,
used by the campaign, graph i of seed S is always the same graph) or
``HypothesisDraw`` (hypothesis's ``data.draw``, used by the test, so failures
shrink).
"""
from __future__ import annotations

import math
import random

from nnspec import vocab
from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError, dtype_kind
from nnspec.schema import generate as _schema

DEFS = _schema()["definitions"]

# Custom needs an importable user module and declares its own shape: nothing to compare.
EXCLUDED_OPS = {"Custom"}
INT_OPS = ("Embedding", "CategoryEncoding", "Hashing")  # of integer indices: fed the integer tensors
OPS = sorted(n for n in CATALOG if n not in EXCLUDED_OPS)
FLOAT_DTYPES = ["float32"] * 12 + ["float64", "float16", "bfloat16"]
INT_DTYPES = ["int32", "int64"]
# Vocabulary drawn for constraints: the expr/custom forms are left out (custom needs an
# importable module; constraint expressions are the spec helper's ground).
CONSTRAINTS = sorted(vocab.CONSTRAINTS)
LOSSES_SIMPLE = ["mse", "mae", "mean_squared_error", "huber", "log_cosh", "mean_absolute_error"]
LOSSES_OTHER = sorted(vocab.LOSSES)
# Metrics that take float targets shaped like the output (the sparse ones want integer labels,
# which the oracle gives only to a sparse loss).
METRICS = [m for m in vocab.METRICS if not m.startswith("sparse")]
OPTIMIZERS = sorted(vocab.OPTIMIZERS)


# ------------------------------------------------------------------ randomness
class Draw:
    def int(self, lo: int, hi: int) -> int: ...
    def choice(self, seq): ...
    def bool(self, p: float = 0.5) -> bool: ...
    def float(self, lo: float, hi: float) -> float: ...

    def sample(self, seq, k):
        seq, out = list(seq), []
        for _ in range(min(k, len(seq))):
            out.append(seq.pop(self.int(0, len(seq) - 1)))
        return out


class RandomDraw(Draw):
    def __init__(self, seed):
        self.r = random.Random(seed)

    def int(self, lo, hi):
        return self.r.randint(lo, hi)

    def choice(self, seq):
        return seq[self.r.randrange(len(seq))]

    def bool(self, p=0.5):
        return self.r.random() < p

    def float(self, lo, hi):
        return round(self.r.uniform(lo, hi), 3)


class HypothesisDraw(Draw):
    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def int(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq):
        return self.data.draw(self.st.sampled_from(list(seq)))

    def bool(self, p=0.5):
        # integers shrink towards 0: False is the simpler answer
        return self.data.draw(self.st.integers(0, 999)) >= 1000 - round(1000 * p)

    def float(self, lo, hi):
        return round(self.data.draw(self.st.floats(lo, hi, allow_nan=False)), 3)


# ------------------------------------------------------------------ values from JSON Schema
def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].split("/")[-1]]
    return schema


def small_int(d: Draw, lo: int, hi: int) -> int:
    """Mostly lo..lo+4, now and then up to lo+15 (within [lo, hi])."""
    top = lo + (4 if d.bool(0.85) else 15)
    return d.int(lo, max(lo, min(hi, top)))


def number(d: Draw, schema: dict) -> float:
    lo = schema.get("minimum", schema.get("exclusiveMinimum", -2.0))
    hi = schema.get("maximum", schema.get("exclusiveMaximum", max(lo, 0) + 2.0))
    x = d.float(lo, hi)
    if "exclusiveMinimum" in schema and x <= schema["exclusiveMinimum"]:
        x = schema["exclusiveMinimum"] + ((hi - lo) / 2 or 0.5)
    if "exclusiveMaximum" in schema and x >= schema["exclusiveMaximum"]:
        x = (lo + schema["exclusiveMaximum"]) / 2
    return x


def vocab_value(d: Draw, what: str):
    """An activation, initializer, regularizer or constraint, as a spec writes it."""
    if what == "activation":
        return d.choice(vocab.ACTIVATIONS + ["relu", "tanh", "linear", None, None])
    table = {"initializer": vocab.INITIALIZERS, "regularizer": vocab.REGULARIZERS,
             "constraint": vocab.CONSTRAINTS}[what]
    name = d.choice(sorted(table))
    args_schema = table[name]
    if what == "regularizer":
        if args_schema.get("type") == "number":  # {l2: 0.01}
            return {name: d.choice([0.0, 0.001, 0.01, 0.5])}
        props = args_schema["properties"]
        return {name: {k: from_schema(d, s, k, None) for k, s in props.items() if d.bool(0.5)}}
    if not args_schema or d.bool(0.5):
        return name
    return {name: {k: from_schema(d, s, k, None) for k, s in args_schema.items() if d.bool(0.5)}}


def from_schema(d: Draw, schema: dict, arg: str, shape):
    """A value valid under ``schema`` (a catalog argument's), small where numbers are free."""
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        if ref in ("activation", "initializer", "regularizer", "constraint"):
            return vocab_value(d, ref)
        if ref == "layer_item":
            return nested_item(d, d.choice([o for o in OPS if CATALOG[o].inputs == (1, 1)]), shape)
        schema = _resolve(schema)
    if "anyOf" in schema:
        branches = schema["anyOf"]
        non_null = [b for b in branches if _resolve(b).get("type") != "null"]
        if len(non_null) < len(branches) and d.bool(0.2):
            return None
        return from_schema(d, d.choice(non_null), arg, shape)
    if "enum" in schema:
        return d.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    t = schema.get("type")
    if isinstance(t, list):
        t = [x for x in t if x != "null"][0]
    if t == "boolean":
        return d.bool()
    if t == "integer":
        lo = max(schema.get("minimum", 0), -8)
        return small_int(d, lo, schema.get("maximum", 2**31 - 1))
    if t == "number":
        return number(d, schema)
    if t == "array":
        lo, hi = schema.get("minItems", 1), min(schema.get("maxItems", 4), 4)
        items = [from_schema(d, schema.get("items", {"type": "integer"}), arg, shape)
                 for _ in range(d.int(lo, max(lo, hi)))]
        if schema.get("uniqueItems"):
            items = list(dict.fromkeys(items))
        return items
    if t == "object":
        props = schema.get("properties", {})
        return {k: from_schema(d, s, k, shape) for k, s in props.items() if d.bool(0.5)}
    if t == "string":
        return "x"
    return None


def nested_item(d: Draw, op_name: str, shape=None) -> dict:
    """{Type: {args}} for a wrapper's `layer:`."""
    return {op_name: op_args(d, op_name, shape)}


# ------------------------------------------------------------------ per-argument helpers
def _rank(shape):
    return len(shape) if shape is not None else 3


def _axis(d, shape, batch_ok=False):
    r = _rank(shape)
    lo = 0 if batch_ok else 1
    if d.bool(0.9):
        a = d.int(lo, r - 1) if r > lo else -1
        return a - r if d.bool(0.3) else a
    return d.int(-r - 1, r)  # now and then out of range


def _factor_target(d, shape):
    dims = shape[1:] if shape else (4,)
    if None in dims or d.bool(0.1):
        target = [small_int(d, 1, 8) for _ in range(d.int(1, 3))]
        if d.bool(0.5):
            target[d.int(0, len(target) - 1)] = -1
        return target
    n, target = math.prod(dims), []
    while n > 1 and len(target) < 3 and d.bool(0.7):
        f = d.choice([f for f in range(1, n + 1) if n % f == 0])
        target.append(f)
        n //= f
    target.append(n)
    if d.bool(0.3):
        target[d.int(0, len(target) - 1)] = -1
    return target


def _slice_key(d, shape):
    r = _rank(shape)
    pieces = [":"]
    for axis in range(1, r):
        size = shape[axis] if shape else 4
        kind = d.choice(["all", "all", "range", "index", "step"])
        if kind == "all":
            pieces.append(":")
        elif kind == "index":
            pieces.append(str(d.int(-(size or 2), (size or 2) - 1)))
        elif kind == "range":
            a = d.int(0, max(0, (size or 3) - 1))
            pieces.append(f"{a}:{d.int(a, (size or 3) + 1)}" if d.bool(0.7) else f"-{d.int(1, 3)}:")
        else:
            pieces.append(f"::{d.choice([2, -1, 3])}")
    if d.bool(0.3):  # an ellipsis for the trailing axes
        pieces = pieces[:d.int(1, len(pieces))] + ["..."]
    return ", ".join(pieces)


LETTERS = "abcdefgh"


def _einsum(d, shape):
    r = _rank(shape)
    mode = d.choice([None, None, "left", "right"])
    if mode is None:
        inp = LETTERS[:r]
        kept = [c for c in inp[1:] if d.bool(0.5)]
        dropped = "".join(c for c in inp[1:] if c not in kept)
        out = "a" + "".join(kept) + "z"
        eq = f"{inp},{dropped}z->{out}"
        sizes = [(shape[inp.index(c)] if shape and d.bool(0.7) else None) for c in kept] + [small_int(d, 1, 6)]
    elif mode == "left":
        eq, out, sizes = "...b,bz->...z", "z", [small_int(d, 1, 6)]
    else:
        eq, out, sizes = "ab...,bz->az...", "az", [small_int(d, 1, 6)]
    bias = d.choice([None, None, out[-1], out[0]])
    return {"equation": eq, "output_shape": sizes[0] if len(sizes) == 1 and d.bool(0.5) else sizes,
            "bias_axes": bias}


def _permute(d, shape):
    dims = list(range(1, _rank(shape)))
    if d.bool(0.9):
        return d.sample(dims, len(dims)) or [1]
    return d.sample(dims + [len(dims) + 1], max(1, len(dims)))


# Args worth a helper: (op or "*", arg) -> f(draw, input_shape) -> value.
def _pairs(d, n, lo=0, hi=2):
    if n == 1:
        return d.choice([d.int(lo, hi), [d.int(lo, hi), d.int(lo, hi)]])
    form = d.int(0, 2)
    if form == 0:
        return d.int(lo, hi)
    if form == 1:
        return [d.int(lo, hi), d.int(lo, hi)]
    return [[d.int(lo, hi), d.int(lo, hi)], [d.int(lo, hi), d.int(lo, hi)]]


def _rescale(d, shape):
    if d.bool(0.7):
        return d.float(-2, 2)
    n = shape[-1] if shape and shape[-1] and d.bool(0.8) else d.int(1, 4)
    return [d.float(-2, 2) for _ in range(n)]


def _shared_axes(d, shape):
    if d.bool(0.4):
        return None
    r = _rank(shape)
    axes = d.sample(range(1, max(2, r)), d.int(1, max(1, r - 1)))
    return axes[0] if len(axes) == 1 and d.bool(0.5) else axes


def _dot_axes(d, shape):
    return d.choice([-1, -1, 1, 2, [1, 1], [-1, 1], [2, 2], [1, 2], [-1, -1]])


def _window(d, rank, hi=3):
    v = [d.int(1, hi) for _ in range(rank)]
    return v[0] if rank == 1 or d.bool(0.6) else v


EXPR_NAMES = ("a", "b", "c")  # an Expr's inputs, `from: {a: .., b: ..}` (Builder.emit)


def _expr_term(d, names, shapes):
    """One term of an Expr layer's expression over its inputs (steered by the catalog's rule)."""
    i = d.int(0, len(names) - 1)
    x, r = names[i], len(shapes[i])
    other = names[d.int(0, len(names) - 1)]
    kind = d.choice(["unary", "affine", "pair", "reduce", "where", "index", "slice", "concat", "random", "bernoulli"])
    if kind == "unary":
        return f"{d.choice(['abs', 'exp', 'tanh', 'square', 'relu', 'sigmoid', 'softplus', 'sin'])}({x})"
    if kind == "affine":
        return f"{x} * {d.choice([0.5, 2, -1])} + {d.choice([1, 0.1, 3])}"
    if kind == "pair":
        return f"{d.choice(['abs', 'square'])}({x} {d.choice(['-', '+', '*'])} {other})"
    if kind == "reduce" and r >= 2:
        axis = d.choice(["-1", "1", f"[{', '.join(str(a) for a in range(1, r))}]"])
        keep = d.choice(["true", "true", "false"])
        return f"{x} - {d.choice(['mean', 'max', 'sum', 'logsumexp'])}({x}, axis={axis}, keepdims={keep})"
    if kind == "where":
        return f"where({x} > {d.choice([0, 0.5])}, {x}, {d.choice(['0.1 * ' + x, '0', other])})"
    if kind == "index" and r >= 2:
        size = shapes[i][-1] or 1
        return f"{x}[..., {d.int(-size, size - 1)}]" if d.bool(0.8) else f"{x}[:, 0]"
    if kind == "slice" and r >= 2:
        size = shapes[i][1] or 2
        return f"{x}[:, {d.int(0, max(0, size - 1))}:]" if d.bool(0.6) else f"{x}[:, ::{d.choice([1, 2])}]"
    if kind == "concat" and r >= 2:
        return f"concat({x}, {other}, axis={d.choice([-1, -1, 1])})"
    if kind == "random":
        return f"{x} + normal(shape_of({x}), stddev={d.choice([0.1, 1])})"
    if kind == "bernoulli":
        return f"{x} * bernoulli({d.choice([0.5, 0.9])}, shape_of({x}))"
    return f"{x} * 0.5 + 1"


def expr_text(d, shapes) -> str:
    names = EXPR_NAMES[:len(shapes)]
    text = _expr_term(d, names, shapes)
    if len(names) > 1 and d.bool(0.5):
        text = f"{text} + {_expr_term(d, names, shapes)}"
    return text


def _noise_shape(d, s):
    """Dropout's noise_shape: null mostly, else per axis null, 1 or the size (now and then a wrong rank)."""
    if d.bool(0.6) or s is None:
        return None
    out = [None] + [d.choice([None, 1, 1, n]) for n in s[1:]]
    if d.bool(0.05):
        out = out[:-1] or [None, 1]
    return out


def _statistics(d, shape, args):
    """Normalization's mean and variance together: both or neither, of one length (the last axis's,
    now and then another)."""
    args.pop("mean", None), args.pop("variance", None)
    if d.bool(0.5):
        return
    n = shape[-1] if shape is not None and len(shape) > 1 and shape[-1] else 3
    if d.bool(0.4):
        args["mean"], args["variance"] = round(d.float(-1, 1), 3), round(d.float(0.1, 2), 3)
        return
    k = n if d.bool(0.9) else d.int(1, 4)
    args["mean"] = [round(d.float(-1, 1), 3) for _ in range(k)]
    args["variance"] = [round(d.float(0.1, 2), 3) for _ in range(k)]


SPECIAL = {
    ("Dropout", "noise_shape"): _noise_shape,
    ("CategoryEncoding", "num_tokens"): lambda d, s: small_int(d, 1, 12),
    ("Hashing", "num_bins"): lambda d, s: small_int(d, 1, 12),
    ("Hashing", "mask_value"): lambda d, s: None if d.bool(0.5) else d.int(0, 2),
    ("Hashing", "salt"): lambda d, s: d.choice([None, 7, [1, 2]]),
    ("Reshape", "target_shape"): _factor_target,
    ("Permute", "dims"): _permute,
    ("Slice", "key"): _slice_key,
    ("Rescaling", "scale"): _rescale,
    ("Rescaling", "offset"): lambda d, s: _rescale(d, s) if d.bool(0.5) else 0.0,
    ("PReLU", "shared_axes"): _shared_axes,
    ("Dot", "axes"): _dot_axes,
    ("ZeroPadding1D", "padding"): lambda d, s: _pairs(d, 1),
    ("ZeroPadding2D", "padding"): lambda d, s: _pairs(d, 2),
    ("Cropping1D", "cropping"): lambda d, s: _pairs(d, 1, 0, 1),
    ("Cropping2D", "cropping"): lambda d, s: _pairs(d, 2, 0, 1),
    ("Embedding", "input_dim"): lambda d, s: small_int(d, 1, 20),
    ("RepeatVector", "n"): lambda d, s: small_int(d, 1, 4),
    ("MultiHeadAttention", "attention_axes"): lambda d, s: (None if d.bool(0.7) else
                                                            [d.int(1, max(1, _rank(s) - 2))]),
    ("MultiHeadAttention", "output_shape"): lambda d, s: (None if d.bool(0.6) else
                                                          d.choice([small_int(d, 1, 6), [small_int(d, 1, 4)]])),
}
SIZE_ARGS = {"units", "filters", "output_dim", "num_heads", "key_dim", "value_dim", "depth_multiplier",
             "n", "size", "groups"}
WINDOW_ARGS = {"kernel_size", "strides", "dilation_rate", "pool_size"}
AXIS_ARGS = {"axis", "axes"}
LAYER_ARGS = {"layer"}
RANKS = {"1D": 1, "2D": 2, "3D": 3}


def op_rank(op_name):
    for k, r in RANKS.items():
        if k in op_name:
            return r
    return 1


def op_args(d: Draw, op_name: str, shape, required_only_p: float = 0.3) -> dict:
    """Random arguments for ``op_name`` given (approximately) its input ``shape``."""
    op = CATALOG[op_name]
    args = {}
    sparse = d.bool(required_only_p)
    for arg in op.args:
        if not arg.required and (sparse or d.bool(0.6)):
            continue
        key = (op_name, arg.name)
        if key in SPECIAL:
            args[arg.name] = SPECIAL[key](d, shape)
        elif op_name == "EinsumDense" and arg.name in ("equation", "output_shape", "bias_axes"):
            if "equation" not in args:
                args.update(_einsum(d, shape))
        elif arg.name in LAYER_ARGS:
            args[arg.name] = _wrapped(d, op_name, shape)
        elif arg.name in SIZE_ARGS:
            args[arg.name] = small_int(d, 1, 8) if arg.name != "groups" else d.choice([1, 1, 2, 3])
        elif arg.name in WINDOW_ARGS:
            hi = 2 if arg.name == "dilation_rate" else 3
            args[arg.name] = (None if arg.name == "strides" and "Pool" in op_name and d.bool(0.3)
                              else _window(d, op_rank(op_name), hi))
        elif arg.name == "output_padding":
            args[arg.name] = None if d.bool(0.5) else _window(d, op_rank(op_name), 2)
            args[arg.name] = (args[arg.name] - 1) if isinstance(args[arg.name], int) else args[arg.name]
        elif arg.name in AXIS_ARGS:
            a = _axis(d, shape)
            args[arg.name] = [a] if op_name in ("LayerNormalization", "UnitNormalization", "Softmax") \
                and d.bool(0.2) else a
        elif arg.name == "data_format":
            args[arg.name] = "channels_first" if d.bool(0.3) else "channels_last"
        elif arg.name == "seed":
            args[arg.name] = d.choice([None, 1, 42])
        else:
            args[arg.name] = from_schema(d, arg.schema, arg.name, shape)
    if op_name == "EinsumDense" and "equation" not in args:
        args.update(_einsum(d, shape))
    if op_name == "Normalization":
        _statistics(d, shape, args)
    for flag in ("return_state", "return_attention_scores"):  # layers with several outputs, more often
        if flag in op.arg_index and d.bool(0.3):
            args[flag] = True
    return args


def _wrapped(d, op_name, shape):
    if op_name == "Bidirectional":
        inner = d.choice(["LSTM", "GRU", "SimpleRNN"])
        args = op_args(d, inner, shape, 0.6)
        args.pop("go_backwards", None) if d.bool(0.9) else None
        return {inner: args}
    if op_name == "WeightNorm":
        inner = d.choice(["Dense", "Dense", "Conv1D", "Conv2D", "Conv3D"])
        if shape is not None and d.bool(0.8):
            inner = {2: "Dense", 3: "Conv1D", 4: "Conv2D", 5: "Conv3D"}.get(len(shape), "Dense")
        return {inner: op_args(d, inner, shape, 0.6)}
    # TimeDistributed: a one-input layer applied per step (input without axis 1)
    step = None if shape is None else (shape[0],) + tuple(shape[2:])
    for _ in range(20):
        inner = d.choice([o for o in OPS if CATALOG[o].inputs == (1, 1) and o != "TimeDistributed"])
        args = op_args(d, inner, step, 0.6)
        if step is None or _static(inner, args, [step]) is not None or d.bool(0.1):
            return {inner: args}
    return {"Dense": {"units": small_int(d, 1, 8)}}


# ------------------------------------------------------------------ the catalog, for steering only
def _static(op_name, args, shapes, why: list | None = None):
    """The catalog's output shape, or None if its rule refuses (steering only); ``why``
    receives the refusal's code."""
    op = CATALOG[op_name]
    try:
        filled = op.fill(args)
        if op_name == "Expr":  # resolve.py names the inputs of `from: {a: .., b: ..}`
            filled["names"] = list(EXPR_NAMES[:len(shapes)])
        if op.validate:
            op.validate(filled)
        return op.shape(filled, [tuple(s) for s in shapes])
    except ShapeError as e:
        if why is not None:
            why.append(e.code)
        return None
    except Exception:  # a rule that crashes on odd args: let the oracle see it
        if why is not None:
            why.append("crash")
        return None


# ------------------------------------------------------------------ graphs
class Builder:
    def __init__(self, d: Draw, max_layers: int, refusal_p: float):
        self.d = d
        self.max_layers = max_layers
        self.allow_refusal = d.bool(refusal_p)
        self.refused = False
        self.tensors: dict[str, tuple | None] = {}  # name -> shape (None: the catalog refused it)
        self.dtypes: dict[str, str] = {}
        self.consumers: dict[str, int] = {}
        self.layers: list[dict] = []
        self.first_call: dict[str, tuple] = {}  # layer -> (op, input shapes) for reuse
        self.blocks: dict[str, dict] = {}  # block name -> {"param": (layer index, arg) or None, "layers": [...]}
        self.extras: list[str] = []  # the other outputs of layers with several: enc.state_h ...
        self.n = 0

    def fresh(self, prefix="l"):
        self.n += 1
        return f"{prefix}{self.n}"

    def inputs(self):
        d = self.d
        out = {}
        for i in range(d.int(1, 3)):
            rank = d.choice([1, 1, 2, 2, 2, 3, 3, 4])
            shape = [d.int(1, 8) if d.bool(0.9) else d.choice([1, 2]) for _ in range(rank)]
            if d.bool(0.06):
                shape[d.int(0, rank - 1)] = None
            dtype = d.choice(FLOAT_DTYPES) if d.bool(0.9) else d.choice(INT_DTYPES)
            name = f"x{i}"
            out[name] = {"shape": shape, "dtype": dtype}
            self.tensors[name] = (None, *shape)
            self.dtypes[name] = dtype
            self.consumers[name] = 0
        return out

    def pick_tensor(self, want_shape=None, op_name=None):
        d = self.d
        live = [n for n, s in self.tensors.items() if s is not None]
        ints = [n for n in live if self.dtypes[n].startswith("int")]
        if op_name in INT_OPS and ints and d.bool(0.8):
            return d.choice(ints)
        if op_name not in INT_OPS and d.bool(0.85):  # integer inputs mostly feed an Embedding
            live = [n for n in live if n not in ints] or live
        if self.extras and d.bool(0.25):  # an output of a layer with several: enc.state_h
            return d.choice(self.extras)
        unused_inputs = [n for n in live if n.startswith("x") and self.consumers[n] == 0]
        if unused_inputs and d.bool(0.7):
            return d.choice(unused_inputs)
        if want_shape is not None:
            same = [n for n in live if self.tensors[n] == want_shape]
            if same and d.bool(0.85):
                return d.choice(same)
        if live and d.bool(0.6):
            return live[-1]
        return d.choice(live or list(self.tensors))

    def add_layer(self):
        d = self.d
        kind = d.int(0, 99)
        if kind < 8 and self.first_call:
            return self.add_reuse()
        if kind < 14 and self.layers:
            if self.add_repeat():
                return
        if kind < 20:
            if self.add_block():
                return
        for attempt in range(30):
            op_name = d.choice(OPS)
            op = CATALOG[op_name]
            lo, hi = op.inputs
            n_in = lo if hi == lo else d.int(lo, min(hi or 3, 3))
            first = self.pick_tensor(op_name=op_name)
            names = [first] + [self.pick_tensor(self.tensors[first]) for _ in range(n_in - 1)]
            shapes = [self.tensors[n] for n in names]
            args = op_args(d, op_name, shapes[0])
            if op_name == "Expr" and None not in shapes:
                args["expr"] = expr_text(d, shapes)
            why = []
            out = _static(op_name, args, shapes, why) if None not in shapes else None
            # refusals for a wrong rank are the easy ones: keep the subtler ones more often
            keep = 0.08 if why == ["rank"] else 0.6
            if out is None and not (self.allow_refusal and not self.refused and d.bool(keep)):
                continue
            if out is None:
                self.refused = True
            self.emit(op_name, args, names, out)
            return

    def emit(self, op_name, args, names, out):
        d = self.d
        name = self.fresh()
        entry = {"op": op_name, "args": args, "name": name, "from": names}
        op = CATALOG[op_name]
        if op.input_names and d.bool(0.3):
            entry["from"] = dict(zip(op.input_names, names))
        if op.ports and "units" in args and out is not None and self.extras and d.bool(0.6):
            # a recurrent layer the size of an earlier state, so that it can start from it
            states = [t for t in self.extras if len(self.tensors[t]) == 2]
            if states:
                args["units"] = self.tensors[d.choice(states)][-1]
                out = _static(op_name, args, [self.tensors[n] for n in names])
        ports = self.draw_ports(op, args, names) if out is not None else None
        if ports:  # given by name only: from: {input: x, initial_state: [h, c]}
            entry["from"] = {**dict(zip(op.input_names, names)), **ports}
            for ts in ports.values():
                for t in ts:
                    self.consumers[t] += 1
        if op_name == "Expr":
            entry["from"] = dict(zip(EXPR_NAMES, names))
        if d.bool(0.05):
            entry["trainable"] = False
        if d.bool(0.05):
            entry["activity_regularizer"] = vocab_value(d, "regularizer")
        self.layers.append(entry)
        for n in names:
            self.consumers[n] += 1
        self.add_outputs(op, args, names, name)  # name.state_h ...: before name, so name stays the last
        self.tensors[name] = out
        self.dtypes[name] = CATALOG[op_name].out_dtype or "float32"  # Hashing: int64
        self.consumers[name] = 0
        if out is not None and op_name not in ("Bidirectional",):
            self.first_call[name] = (op_name, [self.tensors[n] for n in names])

    def draw_ports(self, op, args, names):
        """Sometimes: tensors of the right shapes for an op's ports (initial_state from earlier states)."""
        if not op.ports or not self.d.bool(0.8):
            return None
        try:
            want = op.port_shapes(op.fill(args), [self.tensors[n] for n in names])
        except Exception:  # noqa: BLE001 - a rule that refuses these args: no ports
            return None
        out = {}
        for port, shapes in want.items():
            picked = []
            for shape in shapes:
                fits = [n for n, s in self.tensors.items() if s == tuple(shape) and n not in names and
                        dtype_kind(self.dtypes[n]) in CATALOG[op.name].port(port).dtypes]
                if not fits:
                    return None
                picked.append(self.d.choice(fits))
            out[port] = picked
        return out

    def add_outputs(self, op, args, names, name):
        """The other outputs of a layer with several (return_state ...), as tensors later layers may take."""
        try:
            filled = op.fill(args)
            outs = op.output_names(filled)
            if not outs:
                return
            shapes = op.outputs.shapes(filled, [self.tensors[n] for n in names])
        except Exception:  # noqa: BLE001 - refused: nothing to add
            return
        for o, shape in zip(outs[1:], shapes[1:]):
            t = f"{name}.{o}"
            self.tensors[t] = tuple(shape)
            self.dtypes[t] = "float32"
            self.consumers[t] = 1  # a state need not reach an output
            self.extras.append(t)

    def add_reuse(self):
        d = self.d
        layer = d.choice(sorted(self.first_call))
        op_name, in_shapes = self.first_call[layer]
        names = [self.pick_tensor(s) for s in in_shapes]
        shapes = [self.tensors[n] for n in names]
        entry = next(e for e in self.layers if e.get("name") == layer)
        if shapes == in_shapes:
            out = _static(op_name, entry["args"], shapes)
        elif self.allow_refusal and not self.refused:
            out, self.refused = None, True
        else:
            return
        name = self.fresh()
        self.layers.append({"reuse": layer, "name": name, "from": names})
        for n in names:
            self.consumers[n] += 1
        self.tensors[name] = out
        self.dtypes[name] = "float32"
        self.consumers[name] = 0

    def add_repeat(self):
        """repeat: {times, layers} of shape-preserving one-input layers, after the last layer."""
        d = self.d
        last = self.layers[-1]
        src = last["name"]
        shape = self.tensors.get(src)
        if shape is None:
            return False
        inner = []
        for _ in range(d.int(1, 2)):
            for attempt in range(15):
                op_name = d.choice([o for o in OPS if CATALOG[o].inputs == (1, 1)])
                args = op_args(d, op_name, shape)
                if _static(op_name, args, [shape]) == shape:
                    inner.append({"op": op_name, "args": args})
                    break
        if not inner:
            return False
        name = self.fresh("r")
        self.layers.append({"repeat": d.int(1, 3), "name": name, "layers": inner, "from": [src]})
        self.consumers[src] += 1
        self.tensors[name] = shape
        self.dtypes[name] = "float32"
        self.consumers[name] = 0
        return True

    def add_block(self):
        """A block with one int parameter (a size argument of its first layer), called on a tensor,
        or an earlier block called again on a tensor of its first call's shape."""
        d = self.d
        if self.blocks and d.bool(0.4):
            bname = d.choice(sorted(self.blocks))
            block = self.blocks[bname]
            src = self.pick_tensor(block["shape"])
            if self.tensors[src] != block["shape"]:
                return False
            value = small_int(d, 1, 8) if block["param"] else None
            out = self._chain_shape(block["layers"], block["param"], value, self.tensors[src])
            if out is None:
                return False
        else:
            src = self.pick_tensor()
            shape = self.tensors[src]
            if shape is None:
                return False
            inner, cur = [], shape
            for _ in range(d.int(1, 3)):
                for attempt in range(15):
                    op_name = d.choice([o for o in OPS if CATALOG[o].inputs == (1, 1)])
                    args = op_args(d, op_name, cur)
                    out = _static(op_name, args, [cur])
                    if out is not None:
                        inner.append({"op": op_name, "args": args})
                        cur = out
                        break
            if not inner:
                return False
            param = next(((0, a) for a in ("units", "filters", "output_dim") if a in inner[0]["args"]), None)
            value = inner[0]["args"][param[1]] if param else None
            bname = f"b{len(self.blocks) + 1}"
            self.blocks[bname] = {"param": param, "layers": inner, "shape": shape}
            out = cur
        name = self.fresh("c")
        self.layers.append({"block": bname, "name": name, "from": [src], "value": value})
        self.consumers[src] += 1
        self.tensors[name] = out
        self.dtypes[name] = "float32"
        self.consumers[name] = 0
        return True

    @staticmethod
    def _chain_shape(layers, param, value, shape):
        for j, inner in enumerate(layers):
            args = dict(inner["args"])
            if param and param[0] == j:
                args[param[1]] = value
            shape = _static(inner["op"], args, [shape])
            if shape is None:
                return None
        return shape

    def outputs(self):
        d = self.d
        sinks = [n for n, c in self.consumers.items() if c == 0 and not n.startswith("x")]
        if not sinks:
            sinks = [self.layers[-1]["name"]]
        out = {}
        for n in sinks:
            r = d.int(0, 99)
            if r < 70:
                out[n] = {"loss": d.choice(LOSSES_SIMPLE)}
            elif r < 80:
                out[n] = None
            else:
                out[n] = {"loss": d.choice(LOSSES_OTHER)}
            if out[n] and vocab.LOSSES.get(out[n]["loss"]) and d.bool(0.3):  # {huber: {delta: 2.0}}
                out[n]["loss"] = {out[n]["loss"]: _draw_args(d, vocab.LOSSES[out[n]["loss"]])}
            if out[n] and d.bool(0.15):
                metric = d.choice(METRICS)
                args = vocab.METRIC_CLASSES.get(vocab.METRIC_NAME_CLASS.get(metric), {})
                out[n]["metrics"] = [{metric: _draw_args(d, args)} if args and d.bool(0.5) else metric]
            if out[n] and d.bool(0.15):
                out[n]["weight"] = d.choice([0, 0.5, 2.0])
        return out


def _draw_args(d: Draw, schemas: dict) -> dict:
    """Some of a loss's or metric's arguments (vocab's schemas), each drawn in its schema's range: the
    axis ones from -3 to 3, so that one past the output's rank is tried too."""
    out = {}
    for name, schema in schemas.items():
        if not d.bool(0.5):
            continue
        if "enum" in schema:
            out[name] = d.choice(schema["enum"])
        elif schema.get("type") == "boolean":
            out[name] = d.bool()
        elif schema.get("type") == "integer":
            lo, hi = max(schema.get("minimum", -3), -3), min(schema.get("maximum", 3), 3)
            if lo <= hi:
                out[name] = d.int(lo, hi)
        elif schema.get("type") == "number":
            lo = schema.get("minimum", schema.get("exclusiveMinimum", -1.0))
            hi = schema.get("maximum", schema.get("exclusiveMaximum", lo + 3.0))
            value = d.float(lo, hi)
            if value != schema.get("exclusiveMinimum") and value != schema.get("exclusiveMaximum"):
                out[name] = value
    return out


def generate(d: Draw, max_layers: int = 8, refusal_p: float = 0.5) -> dict:
    b = Builder(d, max_layers, refusal_p)
    inputs = b.inputs()
    for _ in range(d.int(1, max_layers)):
        b.add_layer()
    if not b.layers:  # every attempt failed: one safe layer
        b.emit("Activation", {"activation": "relu"}, [next(iter(inputs))], b.tensors[next(iter(inputs))])
    # every input feeds something
    for name in inputs:
        if b.consumers[name] == 0:
            b.emit("Dropout", {"rate": 0.1}, [name], b.tensors[name])
    graph = {"inputs": inputs, "layers": b.layers, "outputs": b.outputs(), "penalties": []}
    if b.blocks:
        graph["blocks"] = {k: {"param": v["param"], "layers": v["layers"]} for k, v in b.blocks.items()}
    if d.bool(0.15):
        on = d.choice([e["name"] for e in b.layers])
        graph["penalties"].append(d.choice([{"on": on, "l2": 0.01}, {"on": on, "l1": 0.001, "reduce": "mean"},
                                            {"expr": f"0.01 * mean(square({on}))"}]))
    if d.bool(0.3):
        graph["seed"] = d.int(0, 99)
    if d.bool(0.15):
        name = d.choice(OPTIMIZERS)
        graph["optimizer"] = name if d.bool(0.5) else {name: {"learning_rate": d.choice([0.001, 0.01, 0.1])}}
    return graph


# ------------------------------------------------------------------ graph -> spec document
def to_doc(graph: dict, name: str = "fuzz") -> dict:
    layers = []
    for e in graph["layers"]:
        if "reuse" in e:
            layers.append({"reuse": {"layer": e["reuse"], "from": _from(graph, e["from"]), "name": e["name"]}})
        elif "block" in e:
            call = {"name": e["name"], "from": _from(graph, e["from"])}
            if e["value"] is not None:
                call["size"] = e["value"]
            layers.append({e["block"]: call})
        elif "repeat" in e:
            body = []
            for j, inner in enumerate(e["layers"]):
                body.append({inner["op"]: {**inner["args"], "name": f"{e['name']}_${{i}}_{j}"}})
            layers.append({"repeat": {"times": e["repeat"], "layers": body}})
        else:
            args = dict(e["args"])
            args["name"] = e["name"]
            args["from"] = _from(graph, e["from"])
            for k in ("trainable", "activity_regularizer"):
                if k in e:
                    args[k] = e[k]
            layers.append({e["op"]: args})
    doc = {"nnspec": 1, "name": name}
    if "seed" in graph:
        doc["seed"] = graph["seed"]
    doc["inputs"] = {n: (v["shape"] if v["dtype"] == "float32" else dict(v)) for n, v in graph["inputs"].items()}
    if graph.get("blocks"):
        doc["blocks"] = {}
        for bname, block in graph["blocks"].items():
            body = []
            for j, inner in enumerate(block["layers"]):
                args = dict(inner["args"])
                if block["param"] and block["param"][0] == j:
                    args[block["param"][1]] = "$size"
                body.append({inner["op"]: args})
            doc["blocks"][bname] = {"layers": body}
            if block["param"]:
                doc["blocks"][bname]["params"] = {"size": "int"}
    doc["layers"] = layers
    doc["outputs"] = {repeat_output(graph, n): v for n, v in graph["outputs"].items()}
    if graph.get("penalties"):
        doc["penalties"] = [_penalty(graph, p) for p in graph["penalties"]]
    if graph.get("optimizer"):
        doc["training"] = {"optimizer": graph["optimizer"]}
    return doc


def _from(graph, names):
    if isinstance(names, dict):
        return {k: [repeat_output(graph, x) for x in v] if isinstance(v, list) else repeat_output(graph, v)
                for k, v in names.items()}
    names = [repeat_output(graph, n) for n in names]
    return names[0] if len(names) == 1 else names


def repeat_output(graph, name):
    """The spec name of a graph tensor: a repeat's output is its last copy's last layer."""
    for e in graph["layers"]:
        if e.get("name") == name and "repeat" in e:
            return f"{name}_{e['repeat'] - 1}_{len(e['layers']) - 1}"
    return name


def _penalty(graph, p):
    p = dict(p)
    if "on" in p:
        p["on"] = repeat_output(graph, p["on"])
    else:
        for e in graph["layers"]:
            if "repeat" in e and e["name"] in p["expr"]:
                p["expr"] = p["expr"].replace(f"({e['name']})", f"({repeat_output(graph, e['name'])})")
    return p
