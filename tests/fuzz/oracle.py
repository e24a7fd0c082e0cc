"""The differential oracle: one random graph through nnspec and through Keras.

For a graph (tests/fuzz/graphs.py) ``run_graph`` returns a ``Result``:

* the spec text (YAML, yaml.safe_dump) goes through ``nnspec.check_text``; an
  exception there is an internal error, as is exit 3 from any CLI command
  (``validate``, ``summary``, ``convert --to nns``, ``fmt --check`` and, for
  accepted specs, ``check``), run in-process through ``nnspec.cli.main``;
* the .nns form (``convert``) must give the same diagnostic codes as the YAML;
* an ACCEPTED spec is built with nnspec's builder; every layer call's output
  shape and every layer's parameter count are read from the built Keras model
  (its layers' inbound nodes and weights, not nnspec's code) and compared with
  the static ones; the model runs forward on a batch of 2 (each layer's
  runtime shape compared too) and, where it has losses, takes one
  ``train_on_batch`` step;
* a spec REFUSED for shape reasons is built with raw Keras by this module's own
  translator (``raw_keras``: the graph -> keras.layers calls, Keras's own
  defaults, never nnspec's builder), run on a batch of 2 and trained one step:
  Keras must fail too, unless every refusal is a deliberate strictness in
  ``STRICT`` below.

Each disagreement is ``(cause, detail)``: the cause is the stage plus the first
error line normalised (numbers, names and shapes blanked), so a campaign can
group them; ``label_of`` names the ones already written up (for the report only:
every disagreement counts).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

import nnspec  # noqa: E402
from nnspec import cli  # noqa: E402
from nnspec.diagnostics import ERROR  # noqa: E402

from .graphs import repeat_output, to_doc  # noqa: E402

# Refusals for shape reasons: the diagnostic codes of the shapes pass (and shared layers).
SHAPE_CODES = {"rank-mismatch", "merge-mismatch", "dimension-too-small", "reshape-size", "unknown-dimension",
               "bad-argument", "shape-mismatch", "shared-layer-mismatch", "too-many-axes",
               "unknown-size-mismatch"}

# ------------------------------------------------------------------ deliberate strictness
# Where nnspec refuses a graph that Keras builds and runs: each entry is
# (diagnostic code, regex over the diagnostic message, why nnspec is stricter).
# A refused graph that Keras accepts is a disagreement unless EVERY error
# diagnostic of the spec matches an entry here (or Keras's result has an empty axis,
# ZERO_SIZE below).
STRICT = [
    ("unknown-dimension", r"^Flatten .* needs known sizes on every non-batch axis",
     "Keras gives (batch, None), on which no layer with weights can build; nnspec refuses at the Flatten"),
    ("bad-argument", r"^Concatenate .* needs a non-batch axis",
     "Keras concatenates along the batch axis; a model whose batch grows in the middle is a mistake"),
    ("dimension-too-small", r"^Conv[123]DTranspose .* would shrink .* to 0",
     "Keras returns a size-0 axis (padding same, even kernel, output_padding 0 on size 1)"),
    ("dimension-too-small", r"^Slice .* needs a non-empty result",
     "Keras returns a size-0 axis; no later layer can use it"),
    ("dimension-too-small", r"^Cropping[12]D .* needs cropping smaller than the input",
     "Keras returns a size-0 (or negative) axis"),
    ("bad-argument", r"^Slice .* needs the batch axis taken whole",
     "indexing the batch axis changes the batch size: Keras runs it, a Functional model cannot use it"),
    ("bad-argument", r"^Rescaling .* values \(one per channel\)",
     "on a last axis of 1 Keras broadcasts a per-channel list and widens the axis; nnspec wants one value "
     "per channel"),
    ("unknown-dimension", r"needs a known (last \(features\)|channels) dimension",
     "Keras builds some layers on an unknown feature size only when the weights do not depend on it "
     "(or fails later); nnspec needs the size to count parameters"),
    ("rank-mismatch", r"^(Attention|MultiHeadAttention) .* needs (query|value) of at least \(batch, time, features\)",
     "on (batch, features) tensors Keras's attention runs, but its matmul over the batch axis makes the "
     "samples of a batch attend to each other"),
    ("unknown-dimension", r"needs a known size",
     "nnspec counts every weight statically, so the sizes weights depend on must be known"),
    ("merge-mismatch", r"^Dot .* needs equal, known sizes on the dot axes",
     "Keras's Dot refuses an unknown size against a known one on the dot axes when it builds; a reused Dot is not "
     "built again, so Keras runs that call when the sizes happen to match; nnspec refuses every call alike"),
    ("merge-mismatch", r"^(MultiHeadAttention|Attention) .* needs query and value of one rank",
     "Keras broadcasts a query / value of another rank through its matmul, which runs only where the extra axes "
     "happen to broadcast (tests/parity/test_attention.py _rank_mismatch)"),
    ("bad-argument", r"cannot use (recurrent_)?activation glu: glu halves the last axis when it runs, but Keras's "
                     r"symbolic shape",
     "Keras runs it, but the built model's shapes (and its summary) disagree with what it computes"),
    ("bad-argument", r"^EinsumDense .* cannot keep the '...' axes .* Keras's symbolic shape puts them in reverse order",
     "Keras runs it, but the built model's shapes disagree with its outputs"),
    ("too-many-axes", r"TensorFlow's broadcasting kernels take at most",
     "some ops on tensors of more than 8 axes run (a Reshape, a Flatten), but broadcasting ones and their "
     "gradients fail; nnspec refuses every layer output beyond 8 axes"),
    ("bad-argument", r"^EinsumDense .* output_shape null on axis .* keeps the input's size",
     "Keras's symbolic shape says None where the input's size comes out, so a merge after it with another size "
     "builds and fails when run; nnspec wants the size written"),
    ("bad-argument", r"^Embedding .* cannot use mask_zero: true on the index .* of more than one axis",
     "Keras's mask has the index's shape, which breaks attention, recurrent and TimeDistributed layers after it "
     "when they run; nnspec refuses it whatever follows (its message says so)"),
    ("rank-mismatch", r"^Masking .* (cannot mask the input|needs at least \(batch, features\))",
     "Keras's mask over more than two non-batch axes breaks the attention and recurrent layers after it when they "
     "run (as Embedding's mask_zero), and over (batch,) it masks across the batch: nnspec refuses both"),
    ("rank-mismatch", r"^CategoryEncoding .* needs \(batch, values\) for output_mode",
     "Keras's multi_hot / count encoding of (batch,) drops the batch axis, and of more axes computes another "
     "shape than it declares (tests/parity/test_preprocessing.py)"),
    ("bad-argument", r"^Dropout .* has noise_shape .* axes but its input",
     "Keras aligns a noise_shape of another rank on the input's last axes (so its first entry is not the batch): "
     "nnspec wants one entry per axis"),
    ("bad-argument", r"orthogonal_regularizer: it needs a \d-D weight, .* \(Keras fails at the first training step\)",
     "a model with no loss never trains, so Keras never computes the regularizer (seed 33 graph 7848); nnspec "
     "refuses it as written, which fails at the first training step"),
    ("bad-argument", r"Keras fails when the optimizer applies the constraint",
     "Keras applies a weight constraint only in a training step that updates the weight: on a layer no loss "
     "reaches it never runs (seed 33 graph 4052); nnspec refuses the constraint as written, which fails as soon "
     "as the layer trains"),
    ("bad-argument", r"^MultiHeadAttention .* with return_attention_scores needs query",
     "Keras's static shape of the scores is (batch, heads, query time, query time) whatever the key's length, rank "
     "and attention_axes (compute_output_spec, 3.15): the model runs, but its declared shapes are not what it "
     "computes and a layer built on the scores fails; nnspec takes only the cases where the two agree"),
    ("bad-argument", r"trainable: false only puts that off until the layer is unfrozen",
     "Keras neither regularizes nor constrains a frozen layer's weights, so it trains; the constraint axis or "
     "orthogonal_regularizer fails once the layer is unfrozen (fine-tuning), so nnspec refuses it as written"),
    ("bad-argument", r"TensorFlow's .* on CPU .* unless TensorFlow runs it through oneDNN",
     "with oneDNN (on by default on some x86 CPUs, e.g. with AVX512 and AMX) Keras runs it; with "
     "TF_ENABLE_ONEDNN_OPTS=0 (as tests/conftest.py and bench/fuzz_campaign.py set) TensorFlow's CPU kernel "
     "fails: a spec must build wherever it is served"),
    ("shared-layer-mismatch", r"some Keras layers would broadcast weights of size 1 over the larger size",
     "a shared LayerNormalization built on a size-1 axis runs on a larger one, its weights broadcast (seed 34 "
     "graph 1058): nnspec wants the sizes of the first call"),
    ("unknown-size-mismatch", r"EinsumDense .* output_shape null on axis .* keeps the input's size .*nnspec "
                              r"refuses it deliberately",
     "as the bad-argument entry on EinsumDense's output_shape null, found by the unknown-size probe (seed 34 "
     "graph 938)"),
    ("shared-layer-mismatch", r"would apply along axis \d+ of this call, not axis \d+ as written",
     "Keras broadcasts a shared Normalization's or Scale's constants from the first call's shape, so on another "
     "rank they apply along another axis than the spec's axis says (tests/keras/test_reuse_broadcast.py)"),
    ("bad-expression", r"line up the batch axis of one with another axis of the other",
     "Keras broadcasts the batch axis against a size-1 axis: the value mixes the samples of a batch and its shape "
     "changes with the batch size (seed 35 graph 2007)"),
]
ZERO_SIZE = "Keras's result has a size-0 axis: nnspec refuses tensors no later layer can use"
# Keras failed on index values its random data put outside an Embedding's range (float values as indices):
# whether it takes the graph depends on the data, so a refusal is neither confirmed nor contradicted
INDICES = "Keras failed on the data's indices (an Embedding fed float values): inconclusive"


def strict_reason(diag) -> str | None:
    for code, pattern, reason in STRICT:
        if diag.code == code and re.search(pattern, diag.message):
            return reason
    return None


# ------------------------------------------------------------------ results
@dataclass
class Result:
    text: str
    status: str = ""  # accepted | refused-shape | refused-other | internal
    disagreements: list = field(default_factory=list)  # (cause, detail)
    codes: list = field(default_factory=list)
    trained: bool = False
    keras: str = ""  # refused specs: why raw Keras refused too ("" if it accepted)

    def add(self, stage, error, detail=""):
        self.disagreements.append((f"{stage}: {normalise(error)}", detail or str(error)[:2000]))


def normalise(error) -> str:
    """The first line of an error, with the parts that vary from graph to graph blanked."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()] or [""]
    line = lines[0]
    if "Exception encountered when calling" in line and len(lines) > 1:
        # Keras wraps a layer's error: "...calling Softmax.call().", blank, the error itself
        where = re.search(r"calling (\w+)", line)
        line = f"{where.group(1) if where else ''}: {lines[1]}"
    line = re.sub(r"'[^']*'", "'_'", line)
    line = re.sub(r'"[^"]*"', '"_"', line)
    line = re.sub(r"\b(l|r|x)\d+(_\d+)*\b", "<name>", line)
    line = re.sub(r"\((None|\d+|batch|\?)(, *(None|\d+|\?))*,?\)", "(shape)", line)
    line = re.sub(r"\[(None|\d+|-1)(, *(None|\d+|-1))*\]", "[list]", line)
    line = re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", line)
    return line[:180]


