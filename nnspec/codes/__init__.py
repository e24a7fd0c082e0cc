"""Every diagnostic code nnspec emits, declared once (as yamllint declares its rules).

Each code has a one-line summary, the severity ``nnspec validate`` gives it, and
an example in this directory: a spec that produces the code (its first line says
where: ``# expect: CODE LINE:COL [words]``) and, in its last lines, the smallest
fix (``# fix N: TEXT`` replaces line N, ``# fix N+: TEXT`` inserts after it,
``# fix N-`` deletes it), which validates cleanly. ``nnspec explain CODE`` prints
them, docs/diagnostics.md is generated from them, tests/test_invalid_specs.py runs
every example and its fix, and tests/test_codes.py checks the registry against the code.

Code emits diagnostics through the constants (``Diagnostic(codes.RANK_MISMATCH, ...)``),
never a string literal: a typo is an AttributeError, and the test finds every code
that is declared but never emitted. To add a code, add one line here, in its section
(the example file is ``<code with _ for ->.yaml`` unless ``example=`` names another),
the example file, and regenerate the table:
``nnspec explain --format markdown -o docs/diagnostics.md``.

Codes that no small spec can produce (a file too large or unreadable, weights
loaded by ``compile``) say why in ``no_example``, and name the test file that
produces them in ``tested_in``.

It imports nothing of nnspec's, and nothing heavy: it is on the ``validate`` path.
"""
from __future__ import annotations

from collections import namedtuple

ERROR = "error"
WARNING = "warning"


# One declared code: code, summary, severity, section; example (the file beside this module holding
# it), or no_example (why there is none) and tested_in (then: the test file that produces the code).
# A plain namedtuple, not a dataclass nor typing.NamedTuple: cheaper to build, on the validate path.
Code = namedtuple("Code", "code summary severity section example no_example tested_in",
                  defaults=(ERROR, "", None, None, None))


REGISTRY: dict[str, Code] = {}
_current = [""]


def _section(title: str) -> None:
    _current[0] = title


def _code(code: str, summary: str, severity: str = ERROR, example: str | None = None,
          no_example: str | None = None, tested_in: str | None = None) -> str:
    if code in REGISTRY:
        raise ValueError(f"diagnostic code {code!r} is declared twice")
    if example is None and no_example is None:
        example = code.replace("-", "_") + ".yaml"
    REGISTRY[code] = Code(code, summary, severity, _current[0], example, no_example, tested_in)
    return code


_section("The file and its YAML / .nns text")
UNREADABLE = _code("unreadable", "the spec file cannot be read (missing, a directory, no permission)",
                   no_example="a path that cannot be read is no spec text", tested_in="tests/test_codes.py")
FILE_TOO_LARGE = _code("file-too-large", "the spec file is larger than 2 MiB",
                       no_example="it takes a file over 2 MiB", tested_in="tests/test_hostile.py")
BINARY_FILE = _code("binary-file", "the file holds a NUL byte: it is not a text spec")
INVALID_UTF8 = _code("invalid-utf8", "the file is not valid UTF-8 text")
YAML_SYNTAX = _code("yaml-syntax", "the YAML does not parse (indentation, colons, brackets, an unknown alias)")
YAML_TAG = _code("yaml-tag", "a YAML tag (!!python/object, !!binary, ...): specs hold plain data only",
                 example="python_tag.yaml")
YAML_11_SCALAR = _code("yaml-1.1-scalar", "a value YAML 1.1 and YAML 1.2 loaders read differently (yes, on, 0777, "
                       "1_000)")
MULTIPLE_DOCUMENTS = _code("multiple-documents", "the file holds more than one YAML document (---)",
                           example="two_documents.yaml")
DUPLICATE_KEY = _code("duplicate-key", "a key is given twice in one mapping (YAML loaders silently keep the last)")
BAD_KEY = _code("bad-key", "a mapping key is a list, a mapping or an alias, not plain text")
BAD_NUMBER = _code("bad-number", "a number that is not finite (.inf, .nan, 1e999) or cannot be read as tagged")
NUMBER_TOO_LARGE = _code("number-too-large", "an integer with more than 64 digits")
TOO_DEEP = _code("too-deep", "nesting deeper than 32 levels (of YAML, of .nns brackets, or of blocks calling blocks)")
TOO_MANY_NODES = _code("too-many-nodes", "the document (after YAML aliases or block expansion) has more than "
                       "100,000 values")
TOO_MANY_TOKENS = _code("too-many-tokens", "a .nns spec has more than 70,000 tokens",
                        no_example="it takes a file of 70,000 tokens", tested_in="tests/test_limits.py")
