"""Ops of the recurrent family: SimpleRNN, LSTM, GRU, ConvLSTM2D and the
Bidirectional / TimeDistributed wrappers.

With ``return_state: true`` a recurrent layer gives its final state(s) too,
referred to as ``enc.state_h`` / ``enc.state_c`` (LSTM, ConvLSTM2D) or
``enc.state`` (GRU, SimpleRNN); ``from: {input: x, initial_state: [h, c]}``
starts it from given states. ``stateful`` (state carried between batches) is
left out.
"""
from __future__ import annotations

from .. import codes
from ..record import replace
from .base import (ACTIVATION, ANY, BOOL, LITERT_FLEX, PADDING, POS_INT, RATE, Arg, ImportHooks, Op, Outputs, Port,
                   ShapeError, as_tuple, enum, int_or_tuple, kernel_and_bias, need_known, need_rank, prod,
                   unknown_time_axis, weight_args)
from .conv import _no_dilated_strides, _windows, window_dims
from .regularization import SEED


def _rnn_args(gates: bool, forget_bias: bool = False) -> tuple:
    """The arguments of SimpleRNN, LSTM and GRU (``gates``: LSTM/GRU; ``forget_bias``: LSTM)."""
    out = [Arg("units", POS_INT, doc="dimensionality of the output (and of the state)"),
           Arg("activation", ACTIVATION, "tanh")]
    if gates:
        out.append(Arg("recurrent_activation", ACTIVATION, "sigmoid", doc="activation of the gates"))
    out += weight_args()
    if forget_bias:
        out.append(Arg("unit_forget_bias", BOOL, True, doc="add 1 to the forget gate's bias at initialization"))
    out += [*weight_args("recurrent", bias=False, kernel_init="orthogonal"),
            Arg("dropout", RATE, 0.0, doc="dropout rate on the inputs"),
            Arg("recurrent_dropout", RATE, 0.0, doc="dropout rate on the recurrent state"),
            Arg("seed", SEED, None, doc="seed of the dropout"),
            Arg("return_sequences", BOOL, False, doc="output every step (batch, time, units), not only the last"),
            Arg("return_state", BOOL, False, doc="also output the final state: `name.state_h` and `name.state_c` "
                "(LSTM), `name.state` (GRU, SimpleRNN)"),
            Arg("go_backwards", BOOL, False, doc="process the sequence backwards (and return it reversed)"),
            Arg("unroll", BOOL, False, doc="unroll the loop (faster for short sequences, needs a known time)")]
    return tuple(out)


def _rnn_float_only(args):
    # measured (tests/keras/test_valid_promise_keras.py): recurrent_dropout applies to the float state
    return ("with dropout, Keras scales the input and needs it float (\"`x.dtype` must be a floating point "
            "tensor\" on the first batch)" if args.get("dropout") else None)


def _rnn_shape(args, shapes):
    (s,) = shapes
    need_rank(s, 3, "(batch, time, features)",
              "put a Reshape before it, or wrap it in TimeDistributed for an extra axis")
    need_known(s, -1, "last (features) dimension")
    if args["return_sequences"]:
        return (s[0], s[1], args["units"])
    return (s[0], args["units"])


def _gated_params(gates: int):
    def params(args, shapes):
        fan_in, u = shapes[0][-1], args["units"]
        n = gates * (fan_in * u + u * u)
        if args["use_bias"]:
            n += gates * u * (2 if args.get("reset_after") else 1)
        return n
    return params


def _gated_macs(gates: int):
    def macs(args, in_shapes, out_shape):  # every time step: gates x (input and state) x units
        s, u = in_shapes[0], args["units"]
        return s[1] * gates * (s[-1] + u) * u
    return macs


# ---------------------------------------------------------------- states
def _state_names(op_name: str) -> tuple:
    return ("state_h", "state_c") if op_name in ("LSTM", "ConvLSTM2D") else ("state",)


def _state_shape(op_name: str, args, out_shape) -> tuple:
    """One state's shape: the output of the last step ((batch, units), or ConvLSTM2D's image)."""
    if op_name == "ConvLSTM2D":
        return out_shape[:1] + out_shape[2:] if args["return_sequences"] else out_shape
    return (out_shape[0], args["units"])


def _rnn_outputs(op_name: str, shape_rule) -> Outputs:
    states = _state_names(op_name)
    return Outputs(
        names=lambda args: ("output",) + (states if args["return_state"] else ()),
        shapes=lambda args, shapes: (lambda out: (out,) + (_state_shape(op_name, args, out),) * (
            len(states) if args["return_state"] else 0))(shape_rule(args, shapes)),
        enable={s: "return_state: true" for s in states})