# ------------------------------------------------------------------ data
RUNTIME_SIZES = (4, 2, 1, 3, 6, 8, 12)  # tried in turn for an unknown (null) input size


def runtime_sizes(graph) -> list:
    """Sizes to try for unknown input axes: the usual ones, the inputs' known sizes, then the
    divisors of every Reshape target's element count, its -1 aside (a Reshape of an unknown axis
    fits only some sizes)."""
    out = list(RUNTIME_SIZES) + [k for k in range(1, 65) if k not in RUNTIME_SIZES]  # nnspec tries 1 to 64
    # the sizes the inputs have elsewhere: an unknown axis merged with a known one must take its size
    out += sorted({d for v in graph["inputs"].values() for d in v["shape"] if d is not None} - set(out))
    for e in _all_layers(graph):
        if e.get("op") == "Reshape":
            n = int(np.prod([d for d in e["args"]["target_shape"] if d != -1]))
            out += [k for k in range(1, min(n, 4096) + 1) if n % k == 0 and k not in out]
    return out[:100]
# An Embedding fed computed (float) values fails on the values, not the graph: not a disagreement.
DATA_DEPENDENT = re.compile(r"indices\[[^]]*\] = -?\d+ is not in \[0, \d+\)"
                            r"|Input 'in' must be non-negative")  # CategoryEncoding of a negative index