DSL_SYNTAX = _code("dsl-syntax", "the .nns text does not parse", example="dsl_syntax.nns")
EMPTY_SPEC = _code("empty-spec", "the file holds no spec", example="empty.yaml")
NOT_A_MAPPING = _code("not-a-mapping", "the spec is a list or a single value, not a mapping of keys",
                      example="not_mapping.yaml")

_section("The format (JSON Schema)")
BAD_VERSION = _code("bad-version", "nnspec: is not 1, the format version this nnspec reads")
UNKNOWN_KEY = _code("unknown-key", "a key the format does not have at that place (did-you-mean in the hint)")
MISSING_KEY = _code("missing-key", "a required key is missing (name, inputs, layers, outputs, a penalty's on, ...)")
UNKNOWN_LAYER_TYPE = _code("unknown-layer-type", "a layer type that is neither an op (nnspec ops) nor a block",
                           example="unknown_type.yaml")
UNKNOWN_ARGUMENT = _code("unknown-argument", "a layer type has no argument of that name", example="unknown_arg.yaml")
MISSING_ARGUMENT = _code("missing-argument", "a layer lacks an argument it requires (Dense's units)",
                         example="missing_arg.yaml")
LAYER_ITEM_KEYS = _code("layer-item-keys", "a layers: item is not one {Type: {args}} (often an indentation slip)",
                        example="layer_item_indent.yaml")
BAD_TYPE = _code("bad-type", "a value of the wrong type (text where a number goes, a list for a mapping)")
BAD_VALUE = _code("bad-value", "a value outside the allowed set (an unknown activation, loss or padding)",
                  example="bad_activation.yaml")
OUT_OF_RANGE = _code("out-of-range", "a number below its minimum or above its maximum (units: 0)")
BAD_SIZE = _code("bad-size", "a list or text of the wrong length (a kernel_size of 3 numbers for Conv2D)")
BAD_NAME = _code("bad-name", "a name TensorFlow or the format refuses (a leading _, a space, an input named self)",
                 example="name_underscore.yaml")
UNKNOWN_METRIC = _code("unknown-metric", "a metric that is neither a Keras metric name nor a keras.metrics class")
SCHEMA = _code("schema", "a JSON Schema rule nnspec has no message of its own for",
               no_example="a fallback: every rule the generated schema uses has a code of its own",
               tested_in="tests/test_codes.py")
ALLOW_IMPORT_IN_SPEC = _code("allow-import-in-spec", "the old allow_import: key: a spec declares requires_import, "
                             "only the person running nnspec allows")

_section("Blocks and repeat")
UNKNOWN_BLOCK_PARAMETER = _code("unknown-block-parameter", "a block body uses $name that is not one of its "
                                "parameters", example="block_unknown_param.yaml")
UNKNOWN_BLOCK_ARGUMENT = _code("unknown-block-argument", "a block call passes a parameter the block does not have")
MISSING_BLOCK_ARGUMENT = _code("missing-block-argument", "a block call lacks a parameter that has no default",
                               example="block_missing_param.yaml")
BAD_BLOCK_ARGUMENT = _code("bad-block-argument", "a block call's argument has the wrong type, or cannot apply to "
                           "the call", example="block_param_type.yaml")
BAD_BLOCK_EXPRESSION = _code("bad-block-expression", "a ${...} in a block cannot be computed (unknown name, "
                             "non-numeric parameter, division by zero)")
UNKNOWN_BLOCK_INPUT = _code("unknown-block-input", "a block body uses $name for an input the block does not "
                            "declare")
BLOCK_RECURSION = _code("block-recursion", "blocks call each other in a cycle")
BAD_REPEAT = _code("bad-repeat", "repeat: lacks times: or layers:, or has other keys")
TOO_MANY_LAYERS = _code("too-many-layers", "more than 20,000 layers, written or after blocks and repeat expand")
TOO_MUCH_TEXT = _code("too-much-text", "blocks and repeat would expand to more than 8 MiB of text",
                      no_example="it takes an expansion to 8 MiB of text", tested_in="tests/test_limits.py")

_section("Names and references")
DUPLICATE_NAME = _code("duplicate-name", "two layers or inputs have the same name")
UNKNOWN_REFERENCE = _code("unknown-reference", "from: names a tensor that is not defined (did-you-mean in the hint)",
                          example="dangling_from.yaml")
UNKNOWN_LAYER = _code("unknown-layer", "reuse: names a layer that is not defined before it")
UNKNOWN_OUTPUT = _code("unknown-output", "outputs: names a tensor that is not defined")
UNKNOWN_TENSOR = _code("unknown-tensor", "a penalty or expression names a tensor that is not defined",
                       example="unknown_penalty_tensor.yaml")
NO_SUCH_OUTPUT = _code("no-such-output", "layer.output names an output the layer does not have",
                       example="unknown_output_name.yaml")
