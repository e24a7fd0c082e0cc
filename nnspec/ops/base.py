"""What an op (a layer type) is: one record holding everything nnspec knows of it.

An ``Op`` declares, in one place:
  * ``args``: each argument's JSON Schema fragment and default (the JSON Schema
    in ``schemas/`` and the docs are generated from these);
  * ``shape``: the static output-shape rule, ``shape(args, input_shapes) -> shape``;
  * ``params``: the parameter count, ``params(args, input_shapes) -> int`` or
    ``(trainable, non_trainable)``;
  * ``keras``: how to construct it (a Keras class name, or "module:Class" for
    nnspec's own layers); ``keras_kwargs(args, make_item)`` adapts args where
    they differ (``make_item`` builds a nested `{Type: args}`, for wrappers);
    ``keras_call(layer, tensors)`` calls it where a plain call does not fit.

Shapes are tuples that include the batch dimension, like Keras's own:
``(None, 64, 1)``; ``None`` is an unknown size. Shape rules raise ``ShapeError``
with a message a person can act on; the shapes pass adds the position.

This module imports nothing heavy: it is on the ``validate`` path.
"""
from __future__ import annotations

import functools
from ..record import field, record
from collections.abc import Callable  # noqa: F401 (annotations)

from .. import codes

Shape = tuple  # (None, d1, d2, ...)

REQUIRED = object()

# why a target cannot take an op (Op.unsupported_targets), the phrases several ops share
LITERT_FLEX = ("LiteRT runs it only through TensorFlow's Select ops (the Flex delegate), which the LiteRT "
               "interpreter does not include")


def unknown_time_axis(target: str):
    """The rule of a layer that loops over axis 1: the target's loop fails when that axis is unknown."""
    def rule(args, shapes):
        if shapes and shapes[0] is not None and len(shapes[0]) > 1 and shapes[0][1] is None:
            return (f"on an unknown (null) axis 1 its loop fails in {target}; give that axis a size in the "
                    "spec's inputs")
        return None
    rule.when = "on an unknown time axis"  # the README's table of targets says it so (nnspec.targets.lacks)
    return rule
INT_MAX = 2**31 - 1