def batch_for(graph, size: int, rng, batch: int = 2) -> dict:
    """Input arrays (batch of 2). Integer inputs hold indices that every Embedding accepts."""
    low_dim = min([e["args"]["input_dim"] for e in _all_layers(graph) if e.get("op") == "Embedding"] + [2])
    out = {}
    for name, v in graph["inputs"].items():
        shape = [batch] + [size if d is None else d for d in v["shape"]]
        if v["dtype"].startswith("int"):
            out[name] = rng.integers(0, low_dim, size=shape).astype(v["dtype"])
        else:
            out[name] = rng.standard_normal(shape).astype("float32" if v["dtype"] == "bfloat16" else v["dtype"])
    return out


def _all_layers(graph):
    for e in graph["layers"]:
        yield e
        for inner in e.get("layers", ()):
            yield inner
    for block in graph.get("blocks", {}).values():
        yield from block["layers"]


def targets_for(outputs: dict, shapes: dict, rng) -> dict:
    y = {}
    for name, o in outputs.items():
        if not o or o.get("loss") is None:
            continue
        shape = shapes[name]
        loss = o["loss"] if isinstance(o["loss"], str) else next(iter(o["loss"]))
        if loss == "sparse_categorical_crossentropy":
            y[name] = rng.integers(0, max(shape[-1], 1), size=shape[:-1]).astype("int32")
        else:
            y[name] = rng.uniform(0.1, 1.0, size=shape).astype("float32")
    return y


