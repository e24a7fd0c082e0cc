"""Parity of SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed and ConvLSTM2D."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.ops import CATALOG
from nnspec.ops.base import ShapeError

from .harness import check, static
from .test_attention import check_lax

dims = st.integers(1, 6)
maybe = st.one_of(dims, st.none())


@st.composite
def sequences(draw, rank=(2, 5)):
    """Mostly (batch, time, features), time sometimes unknown; sometimes another rank
    or an unknown feature size (both refused)."""
    n = draw(st.sampled_from([3, 3, 3, 3, rank[0], rank[1] - 1]))
    shape = [None, draw(maybe)] + [draw(dims) for _ in range(n - 2)]
    if n >= 3 and draw(st.integers(0, 9)) == 0:
        shape[-1] = None
    return tuple(shape[:n])


@st.composite
def rnn_args(draw, name):
    args = {"units": draw(st.integers(1, 8)), "use_bias": draw(st.booleans()),
            "return_sequences": draw(st.booleans()), "go_backwards": draw(st.booleans()),
            "dropout": draw(st.sampled_from([0.0, 0.25])), "activation": draw(st.sampled_from(["tanh", "relu"]))}
    if name == "GRU":
        args["reset_after"] = draw(st.booleans())
    if name == "LSTM":
        args["unit_forget_bias"] = draw(st.booleans())
    return args


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])  # each op gets its own examples
@settings(max_examples=20, deadline=None)
@given(data=st.data(), shape=sequences())
def test_rnn(data, name, shape):
    args = data.draw(rnn_args(name))
    out = check(name, args, [shape])
    if out is not None:
        assert out[-1] == args["units"]


@settings(max_examples=30, deadline=None)
@given(data=st.data(), name=st.sampled_from(["SimpleRNN", "LSTM", "GRU"]), shape=sequences(),
       merge_mode=st.sampled_from(["concat", "sum", "mul", "ave"]))
def test_bidirectional(data, name, shape, merge_mode):
    inner = data.draw(rnn_args(name))
    check("Bidirectional", {"layer": {name: inner}, "merge_mode": merge_mode}, [shape])


def _inner_items():
    """Inner layers for TimeDistributed: recurrent and core ops, plus common ones
    of other families when they are in the catalog. (EinsumDense is left out:
    Keras misreports its shapes, see test_embedding_einsum.py.)"""
    out = [st.builds(lambda u, b: {"Dense": {"units": u, "use_bias": b}}, st.integers(1, 6), st.booleans()),
           st.builds(lambda u, r: {"LSTM": {"units": u, "return_sequences": r}}, st.integers(1, 4), st.booleans()),
           st.builds(lambda u: {"Bidirectional": {"layer": {"GRU": {"units": u}}}}, st.integers(1, 4)),
           st.builds(lambda u: {"Embedding": {"input_dim": 5, "output_dim": u}}, st.integers(1, 6))]
    if "Conv2D" in CATALOG:
        out.append(st.builds(lambda f, k: {"Conv2D": {"filters": f, "kernel_size": k}},
                             st.integers(1, 4), st.integers(1, 4)))
    if "Flatten" in CATALOG:
        out.append(st.just({"Flatten": {}}))
    return st.one_of(out)


@settings(max_examples=40, deadline=None)
@given(item=_inner_items(), shape=st.lists(dims, min_size=1, max_size=4))
def test_time_distributed(item, shape):
    # check_lax: Keras builds the wrapped layer without its input-rank check
    # (e.g. an LSTM on 2D steps); such a model fails only when it runs.
    check_lax("TimeDistributed", {"layer": item}, [(None, *shape)])


@settings(max_examples=30, deadline=None)
@given(filters=st.integers(1, 4), kernel=st.one_of(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=2, max_size=2)),
       strides=st.sampled_from([1, 1, 2, [1, 2]]), dilation=st.sampled_from([1, 1, 2, [2, 1]]),
       padding=st.sampled_from(["valid", "same"]), return_sequences=st.booleans(), use_bias=st.booleans(),
       shape=st.lists(st.one_of(dims, st.none()), min_size=3, max_size=5))
def test_conv_lstm_2d(filters, kernel, strides, dilation, padding, return_sequences, use_bias, shape):
    args = {"filters": filters, "kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
            "padding": padding, "return_sequences": return_sequences, "use_bias": use_bias}
    try:
        CATALOG["ConvLSTM2D"].validate(CATALOG["ConvLSTM2D"].fill(args))
    except ShapeError:
        return  # strides and dilation both > 1: refused at construction (see test_conv_lstm_2d_refusals)
    shape = [None, *shape]
    if len(shape) == 5 and shape[1:].count(None) > 1:
        shape[1] = None  # time may stay unknown; spatial/channel None are covered below
    check("ConvLSTM2D", args, [tuple(shape)])


# ---------------------------------------------------------------- examples
def test_rnn_examples():
    assert check("LSTM", {"units": 8}, [(None, 20, 4)]) == (None, 8)
    assert static("LSTM", {"units": 8}, [(None, 20, 4)])[1] == (4 * (4 * 8 + 8 * 8 + 8), 0)
    assert check("GRU", {"units": 8, "return_sequences": True}, [(None, None, 4)]) == (None, None, 8)
    assert static("GRU", {"units": 8}, [(None, 20, 4)])[1] == (3 * (4 * 8 + 8 * 8) + 2 * 3 * 8, 0)
    assert static("GRU", {"units": 8, "reset_after": False}, [(None, 20, 4)])[1] == (3 * (4 * 8 + 8 * 8 + 8), 0)


def test_rnn_rank_message():
    with pytest.raises(ShapeError) as e:
        static("LSTM", {"units": 8}, [(None, 4)])
    assert e.value.message == "needs (batch, time, features) but gets (batch, 4)"
    assert e.value.code == "rank-mismatch" and e.value.hint
    assert check("LSTM", {"units": 8}, [(None, 4)]) is None  # Keras refuses too


def test_bidirectional_examples():
    item = {"layer": {"LSTM": {"units": 8, "return_sequences": True}}}
    assert check("Bidirectional", item, [(None, 20, 4)]) == (None, 20, 16)
    assert static("Bidirectional", item, [(None, 20, 4)])[1] == (2 * 4 * (4 * 8 + 8 * 8 + 8), 0)
    assert check("Bidirectional", {**item, "merge_mode": "sum"}, [(None, 20, 4)]) == (None, 20, 8)


def test_bidirectional_refusals():
    with pytest.raises(ShapeError) as e:
        static("Bidirectional", {"layer": {"GRU": {"units": 8, "go_backwards": True}}}, [(None, 20, 4)])
    assert e.value.arg == "layer" and e.value.code == "bad-argument"
    assert check("Bidirectional", {"layer": {"GRU": {"units": 8, "go_backwards": True}}}, [(None, 20, 4)]) is None
    with pytest.raises(ShapeError) as e:
        static("Bidirectional", {"layer": {"GRU": {"units": 8}}}, [(None, 4)])
    assert e.value.message == "wraps GRU, which needs (batch, time, features) but gets (batch, 4)"


def test_time_distributed_examples():
    assert check("TimeDistributed", {"layer": {"Dense": {"units": 8}}}, [(None, 10, 4)]) == (None, 10, 8)
    assert static("TimeDistributed", {"layer": {"Dense": {"units": 8}}}, [(None, 10, 4)])[1] == (40, 0)
    assert check("TimeDistributed", {"layer": {"LSTM": {"units": 3}}}, [(None, 10, 5, 4)]) == (None, 10, 3)
    with pytest.raises(ShapeError) as e:
        static("TimeDistributed", {"layer": {"LSTM": {"units": 3}}}, [(None, 10, 4)])
    assert e.value.message == ("wraps LSTM, which needs (batch, time, features) but gets (batch, 4) "
                               "(per time step, without the time axis)")
    assert check("TimeDistributed", {"layer": {"LSTM": {"units": 3}}}, [(None, 10, 4)]) is None
    with pytest.raises(ShapeError) as e:
        static("TimeDistributed", {"layer": {"Dense": {"units": 3}}}, [(None, 10)])
    assert e.value.message == "needs at least (batch, time, features) but gets (batch, 10)"


def test_conv_lstm_2d_examples():
    args = {"filters": 6, "kernel_size": 3, "return_sequences": True}
    assert check("ConvLSTM2D", args, [(None, 5, 16, 16, 3)]) == (None, 5, 14, 14, 6)
    assert static("ConvLSTM2D", args, [(None, 5, 16, 16, 3)])[1] == (9 * 3 * 24 + 9 * 6 * 24 + 24, 0)
    assert check("ConvLSTM2D", {**args, "padding": "same", "strides": 2}, [(None, 5, 15, 16, 3)]) == (None, 5, 8, 8, 6)


def test_conv_lstm_2d_refusals():
    with pytest.raises(ShapeError) as e:
        static("ConvLSTM2D", {"filters": 2, "kernel_size": 5}, [(None, 5, 4, 8, 3)])
    assert e.value.code == "dimension-too-small" and e.value.hint == "use padding: same, a smaller kernel_size, or a larger input"
    assert e.value.message == ("would shrink height below 1: kernel_size 5 is larger than height 4 of "
                               "(batch, 4, 8, 3) (each time step)")
    assert check("ConvLSTM2D", {"filters": 2, "kernel_size": 5}, [(None, 5, 4, 8, 3)]) is None
    bad = {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}
    with pytest.raises(ShapeError) as e:
        static("ConvLSTM2D", bad, [(None, 5, 9, 9, 3)])
    assert e.value.arg == "dilation_rate" and e.value.code == "bad-argument"
    assert check("ConvLSTM2D", bad, [(None, 5, 9, 9, 3)]) is None
    for shape in [(None, 5, None, 9, 3), (None, 5, 9, 9, None), (None, 9, 9, 3)]:
        assert check("ConvLSTM2D", {"filters": 2, "kernel_size": 3}, [shape]) is None


@pytest.mark.parametrize("op, args, shape, arg", [
    ("LSTM", {"units": 3, "bias_initializer": "orthogonal"}, (None, 4, 2), "bias_initializer"),
    ("SimpleRNN", {"units": 3, "recurrent_initializer": "identity"}, (None, 4, 2), None),  # IRNN
    ("SimpleRNN", {"units": 3, "bias_regularizer": {"orthogonal_regularizer": {}}}, (None, 4, 2),
     "bias_regularizer"),
    ("GRU", {"units": 3, "bias_initializer": "orthogonal"}, (None, 4, 2), None),  # reset_after: bias (2, 9)
    ("GRU", {"units": 3, "bias_initializer": "orthogonal", "reset_after": False}, (None, 4, 2), "bias_initializer"),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "recurrent_initializer": "identity"}, (None, 2, 5, 5, 1),
     "recurrent_initializer"),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "kernel_regularizer": {"orthogonal_regularizer": {}}},
     (None, 2, 5, 5, 1), "kernel_regularizer"),
    ("Bidirectional", {"layer": {"LSTM": {"units": 2, "bias_initializer": "orthogonal"}}}, (None, 4, 2), "layer"),
    ("TimeDistributed", {"layer": {"Conv1D": {"filters": 2, "kernel_size": 1, "kernel_initializer": "identity"}}},
     (None, 3, 4, 2), "layer"),
    ("LSTM", {"units": 3, "activation": "glu"}, (None, 4, 2), "activation"),
])
def test_weight_ranks_and_activations(op, args, shape, arg):
    if arg is None:
        assert check(op, args, [shape], run_it=True) is not None
        return
    with pytest.raises(ShapeError, match="cannot use ") as e:
        static(op, args, [shape])
    assert (e.value.arg, e.value.code) == (arg, "bad-argument")
    assert check(op, args, [shape]) is None  # Keras fails building, running or training it
