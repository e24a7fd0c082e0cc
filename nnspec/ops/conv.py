"""Ops of the conv family: Conv1D/2D/3D, their transposes, separable and depthwise convs.

Each kind of convolution is one small generator (``_conv``, ``_conv_transpose``,
``_separable_conv``, ``_depthwise_conv``) called once per rank, in the manner of
ONNX's ConvOpSchemaGenerator. The spatial helpers here (``need_spatial``,
``window_dims``) are shared with the pooling family.
"""
from __future__ import annotations

from .. import codes
from .base import (ACTIVATION, DATA_FORMAT, PADDING, POS_INT, Arg, Op, ShapeError, as_tuple, conv_length,
                   deconv_length, enum, fmt_shape, int_or_tuple, kernel_and_bias, need_known, prod,
                   weight_args)

# ---------------------------------------------------------------- spatial helpers
SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_DATA = {1: "sequences", 2: "images", 3: "volumes"}


def layout(rank: int, data_format: str = "channels_last") -> str:
    """'(batch, height, width, channels)' for rank 2 ('(batch, channels, height, width)' channels first)."""
    if data_format == "channels_first":
        return "(batch, channels, " + ", ".join(SPATIAL_AXES[rank]) + ")"
    return "(batch, " + ", ".join(SPATIAL_AXES[rank]) + ", channels)"


# ---------------------------------------------------------------- data_format
FORMAT_ARG = Arg("data_format", {**DATA_FORMAT, "description": "'channels_last' (batch, ..., channels) or "
                                 "'channels_first' (batch, channels, ...)"}, "channels_last",
                 doc="where the channels axis is")


def first(args) -> bool:
    return args.get("data_format") == "channels_first"


def spatial(shape, args) -> tuple:
    """The spatial sizes of (batch, ..., channels), or of (batch, channels, ...) channels first."""
    return tuple(shape[2:]) if first(args) else tuple(shape[1:-1])


def channel_axis(args) -> int:
    return 1 if first(args) else -1


def join(batch, dims, channels, args) -> tuple:
    """(batch, *dims, channels), or (batch, channels, *dims) channels first."""
    return (batch, channels, *dims) if first(args) else (batch, *dims, channels)


# Measured on TensorFlow 2.21: these kernels run on a CPU only through oneDNN, which TensorFlow turns on
# by default only on some x86 CPUs (on one with AVX512 and AMX they run; with TF_ENABLE_ONEDNN_OPTS=0 they
# fail). A spec must build wherever it is served, so nnspec refuses them on every machine.
UNLESS_ONEDNN = ("unless TensorFlow runs it through oneDNN (on by default only on some x86 CPUs, off with "
                 "TF_ENABLE_ONEDNN_OPTS=0), so the layer fails when it runs on other CPUs: nnspec refuses it on "
                 "every machine")


def cpu_refusal(op_name: str, tf_op: str, why: str, also: str = "") -> ShapeError:
    """TensorFlow's CPU kernels of some convolutions take only channels_last: Keras builds the layer,
    then it fails when it runs (measured on TensorFlow 2.21). With oneDNN, which TensorFlow turns on
    by default only on some x86 CPUs, they run: a spec must build wherever it is served, so nnspec
    refuses them on every machine."""
    return ShapeError(f"cannot use data_format channels_first: TensorFlow's {tf_op} on CPU {why} {UNLESS_ONEDNN}",
                      "use data_format: channels_last (on a GPU TensorFlow changes the layout itself), or Permute "
                      "the channels last before it" + also, arg="data_format", code=codes.BAD_ARGUMENT)


def axis_default(rank: int, value: int = 1):
    """Keras's default for a per-axis int arg: an int at rank 1, a tuple above."""
    return value if rank == 1 else (value,) * rank


def need_spatial(shape, rank: int, family: str, ranks=(1, 2, 3), data_format: str = "channels_last") -> None:
    """Raise unless ``shape`` is (batch, <rank spatial axes>, channels) (channels first: after the batch).

    ``family`` names the sibling ops, e.g. "Conv{}D"; the hint points to the
    one fitting the input's rank, or to a Reshape / TimeDistributed.
    """
    if len(shape) == rank + 2:
        return
    got, hints = len(shape) - 2, []
    if got in ranks:
        hints.append(f"use {family.format(got)} for {_DATA[got]}")
    missing = rank + 2 - len(shape)
    if missing > 0:
        what = "a channels axis" if missing == 1 else "the missing axes"
        dims = [*(1,) * missing, *shape[1:]] if data_format == "channels_first" else [*shape[1:], *(1,) * missing]
        hints.append(f"add {what} with Reshape: {{target_shape: {dims}}}" if None not in dims
                     else f"add {what} with Reshape")
    elif missing == -1:
        hints.append("wrap it in TimeDistributed to apply it to each step of axis 1")
    else:
        hints.append("merge the extra axes with Reshape")
    raise ShapeError.found(f"needs {layout(rank, data_format)}", shape, ", or ".join(hints) or None,
                           code=codes.RANK_MISMATCH)