# ------------------------------------------------------------------ the CLI, in-process
def run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _cli_checks(result: Result, text: str, accepted: bool, check_cmd: bool, tmp: str):
    path = os.path.join(tmp, "fuzz.yaml")
    nns = os.path.join(tmp, "fuzz.nns")
    with open(path, "w") as f:
        f.write(text)
    commands = [["validate", path], ["summary", path], ["convert", path, "--to", "nns", "-o", nns]]
    for argv in commands:
        code, out, err = run_cli(argv)
        if code == 3:
            result.add(f"internal: cli {argv[0]} exits 3", _bug_line(err), err)
    if os.path.exists(nns):
        code, out, err = run_cli(["fmt", "--check", nns])
        if code == 3:
            result.add("internal: cli fmt --check exits 3", _bug_line(err), err)
        elif code != 0:
            result.add("cli: fmt --check on convert's output wants changes", err.strip() or out.strip())
        with open(nns, "rb") as f:
            _, diags = nnspec.check_text(f.read(), nns)
        codes = sorted(d.code for d in diags if d.severity == ERROR)
        if codes != sorted(result.codes):
            result.add("frontend: the .nns form gives other diagnostics", f"{codes} != {sorted(result.codes)}")
    if accepted and check_cmd:
        code, out, err = run_cli(["check", path, "--train-steps", "1", "--batch-size", "2"])
        if code == 3:
            result.add("internal: cli check exits 3", _bug_line(err), err)


def _bug_line(err: str) -> str:
    for line in err.splitlines():
        if "internal error" in line:
            return line.split("internal error:", 1)[1].strip()
    return err.strip().splitlines()[0] if err.strip() else "(no message)"