class ShapeError(Exception):
    """A static check failed. ``arg`` names the offending argument, if any; ``code`` is the diagnostic's.

    A rule that says what it needs and what it got ("needs (batch, time, features) but gets (batch, 4)")
    raises ``ShapeError.found``, which keeps the parts apart: ``needs``, ``got`` (the input shape it
    reports, or None for other text) and ``after`` (what follows that shape). The shapes pass then names
    the tensors the shapes come from without reading the message."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None, code: str = codes.SHAPE_MISMATCH,
                 in_training: bool = False):
        super().__init__(message)
        self.message, self.hint, self.arg, self.code = message, hint, arg, code
        self.in_training = in_training  # Keras fails only when it trains the weight (not a frozen layer's)
        self.needs: str | None = None
        self.got: Shape | None = None
        self.after = ""

    @classmethod
    def found(cls, needs: str, got, hint: str | None = None, *, after: str = "", **kw) -> ShapeError:
        """'<needs> but gets <got><after>'. ``got``: a shape (tuple) of the layer's input, or text (several
        inputs' shapes, an argument's value)."""
        shape = isinstance(got, tuple)
        e = cls(f"{needs} but gets {fmt_shape(got) if shape else got}{after}", hint, **kw)
        e.needs, e.got, e.after = needs, got if shape else None, after
        return e

    def wrapped(self, prefix: str = "", suffix: str = "", **kw) -> ShapeError:
        """This error as said of a layer inside another: ``prefix + message + suffix``, its parts kept."""
        fields = {"hint": self.hint, "arg": self.arg, "code": self.code, "in_training": self.in_training, **kw}
        e = ShapeError(prefix + self.message + suffix, **fields)
        if self.needs is not None:
            e.needs, e.got, e.after = prefix + self.needs, self.got, self.after + suffix
        return e



def fixed_broadcast_reuse(first, s, kept, what: str, hint: str, with_batch: bool = True, axes=()):
    """The reuse rule of a layer that fixes, when it builds, the shape its ``what`` broadcast from: the
    first call's sizes on the ``kept`` axes (indices into ``first``), 1 elsewhere, with the batch axis
    (Normalization) or without it (Scale). A later call runs alike only where that broadcasts to its
    own shape (Op.reuse): else Keras computes another shape than it declares, or fails when it runs.
    On another rank the constants apply along other axes than a non-negative ``axes`` written in the
    spec says: Keras runs it, nnspec refuses it deliberately (tests/keras/test_reuse_broadcast.py)."""
    fixed = [first[i] if i in kept else 1 for i in range(len(first))][0 if with_batch else 1:]
    aligned = s[len(s) - len(fixed):]
    if len(s) < len(fixed) or not all(b == 1 or b == d for b, d in zip(fixed, aligned)):
        shown = ", ".join("batch" if i == 0 and with_batch else str(b) for i, b in enumerate(fixed))
        return (f"its {what} broadcast from ({shown}), the first call's sizes, which does not give {fmt_shape(s)} "
                "(Keras fails when it runs, or computes another shape than it declares)", hint)
    moved = [a for a in axes if a >= 0 and len(s) != len(first)]
    if moved:
        return (f"its {what} would apply along axis {moved[0] + len(s) - len(first)} of this call, not axis "
                f"{moved[0]} as written (Keras broadcasts them from the first call's shape; nnspec refuses it "
                "deliberately)", hint + ", or count the axis from the end (e.g. -1)")
    return None


# the kinds of input dtype an op takes (Op.dtypes)
FLOAT = frozenset({"float"})  # float math: Keras refuses int and bool inputs
ANY = frozenset({"float", "int", "bool"})  # Keras casts int and bool inputs to float (or keeps them)
NUMERIC = frozenset({"float", "int"})  # integers, not bool


@record(frozen=True)
class Arg:
    name: str
    schema: dict
    default: object = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def dtype_kind(dtype: str) -> str:
    """float32 -> "float", uint8 / int64 -> "int", bool -> "bool"."""
    if dtype == "bool":
        return "bool"
    return "int" if dtype.startswith(("int", "uint")) else "float"


def _no_params(args, shapes):
    return 0


@record(frozen=True)
class Outputs:
    """A layer that gives several tensors (LSTM with return_state: its output, state_h and state_c).

    A spec refers to them as ``enc.state_h``; a plain ``enc`` is the first (main) output, whose shape
    the op's ``shape`` rule gives. ``names(args)``: the output names the args give, main first (one
    name: a single output); ``shapes(args, input_shapes)``: their static shapes, one per name;
    ``enable``: output name -> what to write to get it when the args do not give it (the hint of the
    diagnostic for ``enc.state_h`` without ``return_state: true``).
    """
    names: Callable
    shapes: Callable
    enable: dict = field(default_factory=dict)


@record(frozen=True)
class Port:
    """A named extra input (``from: {input: x, initial_state: [h, c]}``), given only by name: passed to
    the Keras call as the keyword ``name``, as a list when ``many``. Its expected shapes come from the
    op's ``port_shapes``."""
    name: str
    many: bool = False
    dtypes: frozenset = frozenset({"float"})
    doc: str = ""
    hint: str = ""  # what to give it, added to the hint for a wrong number of tensors