def window_dims(shape, sizes, strides, padding, dilations=None, what="kernel_size", args=None) -> tuple:
    """Output spatial sizes of a sliding window (conv or pooling) over ``shape`` (its data_format
    from ``args``).

    Refuses, like Keras, a 'valid' window larger than its axis."""
    rank = len(sizes)
    dilations = dilations or (1,) * rank
    out = []
    for axis, length, k, s, d in zip(SPATIAL_AXES[rank], spatial(shape, args or {}), sizes, strides, dilations):
        span = (k - 1) * d + 1
        if padding == "valid" and length is not None and length < span:
            window = f"{what} {k}" if d == 1 else f"the dilated kernel ({what} {k} with dilation_rate {d} spans {span})"
            fix = f"a smaller {what}" + (" or dilation_rate" if d > 1 else "")
            raise ShapeError(f"would shrink {axis} below 1: {window} is larger than {axis} {length} "
                             f"of {fmt_shape(shape)}", f"use padding: same, {fix}, or a larger input",
                             arg=what, code=codes.DIMENSION_TOO_SMALL)
        out.append(conv_length(length, k, padding, s, d))
    return tuple(out)


def _windows(args, rank: int):
    """kernel_size, strides, dilation_rate as rank-tuples."""
    return tuple(as_tuple(args[key], rank) for key in ("kernel_size", "strides", "dilation_rate"))


def _channels(shape, args=None) -> int:
    if first(args or {}):
        return need_known(shape, 1, "channels dimension (axis 1, channels first)")
    return need_known(shape, -1, "channels dimension (last axis)")


def _cin(args, shapes) -> int:
    return shapes[0][channel_axis(args)]


def _no_dilated_strides(args):
    """Keras refuses strides > 1 with dilation_rate > 1 (on any axes) at construction."""
    strides, dilation = as_tuple(args["strides"], 1), as_tuple(args["dilation_rate"], 1)
    if max(strides) > 1 and max(dilation) > 1:
        raise ShapeError(f"cannot combine strides {args['strides']} with dilation_rate {args['dilation_rate']}",
                         "use strides: 1 with dilation_rate, or dilation_rate: 1 with strides",
                         arg="dilation_rate", code=codes.BAD_ARGUMENT)


def _equal_strides(rank: int):
    """TensorFlow's depthwise convolution (also the first half of a separable one) runs only
    with equal strides on height and width (without oneDNN: UNLESS_ONEDNN): Keras builds the layer, then
    fails when it runs.
    With a dilation_rate above 1 TensorFlow takes another path, which runs them."""
    def validate(args):
        strides = as_tuple(args["strides"], rank)
        if len(set(strides)) > 1 and max(as_tuple(args["dilation_rate"], rank)) == 1:
            raise ShapeError.found("needs equal strides on every axis", f"strides {args['strides']}",
                                   f"use one stride for every axis, e.g. strides: {max(strides)}",
                                   after=f": TensorFlow's depthwise convolution on CPU takes only equal ones "
                                   f"{UNLESS_ONEDNN}", arg="strides", code=codes.BAD_ARGUMENT)
    return validate


def _window_args(rank: int, padding=PADDING) -> tuple:
    return (Arg("kernel_size", int_or_tuple(rank), doc="size of the convolution window"),
            Arg("strides", int_or_tuple(rank), axis_default(rank), doc="step of the window"),
            Arg("padding", padding, "valid"),
            Arg("dilation_rate", int_or_tuple(rank), axis_default(rank), doc="spacing of the kernel taps"))


def _window_shape(rank: int, family: str, out_channels, ranks=(1, 2, 3)):
    """Shape rule of a sliding-window conv; ``out_channels(args, channels, shape)`` gives the last axis."""
    def shape(args, shapes):
        (s,) = shapes
        need_spatial(s, rank, family, ranks, args["data_format"])
        channels = _channels(s, args)
        sizes, strides, dilations = _windows(args, rank)
        dims = window_dims(s, sizes, strides, args["padding"], dilations, args=args)
        return join(s[0], dims, out_channels(args, channels, s), args)
    return shape


_FILTERS = Arg("filters", POS_INT, doc="number of output channels")
_ACTIVATION = Arg("activation", ACTIVATION, None)