# ------------------------------------------------------------------ the accepted side
def check_accepted(result: Result, graph: dict, spec, train: bool, rng):
    import keras
    from nnspec.keras.build import build
    try:
        model = build(spec)
    except Exception as e:
        result.add("accepted, build fails", e)
        return
    calls: dict[str, int] = {}
    tensors = {}
    for node in spec.nodes:
        layer = model.get_layer(node.layer)
        k = calls.get(node.layer, 0)
        calls[node.layer] = k + 1
        try:
            tensor = layer._inbound_nodes[k].output_tensors[0]
        except (IndexError, AttributeError) as e:
            result.add("accepted, layer call missing in the model", f"{node.op} call {k}: {e}")
            continue
        tensors[node.name] = tensor
        for o, extra in zip(node.outputs[1:], layer._inbound_nodes[k].output_tensors[1:]):
            tensors[f"{node.name}.{o}"] = extra  # the other outputs of a layer with several
        for n in [node.name] + [f"{node.name}.{o}" for o in node.outputs[1:]]:
            static = tuple(spec.shapes[n])
            got = tuple(tensors[n].shape)
            if got != static:
                result.add(f"accepted, {node.op} static shape != Keras shape", f"{node.op} static {static} keras {got}",
                           f"{n}: {node.op} static {static} != keras {got}")
        if len(layer._inbound_nodes[k].output_tensors) != max(1, len(node.outputs)):
            result.add(f"accepted, {node.op} output count != Keras's", f"{node.op} outputs {node.outputs}")
        if not node.reuse:
            trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
            frozen = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
            if (trainable, frozen) != tuple(spec.params[node.name]):
                result.add(f"accepted, {node.op} static params != Keras params",
                           f"{node.op} static {spec.params[node.name]} keras {(trainable, frozen)}",
                           f"{node.name}: {node.op} static {spec.params[node.name]} != keras {(trainable, frozen)}")
    # forward on a batch of 2: the model, and a probe with every layer call's output
    names = list(tensors)
    try:
        probe = keras.Model(model.input, [tensors[n] for n in names])
    except Exception as e:
        result.add("accepted, probe model fails", e)
        return
    x = outs = last = None
    data_dependent = False  # a size that only failed on an Embedding's out-of-range indices fits the graph
    for size in runtime_sizes(graph):
        x = _model_x(batch_for(graph, size, rng))
        try:
            model_out = model(x, training=False)
            outs = probe(x, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]  # one output comes back bare
            if any(0 in tuple(o.shape)[1:] for o in outs) and any(None in v["shape"] for v in graph["inputs"].values()):
                # an unknown size too small for the graph (pooled to nothing): not one nnspec says fits,
                # as it refuses a known axis of 0; try the next (seed 55 graph 576: a loss on an empty tensor)
                raise ValueError(f"size {size} leaves an empty axis")
            break
        except Exception as e:
            last = e
            data_dependent = data_dependent or bool(DATA_DEPENDENT.search(str(e)))
            if not any(None in v["shape"] for v in graph["inputs"].values()):
                break
    if outs is None:
        if not data_dependent:
            result.add("accepted, forward fails", last)
        return
    shapes = {}
    for n, out in zip(names, outs):
        shapes[n] = tuple(out.shape)
        static = spec.shapes[n]
        if len(static) != len(out.shape) or any(s is not None and s != r for s, r in zip(static[1:], out.shape[1:])):
            result.add(f"accepted, {spec.node(n.partition('.')[0]).op} runtime shape != static",
                       f"{spec.node(n.partition('.')[0]).op} static {static} "
                       f"runtime {tuple(out.shape)}")
    if train and any(o.loss is not None for o in spec.outputs.values()):
        outputs = {n: ({"loss": o.loss} if o.loss is not None else None) for n, o in spec.outputs.items()}
        out_shapes = {n: tuple(model_out[n].shape) for n in spec.outputs}
        y = targets_for(outputs, out_shapes, rng)
        try:
            model.run_eagerly = True  # one step: tracing a tf.function would cost seconds per graph
            model.train_on_batch(x, y)
            result.trained = True
        except Exception as e:
            if not DATA_DEPENDENT.search(str(e)):
                result.add("accepted, train_on_batch fails", e)


def _model_x(arrays):
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


# ------------------------------------------------------------------ raw Keras, for refused specs
def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def _vocab(kind: str, value):
    """A spec's initializer / regularizer / constraint -> the Keras object, by Keras's own names."""
    import keras
    if value is None:
        return None
    name, args = (value, {}) if isinstance(value, str) else next(iter(value.items()))
    if kind == "regularizer":
        if name in ("l1", "l2"):
            return getattr(keras.regularizers, name.upper())(args)
        return {"l1_l2": keras.regularizers.L1L2, "orthogonal_regularizer": keras.regularizers.OrthogonalRegularizer
                }[name](**(args or {}))
    if kind == "constraint":
        if name == "weight_norm":
            return None  # nnspec's own projection; it never changes a shape
        return getattr(keras.constraints, _camel(name))(**(args or {}))
    return getattr(keras.initializers, _camel(name))(**(args or {}))


def _kwargs(args: dict) -> dict:
    out = {}
    for k, v in args.items():
        for suffix in ("initializer", "regularizer", "constraint"):
            if k.endswith("_" + suffix):
                v = _vocab(suffix, v)
                break
        out[k] = v
    return out