class ImportRefused(Exception):
    """A Keras operation an op's ``imports`` hook recognises but cannot write: ``message`` says what
    it holds, ``hint`` what to write instead (`nnspec import` adds the layer's name)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


@record(frozen=True)
class Imported:
    """What an op's ``imports`` hook makes of one call: the item's ``args`` and its ``inputs``, the
    call's tensors as a list (``from:`` one name or a list) or a dict by the names the args use
    (``from: {x: a, y: b}``, the Expr layer's)."""
    args: dict
    inputs: list | dict


@record(frozen=True)
class KerasImport:
    """Keras classes outside keras.layers that an op stands for, for `nnspec import` (convnext's
    LayerScale is a Scale; keras.ops calls in a Functional graph are Expr layers).

    ``classes``: full class paths ("keras.src.applications.convnext.LayerScale"), or module prefixes
    ending in "." ("keras.src.ops."); ``make(operation, args, kwargs) -> Imported``: the item, from the
    Keras operation (a layer, or a keras.ops Operation) and the positional and keyword arguments of its
    call (tensors and constants); raises ImportRefused for one it cannot write. Called with Keras
    objects, at import only: the op modules stay free of Keras."""
    classes: tuple
    make: Callable

    def matches(self, path: str) -> bool:
        return any(path == c or (c.endswith(".") and path.startswith(c)) for c in self.classes)


@record(frozen=True)
class ImportHooks:
    """How `nnspec import` reads a Keras layer of an op where its config, read arg by arg, is not all
    (called with Keras objects, at import only: the op modules stay free of Keras).

    ``nested``: arg name -> ``f(layer)``, the Keras layer the arg's item is read from (a wrapper's);
    ``implied(args, input_shapes)``: removes from the args read those equal to what Keras fills in
    itself (strides = pool_size), so the spec says what the model's author wrote;
    ``call(args, kwargs) -> (tensors, kwargs)``: the input tensors of a call that is not ``layer(x)`` or
    ``layer([x, y])``, in the op's order, and the keyword arguments it leaves (the importer refuses
    those that are not None); raises ImportRefused. ``quiet``: keywords that are nothing to write
    when they hold only None (masks); ``off``: keywords that are nothing to write when False.
    ``derived``: keys of the layer's Keras config that its args make (Bidirectional's backward_layer,
    a copy of its layer): a difference there is reported as the args', not as an arg nnspec lacks."""
    nested: dict = field(default_factory=dict)
    implied: Callable | None = None
    call: Callable | None = None
    quiet: tuple = ("mask",)
    off: tuple = ()
    derived: tuple = ()


@record(frozen=True)
class Op:
    name: str
    doc: str
    args: tuple = ()
    shape: Callable = None
    params: Callable = _no_params
    # macs(args, in_shapes, out_shape) -> int, or None when a size it needs is unknown: the
    # multiply-accumulates of one example (conventions in the README); absent: 0 (element-wise work)
    macs: Callable | None = None
    inputs: tuple = (1, 1)  # (min, max) number of input tensors; max None = unbounded
    # The facts below were measured against Keras 3 (TensorFlow backend), op by op; each record sets its own.
    # dtypes: the kinds of input dtype Keras accepts ("float", "int", "bool"). FLOAT, the default: float
    # math (convolutions, average pooling, dropout refuse integers); ANY: Keras casts int and bool inputs
    # to float; NUMERIC: integers, not bool. tests/keras/test_valid_promise_keras.py feeds every op int32,
    # uint8, int64 and bool inputs and asserts that nnspec refuses exactly what Keras refuses.
    dtypes: frozenset = FLOAT
    # keeps_dtype: its output has its input's dtype (an int32 / int64 / bool input gives an output of that
    # dtype: Flatten, Add, MaxPooling2D), or keeps_dtype(args) -> bool where args decide (ReLU with a
    # negative_slope gives float32); else the layer's float (Average of ints gives float64, taken as
    # float). tests/keras/test_valid_promise_keras.py checks every op's output dtype on int32 and bool inputs.
    keeps_dtype: bool | Callable = False
    # float_only(args) -> why: where arguments make Keras need a float input although the op takes
    # integers otherwise, a phrase saying what fails ("Keras ... fails on the first batch"); else None
    float_only: Callable | None = None
    # no_gradient(args) -> why: TensorFlow has no gradient for what the op computes with these
    # arguments (UpSampling2D's area resize); training fails when a trainable layer comes before it
    no_gradient: Callable | None = None
    out_dtype: str | None = None  # a fixed output dtype (Hashing: int64), over keeps_dtype and float32
    # rank_free: Keras builds it without pinning the input's rank (no InputSpec(ndim=...)), so a shared
    # one may be called on inputs of another rank (merges: fuzzer seed 33; Expr, Hashing, Masking and
    # CategoryEncoding: seeds 34-36, graphs 452, 1716, 3444); tests/keras/test_rank_free_keras.py calls
    # every op's shared layer on another rank, in Keras and in nnspec
    rank_free: bool = False
    # sequence_input: its (first) input is a sequence, (batch, steps, ...): a rank-2 input there gets the
    # hint to return sequences from the recurrent layer before, or to Reshape (tests/test_codes.py checks
    # that the shape rules say so, op by op)
    sequence_input: bool = False
    # one_d: the op to use on a (batch, steps, channels) input instead of this 2-D one (Conv2D: "Conv1D"),
    # the hint of the rank error it gives there
    one_d: str | None = None
    # wraps: a wrapper of the layer in its `layer` arg (Bidirectional, TimeDistributed, WeightNorm): the
    # input dtypes it takes, its output dtype and its rank freedom are that layer's; wrapped_input(shape)
    # -> the input shape the wrapped layer sees (TimeDistributed's: one step), None: the wrapper's own
    wraps: bool = False
    wrapped_input: Callable | None = None
    # mask: does its output carry a Keras mask of (batch, steps)? None: no, it drops any (the default);
    # "propagates": when an input carries one; "makes": always (Masking); "wrapped": as the layer in its
    # `layer` arg (Bidirectional, WeightNorm); or mask(args, masked_inputs) -> bool, given which inputs
    # carry one (Embedding's mask_zero, a recurrent layer's return_sequences). Measured against Keras 3.15:
    # each op on a masked (batch, steps, features) tensor, does its output carry the mask? Softmax is the
    # one layer a propagated mask breaks: Keras applies the (batch, steps) mask to its (batch, steps,
    # features) input and fails when it runs, so the shapes pass refuses a masked Softmax.
    # tests/keras/test_masks_keras.py checks every op's rule against Keras, with and without a mask.
    mask: str | Callable | None = None
    input_names: tuple | None = None  # names for `from: {query: a, value: b}`
    # several outputs, referred to as `name.output` (None: one output)
    outputs: Outputs | None = None
    # keyword inputs given by name in `from:` (initial_state); their shapes:
    # port_shapes(args, input_shapes) -> {port: [expected shape of each tensor]} (None: any size)
    ports: tuple = ()
    port_shapes: Callable | None = None
    call_args: tuple = ()  # args passed to the layer's call, not its constructor (return_attention_scores)
    keras: str | None = None  # keras.layers class name; default: same as `name`
    keras_kwargs: Callable | None = None  # (args, make_item) -> constructor kwargs, when they differ
    keras_call: Callable | None = None  # (layer, tensors) -> output; default layer(x) or layer([xs])
    family: str = ""
    validate: Callable | None = None  # extra arg checks beyond the schema: validate(args) raises ShapeError
    # weights(args, shapes) -> {prefix: (rank, ...)}: the rank of every weight that the
    # `<prefix>_initializer` / `_regularizer` / `_constraint` args apply to (absent: no such weight
    # is built). Checked after the shape rule: Keras's orthogonal / identity initializers, its
    # orthogonal_regularizer and the `axis` of max_norm / min_max_norm / unit_norm need weights
    # of a given rank.
    weights: Callable | None = None
    # index_limit(args) -> n: the integers it takes are indices in [0, n) (Embedding's input_dim);
    # the random batches of `check` and of compile's verification draw below it
    index_limit: Callable | None = None
    # stochastic(args) -> True when the layer draws random numbers at inference (compile's verification
    # then compares under fixed seeds), None when nnspec cannot know (Custom); absent: deterministic
    stochastic: Callable | None = None
    # reuse(args, first_shapes, shapes) -> (why, hint): where a shared layer's later call on ``shapes`` runs
    # otherwise than its first call, on ``first_shapes``, made it (Keras decides some things once, when
    # it builds the layer); None when it runs alike. With it, the op decides on calls of another rank
    reuse: Callable | None = None
    # gradient_inputs(args) -> indices of the inputs a gradient reaches from the output (None: all)
    gradient_inputs: Callable | None = None
    # Keras classes outside keras.layers that this op stands for (`nnspec import`), see KerasImport
    imports: KerasImport | None = None
    # how `nnspec import` reads a layer of this op beyond its config's args (a wrapped layer, args Keras
    # fills in itself, a call that is not layer(x)), see ImportHooks
    import_hooks: ImportHooks | None = None
    # how `nnspec bounds` maps the layer into its bounding records: the name of a builder in
    # nnspec/bounding/keras_layers.py (BUILDERS); None: not supported there (one diagnostic)
    bounds: str | None = None
    # export targets it cannot go to (nnspec/targets.py: "onnx", "litert") -> why: a phrase, or
    # rule(args, input_shapes) -> the phrase or None where it depends on them; tried against each
    # converter and runtime in tests/keras/test_export_targets.py; the README's table lists them
    unsupported_targets: dict = field(default_factory=dict, compare=False)
    arg_index: dict = field(default_factory=dict, compare=False, repr=False)

    _defaults: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "arg_index", {a.name: a for a in self.args})
        object.__setattr__(self, "_defaults", {a.name: a.default for a in self.args if not a.required})
        activations = tuple(a.name for a in self.args if a.schema == ACTIVATION)
        if activations:  # every op with an activation arg refuses the ones Keras cannot apply as one
            inner = self.validate

            def validate(args, _inner=inner, _names=activations, _op=self.name):
                check_activations(_op, args, _names)
                if _inner:
                    _inner(args)
            object.__setattr__(self, "validate", validate)
        if self.weights is not None and self.shape is not None:
            rule, weights, op_name = self.shape, self.weights, self.name
            keys = tuple((a.name, a.default) for a in self.args
                         if a.name.endswith(("_initializer", "_regularizer", "_constraint")))

            @functools.wraps(rule)  # keeps the rule's module: `nnspec ops X` says where X lives
            def shape(args, shapes):
                out = rule(args, shapes)
                # the fast path: most layers use none of the rank-bound values, or only as Keras's
                # default (the recurrent kernels' orthogonal, on 2 or more axes)
                for key, default in keys:
                    v = args.get(key)
                    if v is not None and v != default and (
                            v in RANK_BOUND if v.__class__ is str else _value_name(v) in RANK_BOUND):
                        check_weight_ranks(op_name, args, weights(args, shapes))
                        break
                return out
            object.__setattr__(self, "shape", shape)

    def keeps_input_dtype(self, args: dict) -> bool:
        """Whether its output has its input's dtype, with these args (``keeps_dtype``)."""
        keeps = self.keeps_dtype
        return bool(keeps(args)) if callable(keeps) else keeps

    def output_masked(self, args: dict, masked_inputs) -> bool:
        """Whether its output carries a Keras mask, given its args and which inputs carry one (``mask``)."""
        rule = self.mask
        if rule is None:
            return False
        if rule == "propagates":
            return any(masked_inputs)
        if rule == "makes":
            return True
        if rule == "wrapped":
            inner = args.get("layer")
            if not (isinstance(inner, dict) and len(inner) == 1):
                return False
            (name, inner_args), = inner.items()
            from . import CATALOG  # lazily: the registry imports this module
            op = CATALOG.get(name)
            return op is not None and op.output_masked(inner_args or {}, masked_inputs)
        return bool(rule(args, masked_inputs))

    def output_names(self, args: dict) -> tuple:
        """The names of the layer's outputs with these args, main first; () for a single output."""
        if self.outputs is None:
            return ()
        names = tuple(self.outputs.names(args))
        return names if len(names) > 1 else ()

    def port(self, name: str):
        for p in self.ports:
            if p.name == name:
                return p
        return None

    def defaults(self) -> dict:
        return dict(self._defaults)

    def fill(self, given: dict) -> dict:
        """The given args over the defaults."""
        out = self.defaults()
        out.update(given)
        return out

    def count_macs(self, args: dict, in_shapes, out_shape) -> int | None:
        """Multiply-accumulates for one example; None if a size it needs is unknown."""
        if self.macs is None:
            return 0
        try:
            return self.macs(args, in_shapes, out_shape)
        except TypeError:  # an unknown (None) size met arithmetic
            return None

    def count_params(self, args: dict, shapes) -> tuple[int, int]:
        """(trainable, non_trainable) parameters."""
        n = self.params(args, shapes)
        if isinstance(n, tuple):
            return n
        return n, 0