def _rnn_ports(op_name: str, shape_rule):
    n = len(_state_names(op_name))

    def port_shapes(args, shapes):
        return {"initial_state": [_state_shape(op_name, args, shape_rule(args, shapes))] * n}
    return port_shapes


INITIAL_STATE = Port("initial_state", many=True, doc="the states to start from (LSTM: [h, c]; GRU, SimpleRNN: [h])")
_HC = "an LSTM's states: [h, c], e.g. [enc.state_h, enc.state_c]"


def _sequences_mask(args, masked) -> bool:
    """A recurrent layer passes its input's mask on with return_sequences: true, else drops it."""
    return any(masked) and bool(args.get("return_sequences"))


def _rnn_op(name: str, shape_rule=None, **kw) -> Op:
    shape_rule = shape_rule or _rnn_shape
    return Op(name=name, family="recurrent", shape=shape_rule, outputs=_rnn_outputs(name, shape_rule),
              input_names=("input",), port_shapes=_rnn_ports(name, shape_rule),
              ports=(INITIAL_STATE if len(_state_names(name)) == 1 else replace(INITIAL_STATE, hint=_HC),),
              unsupported_targets={"litert": LITERT_FLEX}, dtypes=ANY, sequence_input=True, mask=_sequences_mask,
              **kw)


SIMPLE_RNN = _rnn_op(
    "SimpleRNN",
    doc="Fully connected RNN: the output of each step is fed back as the next step's state.",
    args=_rnn_args(gates=False),
    params=_gated_params(1),
    macs=_gated_macs(1),
    weights=kernel_and_bias(2, recurrent=2),
    float_only=_rnn_float_only,
)

LSTM = _rnn_op(
    "LSTM",
    doc="Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997).",
    args=_rnn_args(gates=True, forget_bias=True),
    params=_gated_params(4),
    macs=_gated_macs(4),
    weights=kernel_and_bias(2, recurrent=2),
    float_only=_rnn_float_only,
)

GRU = _rnn_op(
    "GRU",
    doc="Gated Recurrent Unit (Cho et al., 2014).",
    args=(*_rnn_args(gates=True),
          Arg("reset_after", BOOL, True,
              doc="apply the reset gate after the matrix multiplication (separate input and recurrent biases)")),
    params=_gated_params(3),
    macs=_gated_macs(3),
    # reset_after keeps separate input and recurrent biases: a bias of shape (2, 3 * units)
    weights=lambda args, shapes: {"kernel": (2,), "recurrent": (2,),
                                  **({"bias": (2 if args["reset_after"] else 1,)} if args["use_bias"] else {})},
    float_only=_rnn_float_only,
)

RNN_OPS = {op.name: op for op in (SIMPLE_RNN, LSTM, GRU)}


# ---------------------------------------------------------------- nested items
def _item(value) -> tuple:
    """`{Type: {args}}` -> (Op, filled args)."""
    from . import CATALOG  # lazily: the registry imports this module

    (type_name, given), = value.items()
    op = CATALOG[type_name]
    if given and "from" in given:
        raise ShapeError(f"wraps {type_name}, which has from: {given['from']!r}; a wrapped layer takes its "
                         "input from the wrapper", "remove from: inside layer:", arg="layer", code=codes.BAD_ARGUMENT)
    # the op's own args only: not name, trainable, ... of the spec layer
    return op, op.fill({k: v for k, v in (given or {}).items() if k in op.arg_index})


def _inner_error(wrapper_note: str, type_name: str, e: ShapeError) -> ShapeError:
    return e.wrapped(f"wraps {type_name}, which ", wrapper_note, arg="layer" if e.arg else None)


def _validate_inner(op: Op, args: dict) -> None:
    if op.validate:
        try:
            op.validate(args)
        except ShapeError as e:
            raise _inner_error("", op.name, e) from None


# ---------------------------------------------------------------- Bidirectional
# One key among the recurrent ops, its value that op's args schema (as in the
# catalog-wide `layer_item`; the schema generator defines `op_<Type>`).
RECURRENT_LAYER = {
    "type": "object",
    "properties": {name: {"$ref": f"#/definitions/op_{name}"} for name in RNN_OPS},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "description": "a recurrent layer, e.g. {LSTM: {units: 8}} (SimpleRNN, LSTM or GRU)",
}


def _bidi_validate(args):
    op, inner = _item(args["layer"])
    _validate_inner(op, inner)
    if inner["go_backwards"]:
        raise ShapeError("gets a layer with go_backwards: true, but Bidirectional makes the backward copy itself",
                         "remove go_backwards from the wrapped layer", arg="layer", code=codes.BAD_ARGUMENT)


def _bidi_shape(args, shapes):
    op, inner = _item(args["layer"])
    try:
        out = op.shape(inner, shapes[:1])
    except ShapeError as e:
        raise _inner_error("", op.name, e) from None
    if args["merge_mode"] == "concat":
        out = out[:-1] + (out[-1] * 2,)
    return out