def raw_layer(op: str, args: dict, name=None, trainable=True, activity_regularizer=None):
    import keras
    base = {"name": name} if name else {}
    activity = None
    if activity_regularizer is not None:
        # set as the attribute Layer.__call__ reads: SpatialDropout's constructors take no such keyword,
        # SimpleRNN's drops it (FINDINGS F17)
        activity = _vocab("regularizer", activity_regularizer)
    if op in ("Bidirectional", "TimeDistributed"):
        (inner, inner_args), = args["layer"].items()
        kwargs = {k: v for k, v in args.items() if k != "layer"}
        layer = getattr(keras.layers, op)(raw_layer(inner, inner_args or {}), **kwargs, **base)
    elif op == "WeightNorm":  # nnspec's own wrapper: the wrapped layer has its shapes
        (inner, inner_args), = args["layer"].items()
        layer = raw_layer(inner, inner_args or {}, name, True, activity_regularizer)
        activity = None
    elif op == "Expr":
        layer = _raw_expr(args["expr"], args.get("seed"), base)
    elif op == "Scale":  # nnspec's own layer: a plain x * gamma here
        layer = _raw_scale(**_kwargs(args), **base)
    elif op == "MultiHeadAttention" and "return_attention_scores" in args:  # an argument of its call
        layer = keras.layers.MultiHeadAttention(**_kwargs({k: v for k, v in args.items()
                                                            if k != "return_attention_scores"}), **base)
        layer.nnspec_scores = bool(args["return_attention_scores"])
    elif op == "Slice":
        key = args["key"]
        layer = keras.layers.Lambda(lambda t: eval(f"t[{key}]", {"t": t}), **base)  # key: digits, ':', ',', '.'
    else:
        layer = getattr(keras.layers, op)(**_kwargs(args), **base)
    if activity is not None:
        layer.activity_regularizer = activity
    if not trainable:
        layer.trainable = False
    return layer


def _raw_expr(text: str, seed, base):
    """An Expr as a Keras Lambda over keras.ops, evaluated by Python (the graphs' expressions,
    graphs.expr_text, are Python with these names; names a, b, c are the inputs in order)."""
    import keras
    from keras import ops
    gen = keras.random.SeedGenerator(seed)
    ns = {n: getattr(ops, n) for n in ("abs", "exp", "tanh", "square", "relu", "sigmoid", "softplus", "sin",
                                       "mean", "max", "sum", "logsumexp", "where")}
    ns.update(true=True, false=False, shape_of=ops.shape,
              concat=lambda *xs, axis=-1: ops.concatenate(list(xs), axis=axis),
              normal=lambda shape, mean=0.0, stddev=1.0: keras.random.normal(shape, mean, stddev, seed=gen),
              bernoulli=lambda p, shape: ops.cast(keras.random.uniform(shape, seed=gen) < p, "float32"))

    def run(ts):
        ts = ts if isinstance(ts, (list, tuple)) else [ts]
        return eval(text, {"__builtins__": {}}, {**ns, **dict(zip("abc", ts))})  # the graph's own text
    return keras.layers.Lambda(run, **base)


def _raw_scale(axis=-1, gamma_initializer="ones", gamma_regularizer=None, gamma_constraint=None, name=None):
    """x * gamma, gamma of the size of ``axis`` (nnspec's Scale, written independently of it)."""
    import keras

    class RawScale(keras.layers.Layer):
        def build(self, shape):
            if not -len(shape) <= axis < len(shape):  # numpy's rule: no wrapping around
                raise ValueError(f"axis {axis} is out of range for an input of {len(shape)} axes")
            a = axis % len(shape)
            self.bshape = [shape[a] if i == a else 1 for i in range(1, len(shape))]
            self.gamma = self.add_weight(shape=(shape[a],), initializer=gamma_initializer,
                                         regularizer=gamma_regularizer, constraint=gamma_constraint)

        def call(self, x):
            return keras.ops.cast(x, "float32") * keras.ops.reshape(self.gamma, self.bshape)

        def compute_output_shape(self, shape):  # TimeDistributed asks for it
            return shape

    return RawScale(name=name)


ROLES = ("input", "query", "value", "key")


def raw_call(op: str, layer, tensors, ports=None):
    """The call's output; a layer with several gives a list (the first is the spec's plain name)."""
    kw = dict(ports or {})
    if op == "MultiHeadAttention":
        if getattr(layer, "nnspec_scores", False):
            kw["return_attention_scores"] = True
        if "attention_mask" in kw:
            kw["attention_mask"] = kw["attention_mask"][0]
        return layer(*tensors[:2], key=tensors[2] if len(tensors) > 2 else None, **kw)
    if op in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Attention",
              "Expr"):
        return layer(list(tensors))
    return layer(tensors[0], **kw)


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def _outputs(t: dict, name: str, op: str, args: dict, out) -> None:
    """t[name] = the call's first output; t[name.state_h] ... the others (names from the catalog)."""
    from nnspec.ops import CATALOG
    t[name] = _first(out)
    if isinstance(out, (list, tuple)):
        for o, x in zip(CATALOG[op].output_names(CATALOG[op].fill(args))[1:], out[1:]):
            t[f"{name}.{o}"] = x