# ---------------------------------------------------------------- schema helpers
def desc(schema: dict, text: str) -> dict:
    return {**schema, "description": text}


INT = {"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX}
POS_INT = {"type": "integer", "minimum": 1, "maximum": INT_MAX, "description": "a positive integer"}
NONNEG_INT = {"type": "integer", "minimum": 0, "maximum": INT_MAX, "description": "a non-negative integer"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
POS_NUM = {"type": "number", "exclusiveMinimum": 0, "description": "a positive number"}
RATE = {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "description": "a rate in [0, 1)"}
AXIS = {"type": "integer", "minimum": -64, "maximum": 64, "description": "an axis"}
ACTIVATION = {"$ref": "#/definitions/activation"}
INITIALIZER = {"$ref": "#/definitions/initializer"}
REGULARIZER = {"anyOf": [{"$ref": "#/definitions/regularizer"}, {"type": "null"}]}
CONSTRAINT = {"anyOf": [{"$ref": "#/definitions/constraint"}, {"type": "null"}]}
PADDING = {"enum": ["valid", "same"], "description": "'valid' or 'same'"}
DATA_FORMAT = {"enum": ["channels_last", "channels_first"]}


def enum(*values) -> dict:
    return {"enum": list(values), "description": " or ".join(repr(v) for v in values)}


def int_or_tuple(n: int, minimum: int = 1) -> dict:
    """An int, or a list of n ints (Keras's kernel_size, strides, ...)."""
    item = {"type": "integer", "minimum": minimum, "maximum": INT_MAX}
    word = "positive" if minimum == 1 else "non-negative"
    if n == 1:
        return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 1}],
                "description": f"a {word} integer"}
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": n, "maxItems": n}],
            "description": f"a {word} integer or a list of {n}"}