# ---------------------------------------------------------------- the four kinds
def _conv(rank: int) -> Op:
    padding = enum("valid", "same", "causal") if rank == 1 else PADDING

    def out_channels(args, channels, s):
        if channels % args["groups"]:
            raise ShapeError.found(f"needs input channels divisible by groups {args['groups']}", s,
                                   f"use groups that divide {channels}", arg="groups", code=codes.BAD_ARGUMENT)
        return args["filters"]

    def params(args, shapes):
        kernel = prod(as_tuple(args["kernel_size"], rank))
        return kernel * (_cin(args, shapes) // args["groups"]) * args["filters"] + args["filters"] * args["use_bias"]

    def validate(args):
        _no_dilated_strides(args)
        if first(args) and rank < 3 and args["groups"] == 1:
            # Keras runs grouped and 3-D convolutions through XLA, which takes channels first
            raise cpu_refusal(f"Conv{rank}D", "Conv2D", "computes only channels_last (\"The Conv2D op currently "
                              "only supports the NHWC tensor format on CPU\")",
                              also="; grouped convolutions (groups > 1) run channels first everywhere")
        if args["filters"] % args["groups"]:
            raise ShapeError(f"needs filters divisible by groups, but filters {args['filters']} "
                             f"is not a multiple of groups {args['groups']}",
                             "make filters a multiple of groups", arg="groups", code=codes.BAD_ARGUMENT)

    causal = " ('causal' padding: output[t] sees only input[:t+1])" if rank == 1 else ""
    return Op(name=f"Conv{rank}D", family="conv",
              doc=f"{rank}D convolution over {_DATA[rank]} {layout(rank)}{causal}.",
              args=(_FILTERS, *_window_args(rank, padding), FORMAT_ARG,
                    Arg("groups", POS_INT, 1, doc="split channels into groups convolved separately"),
                    _ACTIVATION, *weight_args()),
              shape=_window_shape(rank, "Conv{}D", out_channels), params=params, validate=validate,
              macs=lambda a, i, o: prod(o[1:]) * prod(as_tuple(a["kernel_size"], rank)) * (_cin(a, i) // a["groups"]),
              weights=kernel_and_bias(rank + 2), bounds="conv" if rank < 3 else None, **_sequence(rank, "Conv{}D"))


def _sequence(rank: int, family: str) -> dict:
    """A 1-D layer's input is a sequence (Op.sequence_input); a 2-D one's rank error on (batch, steps,
    channels) suggests the 1-D layer (Op.one_d)."""
    return {"sequence_input": True} if rank == 1 else {"one_d": family.format(1)} if rank == 2 else {}


def _conv_transpose(rank: int) -> Op:
    output_padding = {"anyOf": [*int_or_tuple(rank, minimum=0)["anyOf"], {"type": "null"}],
                      "description": f"null, or a non-negative integer{'' if rank == 1 else f' or a list of {rank}'}"
                                     " below strides"}

    def shape(args, shapes):
        (s,) = shapes
        need_spatial(s, rank, "Conv{}DTranspose", data_format=args["data_format"])
        _channels(s, args)
        sizes, strides, dilations = _windows(args, rank)
        pads = as_tuple(args["output_padding"], rank)  # (None,) * rank when unset
        out = []
        for length, k, st, op, d in zip(spatial(s, args), sizes, strides, pads, dilations):
            # never below 1: validate refuses the one case that shrinks ('same', even kernel, output_padding 0)
            out.append(deconv_length(length, k, args["padding"], st, op, d))
        return join(s[0], out, args["filters"], args)

    def params(args, shapes):
        kernel = prod(as_tuple(args["kernel_size"], rank))
        return kernel * _cin(args, shapes) * args["filters"] + args["filters"] * args["use_bias"]

    def validate(args):
        _no_dilated_strides(args)
        if first(args):
            raise cpu_refusal(f"Conv{rank}DTranspose", "transposed convolution (Conv{}DBackpropInput)".format(
                max(rank, 2)), "computes only channels_last")
        if max(as_tuple(args["dilation_rate"], rank)) > 1:
            raise ShapeError(f"cannot use dilation_rate {args['dilation_rate']}: TensorFlow's transposed "
                             f"convolution on CPU supports only dilation_rate 1 {UNLESS_ONEDNN}",
                             "use dilation_rate: 1 (a larger kernel_size widens the window)",
                             arg="dilation_rate", code=codes.BAD_ARGUMENT)
        if args["output_padding"] is not None and args["padding"] == "same":
            # Keras sizes the axis (n - 1) * strides + output_padding here, while TensorFlow's kernel
            # computes n * strides for it: they disagree when output_padding is 0.
            kernels, pads = as_tuple(args["kernel_size"], rank), as_tuple(args["output_padding"], rank)
            for axis, k, op in zip(SPATIAL_AXES[rank], kernels, pads):
                if k % 2 == 0 and op == 0:
                    raise ShapeError(f"cannot use output_padding 0 on {axis} with padding 'same' and the even "
                                     f"kernel_size {k}: Keras's output size for it disagrees with TensorFlow's, "
                                     "so the layer fails when it runs",
                                     "leave output_padding unset, use output_padding 1 or more (below strides), "
                                     "or an odd kernel_size", arg="output_padding", code=codes.BAD_ARGUMENT)
        if args["output_padding"] is not None:
            pads, strides = as_tuple(args["output_padding"], rank), as_tuple(args["strides"], rank)
            if any(p >= st for p, st in zip(pads, strides)):
                raise ShapeError.found("needs output_padding below strides",
                                       f"output_padding {args['output_padding']} with strides {args['strides']}",
                                       "use output_padding < strides on every axis, or leave it unset",
                                       arg="output_padding", code=codes.BAD_ARGUMENT)

    kernel, strides, padding, dilation = _window_args(rank)
    return Op(name=f"Conv{rank}DTranspose", family="conv",
              doc=f"Transposed {rank}D convolution (deconvolution) over {layout(rank)}: upsamples by strides.",
              args=(_FILTERS, kernel, strides, padding,
                    Arg("output_padding", output_padding, None, doc="extra size added on one side of each axis"),
                    FORMAT_ARG, dilation, _ACTIVATION, *weight_args()),
              shape=shape, params=params, validate=validate, weights=kernel_and_bias(rank + 2),
              **_sequence(rank, "Conv{}DTranspose"),
              # every input position scatters its kernel into filters outputs
              macs=lambda a, i, o: prod(i[0][1:]) * prod(as_tuple(a["kernel_size"], rank)) * a["filters"])


def _separable_conv(rank: int) -> Op:
    def params(args, shapes):
        depth = _cin(args, shapes) * args["depth_multiplier"]
        return (prod(as_tuple(args["kernel_size"], rank)) * depth + depth * args["filters"]
                + args["filters"] * args["use_bias"])

    # Keras accepts strides > 1 with dilation_rate > 1 here (unlike Conv), so no validate.
    return Op(name=f"SeparableConv{rank}D", family="conv",
              doc=f"Depthwise {rank}D convolution per channel, then a pointwise (1x1) convolution to filters.",
              args=(_FILTERS, *_window_args(rank), FORMAT_ARG,
                    Arg("depth_multiplier", POS_INT, 1, doc="depthwise outputs per input channel"),
                    _ACTIVATION, *weight_args("depthwise", bias=False), *weight_args("pointwise")),
              shape=_window_shape(rank, "SeparableConv{}D", lambda args, c, s: args["filters"], ranks=(1, 2)),
              params=params, validate=_equal_strides(rank),
              macs=lambda a, i, o: prod(spatial(o, a)) * _cin(a, i) * a["depth_multiplier"] * (
                  prod(as_tuple(a["kernel_size"], rank)) + a["filters"]),  # depthwise, then pointwise
              weights=lambda args, shapes: {"depthwise": (rank + 2,), "pointwise": (rank + 2,),
                                            **({"bias": (1,)} if args["use_bias"] else {})},
              **_sequence(rank, "SeparableConv{}D"))


def _depthwise_conv(rank: int) -> Op:
    def params(args, shapes):
        depth = _cin(args, shapes) * args["depth_multiplier"]
        return prod(as_tuple(args["kernel_size"], rank)) * depth + depth * args["use_bias"]

    return Op(name=f"DepthwiseConv{rank}D", family="conv",
              doc=f"{rank}D convolution of each input channel on its own: channels * depth_multiplier outputs.",
              args=(*_window_args(rank), FORMAT_ARG,
                    Arg("depth_multiplier", POS_INT, 1, doc="outputs per input channel"),
                    _ACTIVATION, *weight_args("depthwise")),
              shape=_window_shape(rank, "DepthwiseConv{}D", lambda args, c, s: c * args["depth_multiplier"],
                                  ranks=(1, 2)),
              params=params, validate=_equal_strides(rank),
              macs=lambda a, i, o: prod(o[1:]) * prod(as_tuple(a["kernel_size"], rank)),
              weights=lambda args, shapes: {"depthwise": (rank + 2,), **({"bias": (1,)} if args["use_bias"] else {})},
              bounds="conv", **_sequence(rank, "DepthwiseConv{}D"))


OPS: tuple[Op, ...] = (
    *(_conv(r) for r in (1, 2, 3)),
    *(_conv_transpose(r) for r in (1, 2, 3)),
    *(_separable_conv(r) for r in (1, 2)),
    *(_depthwise_conv(r) for r in (1, 2)),
)