OUTPUT_NOT_ENABLED = _code("output-not-enabled", "layer.output names an output the layer gives only with an "
                           "argument (return_state: true)", example="state_without_return_state.yaml")
BAD_REFERENCE = _code("bad-reference", "a layer's second output referred to by index (enc[1]), not by name",
                      example="output_by_index.yaml")
MISSING_FROM = _code("missing-from", "a layer has no input and none can be implied (the first layer of a model "
                     "with several inputs)", example="first_layer_multi_input.yaml")
BAD_FROM = _code("bad-from", "from: names inputs a layer does not take (an unknown role, a list where one tensor "
                 "goes)")
INPUT_COUNT = _code("input-count", "a layer gets more or fewer inputs than it takes (a merge of one tensor)",
                    example="merge_one_input.yaml")
CYCLE = _code("cycle", "layers take input from each other in a cycle")
IMPORT_REFUSED = _code("import-refused", "a custom: object names a module nnspec never imports for a spec (os, "
                       "builtins, a serialized Keras object)")
IMPORT_NOT_ALLOWED = _code("import-not-allowed", "a custom: object needs a module the person running nnspec has "
                           "not allowed (--allow-import)", example="import_declared_not_allowed.yaml")
WEIGHTS_PATH = _code("weights-path", "weights: leads outside the spec's directory, or names no .keras / "
                     ".weights.h5 file")
UNUSED_LAYER = _code("unused-layer", "a layer reaches no output", WARNING)
UNUSED_INPUT = _code("unused-input", "an input feeds no layer", WARNING)

_section("Shapes and dtypes")
RANK_MISMATCH = _code("rank-mismatch", "a layer gets a tensor with another number of axes than it takes (an LSTM "
                      "after an LSTM without return_sequences)", example="lstm_after_lstm.yaml")
MERGE_MISMATCH = _code("merge-mismatch", "the inputs of a merge (Add, Concatenate, Dot, attention) do not fit "
                       "together", example="add_unequal.yaml")
DIMENSION_TOO_SMALL = _code("dimension-too-small", "a window (convolution, pooling, cropping) would shrink an "
                            "axis below 1", example="conv_shrink.yaml")
RESHAPE_SIZE = _code("reshape-size", "Reshape's target_shape does not hold the input's number of elements",
                     example="reshape_count.yaml")
UNKNOWN_DIMENSION = _code("unknown-dimension", "a layer needs the size of an axis the spec leaves unknown (null), "
                          "as Flatten does", example="flatten_unknown.yaml")
BAD_ARGUMENT = _code("bad-argument", "an argument that does not fit the layer's input (an axis outside it, "
                     "groups that do not divide the channels)", example="wrapped_from.yaml")
SHAPE_MISMATCH = _code("shape-mismatch", "a shape rule failed without a more specific code",
                       no_example="the default of ShapeError; every shape rule in the op catalog names a more "
                                  "specific code", tested_in="tests/test_codes.py")
BAD_EXPRESSION = _code("bad-expression", "an expression (penalty, loss, metric, Expr layer, constraint) does not "
                       "parse, or its shapes do not fit")
SHARED_LAYER_MISMATCH = _code("shared-layer-mismatch", "a reused layer is called on an input of another size (or "
                              "rank) than its first call", example="shared_mismatch.yaml")
PORT_COUNT = _code("port-count", "a named input (initial_state) gets another number of tensors than the layer "
                   "takes", example="initial_state_count.yaml")
PORT_SHAPE = _code("port-shape", "a named input (initial_state) gets a tensor of the wrong shape",
                   example="initial_state_shape.yaml")
INPUT_DTYPE = _code("input-dtype", "an integer or bool tensor into a layer Keras does not cast (Conv2D on uint8)")
FLOAT_INDICES = _code("float-indices", "Embedding gets float indices (Keras truncates them)", WARNING)
MASKED_SOFTMAX = _code("masked-softmax", "a Softmax layer after a Keras mask (Masking, mask_zero), where Keras "
                       "fails")
TOO_MANY_AXES = _code("too-many-axes", "a tensor of more than 8 axes, batch included (TensorFlow's kernels take "
                      "at most 8)")
UNKNOWN_SIZE_MISMATCH = _code("unknown-size-mismatch", "no size of the unknown (null) input axes makes the "
                              "shapes agree")
OPAQUE_SHAPE = _code("opaque-shape", "a Custom layer without output_shape: the layers after it are not "
                     "shape-checked", WARNING)
UNSET_STATISTICS = _code("unset-statistics", "Normalization without mean and variance passes its input through "
                         "until weights are loaded", WARNING)
MODEL_TOO_LARGE = _code("model-too-large", "the weights need more than 2 GiB (a warning here; compile and check "
                        "refuse it)", WARNING)