def as_tuple(value, n: int) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n


def kernel_and_bias(kernel_rank: int, bias_key: str | None = "use_bias", **more):
    """A ``weights`` rule: a kernel of ``kernel_rank`` axes, a 1-D bias when ``args[bias_key]``,
    and ``more`` prefix -> rank."""
    def weights(args, shapes):
        out = {"kernel": (kernel_rank,), **{k: (r,) for k, r in more.items()}}
        if bias_key and args[bias_key]:
            out["bias"] = (1,)
        return out
    return weights


def weight_args(kernel: str | None = "kernel", bias: bool = True, kernel_init: str = "glorot_uniform",
                use_bias_default: bool = True) -> tuple:
    """The initializer / regularizer / constraint args of a layer with weights."""
    out = []
    if kernel:
        out += [Arg(f"{kernel}_initializer", INITIALIZER, kernel_init),
                Arg(f"{kernel}_regularizer", REGULARIZER, None),
                Arg(f"{kernel}_constraint", CONSTRAINT, None)]
    if bias:
        out += [Arg("use_bias", BOOL, use_bias_default),
                Arg("bias_initializer", INITIALIZER, "zeros"),
                Arg("bias_regularizer", REGULARIZER, None),
                Arg("bias_constraint", CONSTRAINT, None)]
    return tuple(out)