def _bidi_states(args) -> tuple:
    """The state names of the wrapped layer, when it returns them."""
    op, inner = _item(args["layer"])
    return _state_names(op.name) if inner["return_state"] else ()


def _bidi_names(args):
    first = ("forward", "backward") if args["merge_mode"] is None else ("output",)
    states = _bidi_states(args)
    return first + tuple(f"forward_{s}" for s in states) + tuple(f"backward_{s}" for s in states)


def _bidi_out_shapes(args, shapes):
    op, inner = _item(args["layer"])
    out = _bidi_shape(args, shapes)
    first = (out, out) if args["merge_mode"] is None else (out,)
    state = _state_shape(op.name, inner, op.shape(inner, shapes[:1]))
    return first + (state,) * (2 * len(_bidi_states(args)))


def _bidi_port_shapes(args, shapes):
    op, inner = _item(args["layer"])
    state = _state_shape(op.name, inner, op.shape(inner, shapes[:1]))
    return {"initial_state": [state] * (2 * len(_state_names(op.name)))}


def _bidi_params(args, shapes):
    op, inner = _item(args["layer"])
    trainable, frozen = op.count_params(inner, shapes[:1])
    return (2 * trainable, 2 * frozen) if frozen else 2 * trainable


def _bidi_macs(args, in_shapes, out_shape):
    op, inner = _item(args["layer"])
    n = op.count_macs(inner, in_shapes, op.shape(inner, in_shapes))
    return None if n is None else 2 * n


def _bidi_kwargs(args, make_item):
    return {"layer": make_item(args["layer"]), "merge_mode": args["merge_mode"]}


_BIDI_STATES = ("state_h", "state_c", "state")
BIDIRECTIONAL = Op(
    name="Bidirectional",
    family="recurrent",
    sequence_input=True, wraps=True, mask="wrapped",
    doc="Runs a recurrent layer forwards and a copy backwards, and merges their outputs.",
    args=(
        Arg("layer", RECURRENT_LAYER, doc="the recurrent layer to run both ways, e.g. {LSTM: {units: 8}}"),
        Arg("merge_mode", {"anyOf": [enum("concat", "sum", "mul", "ave"), {"type": "null"}],
                           "description": "'concat', 'sum', 'mul', 'ave' or null"}, "concat",
            doc="how to combine the two directions ('concat' doubles the last axis); null: two outputs, "
                "`name.forward` (also plain `name`) and `name.backward`"),
    ),
    shape=_bidi_shape,
    params=_bidi_params,
    macs=_bidi_macs,
    keras_kwargs=_bidi_kwargs,
    validate=_bidi_validate,
    outputs=Outputs(names=_bidi_names, shapes=_bidi_out_shapes,
                    enable={"forward": "merge_mode: null", "backward": "merge_mode: null",
                            **{f"{d}_{s}": "return_state: true on the layer inside"
                               for d in ("forward", "backward") for s in _BIDI_STATES}}),
    input_names=("input",),
    ports=(Port("initial_state", many=True, doc="the forward layer's states, then the backward one's"),),
    port_shapes=_bidi_port_shapes,
    import_hooks=ImportHooks(nested={"layer": lambda layer: layer.forward_layer}, derived=("backward_layer",)),
)


# ---------------------------------------------------------------- TimeDistributed
def _td_validate(args):
    op, inner = _item(args["layer"])
    if op.inputs != (1, 1):
        raise ShapeError(f"wraps {op.name}, which takes {op.inputs[0]} or more inputs; "
                         "TimeDistributed wraps one-input layers only", arg="layer", code=codes.BAD_ARGUMENT)
    _validate_inner(op, inner)
    if op.output_names(inner):
        raise ShapeError(f"wraps {op.name} with return_state: true, which gives several outputs; "
                         "TimeDistributed wraps layers with one output", "remove return_state from the wrapped "
                         "layer", arg="layer", code=codes.BAD_ARGUMENT)


def _step(shape) -> tuple:
    """What TimeDistributed's layer sees of its (batch, time, ...) input: one step, (batch, ...)."""
    return (shape[0],) + tuple(shape[2:])


def _td_shape(args, shapes):
    (s,) = shapes
    need_rank(s, range(3, 65), "at least (batch, time, features)",
              "TimeDistributed applies its layer to every step of axis 1; add that axis with Reshape")
    op, inner = _item(args["layer"])
    try:
        out = op.shape(inner, [_step(s)])
    except ShapeError as e:
        raise _inner_error(" (per time step, without the time axis)", op.name, e) from None
    return (out[0], s[1]) + tuple(out[1:])


def _td_params(args, shapes):
    (s,) = shapes
    op, inner = _item(args["layer"])
    return op.count_params(inner, [_step(s)])