CONSTRAINT_SHAPE = _code("constraint-shape", "a constraint expression's value does not keep the weight's shape")

_section("Training: losses, metrics, penalties, gradients")
WEIGHT_WITHOUT_LOSS = _code("weight-without-loss", "an output has a loss weight but no loss")
LOSS_SHAPE = _code("loss-shape", "a loss that cannot take the output's shape (sparse_categorical_crossentropy on "
                   "one score)")
LOSS_ARGS = _code("loss-args", "a loss's arguments do not fit the output (an axis outside it, or not the last on a "
                  "masked output)")
BAD_METRIC = _code("bad-metric", "a metric mapping holds several metrics, or name: where it does not go")
METRIC_ARGS = _code("metric-args", "a metric's arguments do not fit the output (class_id, top_k, num_labels, axis)")
METRIC_RANK = _code("metric-rank", "a metric that needs (batch, n) on an output of another rank")
METRIC_TARGET = _code("metric-target", "a metric wants class labels where the loss takes values shaped like the "
                      "output, or the reverse")
METRIC_DTYPE = _code("metric-dtype", "a metric that needs a float output on an integer output")
METRIC_RANGE = _code("metric-range", "a metric reads the output as probabilities or class ids it is not",
                     WARNING)
BAD_PENALTY = _code("bad-penalty", "a penalty has none or several of l1, l2, l1_l2, expr, or lacks on:",
                    example="penalty_two_kinds.yaml")
PENALTY_NOT_SCALAR = _code("penalty-not-scalar", "a penalty expression gives a tensor, not one number")
PENALTY_UNREACHABLE = _code("penalty-unreachable", "a penalty on a tensor that feeds no output (Keras would drop "
                            "it)")
NO_GRADIENT = _code("no-gradient", "trainable weights that no loss reaches through a differentiable path (Keras's "
                    "fit fails)")

_section("Budgets (budget: in the spec, validate --max-params / --max-macs / --max-activation-memory)")
OVER_BUDGET = _code("over-budget", "the model's parameters, MACs or activation memory exceed a budget")
BAD_QUANTITY = _code("bad-quantity", "a budget limit that is not a quantity nnspec reads (5M, 1G, 2GiB, 500MB)")
BUDGET_UNCHECKED = _code("budget-unchecked", "a budget nnspec cannot check: a size is unknown, or a Custom layer",
                         WARNING)

_section("Compile and check (TensorFlow)")
UNSUPPORTED_TARGET = _code("unsupported-target", "a layer an export target cannot take (validate --target, compile "
                           "--onnx / --litert): found before anything is written")
WEIGHTS_SHAPE = _code("weights-shape", "a layer's weights in the --weights file have other shapes than the model's",
                      no_example="compile and check load weights with TensorFlow",
                      tested_in="tests/keras/test_weights.py")
WEIGHTS_UNUSED = _code("weights-unused", "a layer of the --weights file that the model does not have", WARNING,
                       no_example="compile and check load weights with TensorFlow",
                       tested_in="tests/keras/test_weights.py")

_section("Bounds (nnspec bounds: the range of the outputs over a box of inputs)")
BAD_RANGE = _code("bad-range", "an input's range: is not two numbers [lo, hi] with lo <= hi")
BOUNDS_NO_BOX = _code("bounds-no-box", "an input has no box: no --box for it and no range: on the spec's input",
                      no_example="a property of the command line, not of a spec", tested_in="tests/test_bounds.py")
BOUNDS_BAD_BOX = _code("bounds-bad-box", "a --box that names no input, does not parse, has lo > hi, or arrays of "
                       "another shape", no_example="a property of the command line, not of a spec",
                       tested_in="tests/test_bounds.py")
BOUNDS_UNSUPPORTED = _code("bounds-unsupported", "a layer nnspec bounds cannot bound (its type, or arguments such as "
                           "an activation without a sound relaxation)",
                           no_example="the model's layers are checked when the bounds are computed",
                           tested_in="tests/keras/test_bounds_keras.py")
BOUNDS_NOT_EXACT = _code("bounds-not-exact", "--method exact on a network that is not piecewise linear (sigmoid, "
                         "tanh, ...)", no_example="the model's layers are checked when the bounds are computed",
                         tested_in="tests/test_bounds.py")
BOUNDS_NO_WEIGHTS = _code("bounds-no-weights", "nnspec bounds on a spec without weights (neither --weights nor "
                          "weights:)", no_example="a property of the command line, not of a spec",
                          tested_in="tests/test_bounds.py")
MISSING_EXTRA = _code("missing-extra", "an optional dependency a command needs is not installed (the bounds "
                      "extra: numpy and scipy)", no_example="it takes an environment without scipy",
                      tested_in="tests/test_bounds.py")