# ---------------------------------------------------------------- activations and weight ranks
# Activation names Keras accepts as a name but cannot apply as a layer's activation (Keras's
# own failure, or a wrong model): name -> (why, hint).
REFUSED_ACTIVATIONS = {
    "threshold": ("keras.activations.threshold needs the arguments threshold and default_value, which an "
                  "activation name cannot give, so Keras fails when the layer runs",
                  "use the ReLU layer with its threshold argument (values below it become 0)"),
    "glu": ("glu halves the last axis when it runs, but Keras's symbolic shape keeps it, so the built model "
            "and its summary would disagree with what it computes",
            "write the gate out: two Dense layers (one with activation: sigmoid) and Multiply"),
}


def check_activations(op_name: str, args: dict, names) -> None:
    for name in names:
        value = args.get(name)
        if value in REFUSED_ACTIVATIONS:
            why, hint = REFUSED_ACTIVATIONS[value]
            raise ShapeError(f"cannot use {name} {value}: {why}", hint, arg=name, code=codes.BAD_ARGUMENT)


# initializers, regularizers and constraints that need weights of some ranks (check_weight_ranks)
RANK_BOUND = frozenset({"orthogonal", "identity", "orthogonal_regularizer", "max_norm", "min_max_norm", "unit_norm"})


def _value_name(value):
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return None


def _axes(rank: int) -> str:
    return f"{rank} axis" if rank == 1 else f"{rank} axes"


def _whose(op_name: str, prefix: str, ranks) -> str:
    """"Dense's bias has 1 axis", "MultiHeadAttention's bias weights have 1 axis and 2 axes"."""
    return f"{op_name}'s {prefix}" + (" weights have " if len(ranks) > 1 else " has ") + \
        " and ".join(_axes(r) for r in sorted(set(ranks)))