def _td_macs(args, in_shapes, out_shape):
    (s,) = in_shapes
    op, inner = _item(args["layer"])
    step = [_step(s)]
    n = op.count_macs(inner, step, op.shape(inner, step))
    return None if n is None else s[1] * n


TIME_DISTRIBUTED = Op(
    name="TimeDistributed",
    family="recurrent",
    sequence_input=True, wraps=True, wrapped_input=_step, mask="propagates",
    doc="Applies one layer (one set of weights) to every step of axis 1 of its input.",
    args=(Arg("layer", {"$ref": "#/definitions/layer_item"},
              doc="the layer to apply to each time step, e.g. {Dense: {units: 8}}"),),
    shape=_td_shape,
    params=_td_params,
    macs=_td_macs,
    keras_kwargs=lambda args, make_item: {"layer": make_item(args["layer"])},
    validate=_td_validate,
    import_hooks=ImportHooks(nested={"layer": lambda layer: layer.layer}),
    unsupported_targets={"onnx": unknown_time_axis("ONNX Runtime"), "litert": unknown_time_axis("LiteRT")},
)


# ---------------------------------------------------------------- ConvLSTM2D
def _conv_lstm_shape(args, shapes):
    (s,) = shapes
    need_rank(s, 5, "(batch, time, height, width, channels)",
              "ConvLSTM2D takes a sequence of images; for plain sequences use LSTM")
    need_known(s, 2, "height dimension")
    need_known(s, 3, "width dimension")
    need_known(s, 4, "last (channels) dimension")
    step = (s[0], *s[2:])
    sizes, strides, dilation = _windows(args, 2)
    try:
        spatial = window_dims(step, sizes, strides, args["padding"], dilation)
    except ShapeError as e:
        raise e.wrapped(suffix=" (each time step)") from None
    out = (*spatial, args["filters"])
    return (s[0], s[1], *out) if args["return_sequences"] else (s[0], *out)


def _conv_lstm_params(args, shapes):
    k, f, c = prod(as_tuple(args["kernel_size"], 2)), args["filters"], shapes[0][-1]
    return k * c * 4 * f + k * f * 4 * f + (4 * f if args["use_bias"] else 0)


def _conv_lstm_macs(args, in_shapes, out_shape):
    s, f = in_shapes[0], args["filters"]
    spatial = out_shape[-3:-1]  # each step: 4 gates, a conv of the input and one of the state
    return s[1] * prod(spatial) * prod(as_tuple(args["kernel_size"], 2)) * (s[-1] + f) * 4 * f


CONV_LSTM_2D = Op(
    name="ConvLSTM2D",
    family="recurrent",
    sequence_input=True,
    doc="LSTM whose input and recurrent transformations are 2D convolutions, over a sequence of images.",
    args=(
        Arg("filters", POS_INT, doc="number of output channels"),
        Arg("kernel_size", int_or_tuple(2), doc="height and width of the convolution window"),
        Arg("strides", int_or_tuple(2), 1),
        Arg("padding", PADDING, "valid"),
        Arg("dilation_rate", int_or_tuple(2), 1),
        Arg("activation", ACTIVATION, "tanh"),
        Arg("recurrent_activation", ACTIVATION, "sigmoid", doc="activation of the gates"),
        *weight_args(),
        Arg("unit_forget_bias", BOOL, True, doc="add 1 to the forget gate's bias at initialization"),
        *weight_args("recurrent", bias=False, kernel_init="orthogonal"),
        Arg("dropout", RATE, 0.0, doc="dropout rate on the inputs"),
        Arg("recurrent_dropout", RATE, 0.0, doc="dropout rate on the recurrent state"),
        Arg("seed", SEED, None, doc="seed of the dropout"),
        Arg("return_sequences", BOOL, False, doc="output every step, not only the last"),
        Arg("return_state", BOOL, False, doc="also output the final states `name.state_h` and `name.state_c`"),
        Arg("go_backwards", BOOL, False, doc="process the sequence backwards"),
    ),
    shape=_conv_lstm_shape,
    outputs=_rnn_outputs("ConvLSTM2D", _conv_lstm_shape),
    input_names=("input",),
    ports=(Port("initial_state", many=True, doc="the states to start from: [h, c]", hint=_HC),),
    port_shapes=_rnn_ports("ConvLSTM2D", _conv_lstm_shape),
    params=_conv_lstm_params,
    macs=_conv_lstm_macs,
    weights=kernel_and_bias(4, recurrent=4),
    validate=_no_dilated_strides,
    unsupported_targets={"litert": LITERT_FLEX},
)

OPS: tuple[Op, ...] = (SIMPLE_RNN, LSTM, GRU, BIDIRECTIONAL, TIME_DISTRIBUTED, CONV_LSTM_2D)