def raw_keras(graph: dict):
    """The graph as a keras.Model, from keras.layers directly (Keras's defaults)."""
    import keras
    t = {}
    inputs = {}
    for name, v in graph["inputs"].items():
        inputs[name] = t[name] = keras.Input(shape=tuple(v["shape"]), dtype=v["dtype"], name=name)
    layers = {}
    for e in graph["layers"]:
        src = e["from"]
        srcs = ([src[r] for r in ROLES if r in src] if e.get("op") != "Expr" else list(src.values())) \
            if isinstance(src, dict) else list(src)
        ports = {k: [t[x] for x in v] for k, v in src.items() if k not in ROLES} \
            if isinstance(src, dict) and e.get("op") != "Expr" else {}
        xs = [t[s] for s in srcs]
        if "reuse" in e:
            first = next(x for x in graph["layers"] if x.get("name") == e["reuse"])
            _outputs(t, e["name"], first["op"], first["args"], raw_call(first["op"], layers[e["reuse"]], xs, ports))
        elif "block" in e:
            block = graph["blocks"][e["block"]]
            h = xs[0]
            for j, inner in enumerate(block["layers"]):
                args = dict(inner["args"])
                if block["param"] and block["param"][0] == j:
                    args[block["param"][1]] = e["value"]
                h = _first(raw_call(inner["op"], raw_layer(inner["op"], args), [h]))
            t[e["name"]] = h
        elif "repeat" in e:
            h = xs[0]
            for _ in range(e["repeat"]):
                for inner in e["layers"]:
                    h = _first(raw_call(inner["op"], raw_layer(inner["op"], inner["args"]), [h]))
            t[e["name"]] = h
        else:
            layer = raw_layer(e["op"], e["args"], None, e.get("trainable", True), e.get("activity_regularizer"))
            layers[e["name"]] = layer
            _outputs(t, e["name"], e["op"], e["args"], raw_call(e["op"], layer, xs, ports))
    outs = [t[n] for n in graph["outputs"]]
    model = keras.Model(inputs if len(inputs) > 1 else next(iter(inputs.values())), outs)
    model.raw_layers = layers  # graph layer name -> its Keras layer (not reused or repeated ones' copies)
    return model, [t[e["name"]] for e in graph["layers"]]


def check_raw(result: Result, graph: dict, spec):
    """An accepted spec, built by raw Keras with Keras's own defaults: same shapes and counts as the
    static ones (this catches catalog defaults that differ from Keras's, and checks the translator)."""
    try:
        model, tensors = raw_keras(graph)
    except Exception as e:
        result.add("accepted, raw Keras (its own defaults) refuses", e)
        return
    for e, tensor in zip(graph["layers"], tensors):
        name = repeat_output(graph, e["name"])
        op = e.get("op") or next(k for k in ("repeat", "block", "reuse") if k in e)
        raw, static = tuple(tensor.shape), tuple(spec.shapes[name])
        # raw Keras may know less (None where nnspec knows a slice of an unknown axis keeps 1: seed 36
        # graph 3541); the forward pass checks nnspec's size against what is computed
        if len(raw) != len(static) or any(r is not None and r != s for r, s in zip(raw, static)):
            result.add(f"accepted, {op} static shape != raw Keras shape",
                       f"{op} static {spec.shapes[name]} raw keras {tuple(tensor.shape)}",
                       f"{name}: {op} {e.get('args')} static {spec.shapes[name]} != raw keras {tuple(tensor.shape)}")
        layer = model.raw_layers.get(e["name"])
        if layer is not None and "WeightNorm" not in f"{op} {e.get('args')}":
            # nnspec's own wrapper adds g; raw Keras has the bare layer
            counts = (sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
                      sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights))
            if counts != tuple(spec.params[name]):
                result.add(f"accepted, {op} static params != raw Keras params",
                           f"{op} static {spec.params[name]} raw keras {counts}",
                           f"{name}: {op} {e.get('args')} static {spec.params[name]} != raw keras {counts}")