def check_weight_ranks(op_name: str, args: dict, weights: dict) -> None:
    """Refuse initializers, regularizers and constraints that cannot take a weight's rank (Keras
    raises: orthogonal and identity when the layer is built, orthogonal_regularizer and the
    constraints' axes at the first training step)."""
    for prefix, ranks in weights.items():
        init_arg = prefix + "_initializer"
        init = _value_name(args.get(init_arg))
        if init == "orthogonal" and min(ranks) < 2:
            raise ShapeError(f"cannot use {init_arg} orthogonal: it needs a weight of at least 2 axes, but "
                             f"{_whose(op_name, prefix, ranks)} (Keras fails when it builds the layer)",
                             f"use another {init_arg} (e.g. {'zeros' if prefix == 'bias' else 'glorot_uniform'})",
                             arg=init_arg, code=codes.BAD_ARGUMENT)
        if init == "identity" and any(r != 2 for r in ranks):
            raise ShapeError(f"cannot use {init_arg} identity: it makes a 2-D matrix, but "
                             f"{_whose(op_name, prefix, ranks)} (Keras fails when it builds the layer)",
                             f"use another {init_arg} (orthogonal works on any weight of 2 or more axes)",
                             arg=init_arg, code=codes.BAD_ARGUMENT)
        con_arg = prefix + "_constraint"
        con = args.get(con_arg)
        if con is not None:
            _check_constraint_axes(con_arg, con, ranks, op_name, prefix)
        reg_arg = prefix + "_regularizer"
        if _value_name(args.get(reg_arg)) == "orthogonal_regularizer" and any(r != 2 for r in ranks):
            raise ShapeError(f"cannot use {reg_arg} orthogonal_regularizer: it needs a 2-D weight, but "
                             f"{_whose(op_name, prefix, ranks)} (Keras fails at the first training step)",
                             f"use l1, l2 or l1_l2 for {reg_arg}", arg=reg_arg, code=codes.BAD_ARGUMENT,
                             in_training=True)


_AXIS_CONSTRAINTS = ("max_norm", "min_max_norm", "unit_norm")  # Keras's default axis: 0


def _check_constraint_axes(arg: str, value, ranks, op_name: str, prefix: str) -> None:
    """max_norm / min_max_norm / unit_norm reduce over ``axis`` of the weight: an axis outside
    its rank, or one named twice, fails when the optimizer applies the constraint."""
    name = _value_name(value)
    if name not in _AXIS_CONSTRAINTS:
        return
    given = (value[name] or {}).get("axis", 0) if isinstance(value, dict) else 0
    axes = list(given) if isinstance(given, (list, tuple)) else [given]
    for rank in sorted(set(ranks)):
        bad = [a for a in axes if not -rank <= a < rank]
        if not bad and len({a % rank for a in axes}) == len(axes):
            continue
        whose = f"{op_name}'s {prefix} " + ("weights include one of" if len(ranks) > 1 else "has")
        span = "no axis to reduce" if rank == 0 else f"axes {-rank}..{rank - 1}"
        problem = f"axis {bad[0]} is not one of them" if bad else "it names one of them twice"
        raise ShapeError(f"cannot use {arg} {name} with axis {given}: {whose} {_axes(rank)} ({span}) and "
                         f"{problem}; Keras fails when the optimizer applies the constraint",
                         f"use axes between {-rank} and {rank - 1}, each once" if rank else
                         f"remove {arg}: that weight is a single number", arg=arg, code=codes.BAD_ARGUMENT,
                         in_training=True)


# ---------------------------------------------------------------- shape helpers
def fmt_shape(shape) -> str:
    """(None, 4) -> '(batch, 4)'; unknown sizes print as '?'."""
    if shape is None:
        return "?"
    parts = ["batch"] + ["?" if d is None else str(d) for d in shape[1:]]
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def need_rank(shape, ranks, what: str, hint: str | None = None) -> None:
    """Raise unless len(shape) (batch included) is one of ``ranks``."""
    if isinstance(ranks, int):
        ranks = (ranks,)
    if len(shape) not in ranks:
        raise ShapeError.found(f"needs {what}", shape, hint, code=codes.RANK_MISMATCH)


def need_known(shape, axis: int, what: str) -> int:
    d = shape[axis]
    if d is None:
        raise ShapeError.found(f"needs a known {what}", shape, "give the input a fixed size on that axis",
                               code=codes.UNKNOWN_DIMENSION)
    return d


def conv_length(length, kernel: int, padding: str, stride: int, dilation: int = 1):
    """Keras's conv_output_length. None stays None."""
    if length is None:
        return None
    k = (kernel - 1) * dilation + 1
    if padding == "same":
        out = (length + stride - 1) // stride
    elif padding == "causal":
        out = (length + stride - 1) // stride
    else:
        out = (length - k + stride) // stride
    return out


def deconv_length(length, kernel: int, padding: str, stride: int, output_padding=None, dilation: int = 1):
    """Keras's deconv_output_length."""
    if length is None:
        return None
    k = (kernel - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(k - stride, 0)
        return length * stride
    pad = k // 2 if padding == "same" else 0
    return (length - 1) * stride + k - 2 * pad + output_padding


def prod(dims):
    n = 1
    for d in dims:
        n *= d
    return n