def _raw_train(model, graph: dict, x, rng):
    """One train_on_batch step of the raw-Keras model, with the graph's losses (those Keras
    objects from nnspec's loss table: a loss name is not what a shape refusal is about).
    Refusals of what fails only in training (a constraint's axis, an orthogonal_regularizer)
    are judged by it."""
    from nnspec.keras.build import loss_object
    names = list(graph["outputs"])
    losses = [loss_object(o["loss"]) if o and o.get("loss") is not None else None for o in graph["outputs"].values()]
    if all(loss is None for loss in losses):
        return
    outs = model(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    y = targets_for(graph["outputs"], {n: tuple(o.shape) for n, o in zip(names, outs)}, rng)
    model.compile(optimizer="adam", loss=losses)
    model.run_eagerly = True
    model.train_on_batch(x, [y[n] for n, loss in zip(names, losses) if loss is not None])


def keras_accepts(graph: dict, rng, train: bool = True) -> tuple[bool, str]:
    """Does Keras build the graph, run it on a batch of 2 and (``train``) take a training step?
    (ok, why not / zero-size note)"""
    try:
        model, everything = raw_keras(graph)
        probe = __import__("keras").Model(model.input, everything)
    except Exception as e:
        return False, normalise(e)
    last = None
    for size in runtime_sizes(graph):
        x = _model_x(batch_for(graph, size, rng))
        try:
            outs = probe(x, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
        except Exception as e:
            if DATA_DEPENDENT.search(str(e)):
                return True, INDICES
            last = e
            if not any(None in v["shape"] for v in graph["inputs"].values()):
                break
            continue
        if any(0 in tuple(o.shape) for o in outs) or any(0 in tuple(s.shape)[1:] for s in everything
                                                           if None not in tuple(s.shape)[1:]):
            return True, ZERO_SIZE
        for declared, o in zip(everything, outs):
            # a model that computes another shape than it declares is not one Keras takes (a loss that
            # broadcasts would hide it: seed 34 graph 2742)
            d, got = tuple(declared.shape), tuple(o.shape)
            if len(d) != len(got) or any(a is not None and a != b for a, b in zip(d[1:], got[1:])):
                return False, f"run: a layer computes {got}, but Keras declares {d}"
        if train:
            try:
                _raw_train(model, graph, x, rng)
            except Exception as e:
                if not DATA_DEPENDENT.search(str(e)):
                    return False, "train_on_batch: " + normalise(e)
                return True, INDICES
        return True, ""
    return False, normalise(last)


# ------------------------------------------------------------------ one graph
def run_graph(graph: dict, train: bool = True, cli_checks: bool = True, check_cmd: bool = False,
              seed: int = 0) -> Result:
    text = yaml.safe_dump(to_doc(graph), sort_keys=False)
    result = Result(text)
    rng = np.random.default_rng(seed)
    try:
        spec, diags = nnspec.check_text(text, "fuzz.yaml")
    except Exception as e:
        result.status = "internal"
        result.add("internal: check_text raises", e)
        return result
    errors = [d for d in diags if d.severity == ERROR]
    result.codes = [d.code for d in errors]
    accepted = not errors
    if cli_checks:
        with tempfile.TemporaryDirectory() as tmp:
            _cli_checks(result, text, accepted, check_cmd, tmp)
    if accepted:
        result.status = "accepted"
        check_accepted(result, graph, spec, train, rng)
        check_raw(result, graph, spec)
        return result
    if not all(d.code in SHAPE_CODES for d in errors):
        result.status = "refused-other"
        return result
    result.status = "refused-shape"
    ok, note = keras_accepts(graph, rng, train)
    result.keras = "accepts" + (f" ({note})" if note else "") if ok else note
    if ok and note not in (ZERO_SIZE, INDICES):
        unexplained = [d for d in errors if strict_reason(d) is None]
        if unexplained:
            d = unexplained[0]
            op = d.message.split(" ", 1)[0]
            result.add(f"refused [{d.code}] {op}, Keras accepts", d.message, f"{d.code}: {d.message}")
    return result


# ------------------------------------------------------------------ labels, for reporting only
# Every disagreement fails tests/fuzz/test_differential.py and counts in a campaign: none is
# excused. A label only groups a campaign's report by what is known about a cause (a finding in
# FINDINGS.md, beside the worktrees, not fixed yet). Each: (label, predicate(graph), regex over
# "cause detail"); both must match. The causes of issue 9 and FINDINGS F1..F5 are fixed (their
# regressions are tests/fuzz/regressions/ and the Keras tests); a new cause gets a label here
# while it is being fixed, and loses it when the fix is merged.
LABELS: list = []


def label_of(graph: dict, cause: str, detail: str) -> str | None:
    """The label of a disagreement's cause (LABELS), else None. For reporting: it excuses nothing."""
    for label, pred, pattern in LABELS:
        if pred(graph) and re.search(pattern, f"{cause} {detail}"):
            return label
    return None
