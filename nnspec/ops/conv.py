"""Ops of the conv family: Conv1D/2D/3D, their transposes, separable and depthwise convs.

Each kind of convolution is one small generator (``_conv``, ``_conv_transpose``,
``_separable_conv``, ``_depthwise_conv``) called once per rank, in the manner of
ONNX's ConvOpSchemaGenerator. The spatial helpers here (``need_spatial``,
``window_dims``) are shared with the pooling family.
"""
from __future__ import annotations

from .base import (ACTIVATION, PADDING, POS_INT, Arg, Op, ShapeError, as_tuple, conv_length,
                   deconv_length, enum, fmt_shape, int_or_tuple, kernel_and_bias, need_known, prod,
                   weight_args)

# ---------------------------------------------------------------- spatial helpers
SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_DATA = {1: "sequences", 2: "images", 3: "volumes"}


def layout(rank: int) -> str:
    """'(batch, height, width, channels)' for rank 2."""
    return "(batch, " + ", ".join(SPATIAL_AXES[rank]) + ", channels)"


def axis_default(rank: int, value: int = 1):
    """Keras's default for a per-axis int arg: an int at rank 1, a tuple above."""
    return value if rank == 1 else (value,) * rank


def need_spatial(shape, rank: int, family: str, ranks=(1, 2, 3)) -> None:
    """Raise unless ``shape`` is (batch, <rank spatial axes>, channels).

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
        dims = [*shape[1:], *(1,) * missing]
        hints.append(f"add {what} with Reshape: {{target_shape: {dims}}}" if None not in dims
                     else f"add {what} with Reshape")
    elif missing == -1:
        hints.append("wrap it in TimeDistributed to apply it to each step of axis 1")
    else:
        hints.append("merge the extra axes with Reshape")
    raise ShapeError(f"needs {layout(rank)} but gets {fmt_shape(shape)}", ", or ".join(hints) or None,
                     code="rank")


def window_dims(shape, sizes, strides, padding, dilations=None, what="kernel_size") -> tuple:
    """Output spatial sizes of a sliding window (conv or pooling) over ``shape``.

    Refuses, like Keras, a 'valid' window larger than its axis."""
    rank = len(sizes)
    dilations = dilations or (1,) * rank
    out = []
    for axis, length, k, s, d in zip(SPATIAL_AXES[rank], shape[1:-1], sizes, strides, dilations):
        span = (k - 1) * d + 1
        if padding == "valid" and length is not None and length < span:
            window = f"{what} {k}" if d == 1 else f"the dilated kernel ({what} {k} with dilation_rate {d} spans {span})"
            fix = f"a smaller {what}" + (" or dilation_rate" if d > 1 else "")
            raise ShapeError(f"would shrink {axis} below 1: {window} is larger than {axis} {length} "
                             f"of {fmt_shape(shape)}", f"use padding: same, {fix}, or a larger input",
                             arg=what, code="shrink")
        out.append(conv_length(length, k, padding, s, d))
    return tuple(out)


def _windows(args, rank: int):
    """kernel_size, strides, dilation_rate as rank-tuples."""
    return tuple(as_tuple(args[key], rank) for key in ("kernel_size", "strides", "dilation_rate"))


def _channels(shape) -> int:
    return need_known(shape, -1, "channels dimension (last axis)")


def _no_dilated_strides(args):
    """Keras refuses strides > 1 with dilation_rate > 1 (on any axes) at construction."""
    strides, dilation = as_tuple(args["strides"], 1), as_tuple(args["dilation_rate"], 1)
    if max(strides) > 1 and max(dilation) > 1:
        raise ShapeError(f"cannot combine strides {args['strides']} with dilation_rate {args['dilation_rate']}",
                         "use strides: 1 with dilation_rate, or dilation_rate: 1 with strides",
                         arg="dilation_rate", code="arg")


def _equal_strides(rank: int):
    """TensorFlow's depthwise convolution (also the first half of a separable one) runs only
    with equal strides on height and width: Keras builds the layer, then fails when it runs.
    With a dilation_rate above 1 TensorFlow takes another path, which runs them."""
    def validate(args):
        strides = as_tuple(args["strides"], rank)
        if len(set(strides)) > 1 and max(as_tuple(args["dilation_rate"], rank)) == 1:
            raise ShapeError(f"needs equal strides on every axis but gets strides {args['strides']}: TensorFlow's "
                             "depthwise convolution fails when it runs with unequal ones",
                             f"use one stride for every axis, e.g. strides: {max(strides)}",
                             arg="strides", code="arg")
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
        need_spatial(s, rank, family, ranks)
        channels = _channels(s)
        sizes, strides, dilations = _windows(args, rank)
        return (s[0], *window_dims(s, sizes, strides, args["padding"], dilations), out_channels(args, channels, s))
    return shape


_FILTERS = Arg("filters", POS_INT, doc="number of output channels")
_ACTIVATION = Arg("activation", ACTIVATION, None)


# ---------------------------------------------------------------- the four kinds
def _conv(rank: int) -> Op:
    padding = enum("valid", "same", "causal") if rank == 1 else PADDING

    def out_channels(args, channels, s):
        if channels % args["groups"]:
            raise ShapeError(f"needs input channels divisible by groups {args['groups']} but gets {fmt_shape(s)}",
                             f"use groups that divide {channels}", arg="groups", code="arg")
        return args["filters"]

    def params(args, shapes):
        kernel = prod(as_tuple(args["kernel_size"], rank))
        return kernel * (shapes[0][-1] // args["groups"]) * args["filters"] + args["filters"] * args["use_bias"]

    def validate(args):
        _no_dilated_strides(args)
        if args["filters"] % args["groups"]:
            raise ShapeError(f"needs filters divisible by groups, but filters {args['filters']} "
                             f"is not a multiple of groups {args['groups']}",
                             "make filters a multiple of groups", arg="groups", code="arg")

    causal = " ('causal' padding: output[t] sees only input[:t+1])" if rank == 1 else ""
    return Op(name=f"Conv{rank}D", family="conv",
              doc=f"{rank}D convolution over {_DATA[rank]} {layout(rank)}{causal}.",
              args=(_FILTERS, *_window_args(rank, padding),
                    Arg("groups", POS_INT, 1, doc="split channels into groups convolved separately"),
                    _ACTIVATION, *weight_args()),
              shape=_window_shape(rank, "Conv{}D", out_channels), params=params, validate=validate,
              macs=lambda a, i, o: prod(o[1:]) * prod(as_tuple(a["kernel_size"], rank)) * (i[0][-1] // a["groups"]),
              weights=kernel_and_bias(rank + 2))


def _conv_transpose(rank: int) -> Op:
    output_padding = {"anyOf": [*int_or_tuple(rank, minimum=0)["anyOf"], {"type": "null"}],
                      "description": f"null, or a non-negative integer{'' if rank == 1 else f' or a list of {rank}'}"
                                     " below strides"}

    def shape(args, shapes):
        (s,) = shapes
        need_spatial(s, rank, "Conv{}DTranspose")
        _channels(s)
        sizes, strides, dilations = _windows(args, rank)
        pads = as_tuple(args["output_padding"], rank)  # (None,) * rank when unset
        out = []
        for length, k, st, op, d in zip(s[1:-1], sizes, strides, pads, dilations):
            # never below 1: validate refuses the one case that shrinks ('same', even kernel, output_padding 0)
            out.append(deconv_length(length, k, args["padding"], st, op, d))
        return (s[0], *out, args["filters"])

    def params(args, shapes):
        kernel = prod(as_tuple(args["kernel_size"], rank))
        return kernel * shapes[0][-1] * args["filters"] + args["filters"] * args["use_bias"]

    def validate(args):
        _no_dilated_strides(args)
        if max(as_tuple(args["dilation_rate"], rank)) > 1:
            raise ShapeError(f"cannot use dilation_rate {args['dilation_rate']}: TensorFlow's transposed "
                             "convolution on CPU supports only dilation_rate 1, so the layer fails when it runs",
                             "use dilation_rate: 1 (a larger kernel_size widens the window)",
                             arg="dilation_rate", code="arg")
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
                                     "or an odd kernel_size", arg="output_padding", code="arg")
        if args["output_padding"] is not None:
            pads, strides = as_tuple(args["output_padding"], rank), as_tuple(args["strides"], rank)
            if any(p >= st for p, st in zip(pads, strides)):
                raise ShapeError(f"needs output_padding below strides but gets output_padding "
                                 f"{args['output_padding']} with strides {args['strides']}",
                                 "use output_padding < strides on every axis, or leave it unset",
                                 arg="output_padding", code="arg")

    kernel, strides, padding, dilation = _window_args(rank)
    return Op(name=f"Conv{rank}DTranspose", family="conv",
              doc=f"Transposed {rank}D convolution (deconvolution) over {layout(rank)}: upsamples by strides.",
              args=(_FILTERS, kernel, strides, padding,
                    Arg("output_padding", output_padding, None, doc="extra size added on one side of each axis"),
                    dilation, _ACTIVATION, *weight_args()),
              shape=shape, params=params, validate=validate, weights=kernel_and_bias(rank + 2),
              # every input position scatters its kernel into filters outputs
              macs=lambda a, i, o: prod(i[0][1:]) * prod(as_tuple(a["kernel_size"], rank)) * a["filters"])


def _separable_conv(rank: int) -> Op:
    def params(args, shapes):
        depth = shapes[0][-1] * args["depth_multiplier"]
        return (prod(as_tuple(args["kernel_size"], rank)) * depth + depth * args["filters"]
                + args["filters"] * args["use_bias"])

    # Keras accepts strides > 1 with dilation_rate > 1 here (unlike Conv), so no validate.
    return Op(name=f"SeparableConv{rank}D", family="conv",
              doc=f"Depthwise {rank}D convolution per channel, then a pointwise (1x1) convolution to filters.",
              args=(_FILTERS, *_window_args(rank),
                    Arg("depth_multiplier", POS_INT, 1, doc="depthwise outputs per input channel"),
                    _ACTIVATION, *weight_args("depthwise", bias=False), *weight_args("pointwise")),
              shape=_window_shape(rank, "SeparableConv{}D", lambda args, c, s: args["filters"], ranks=(1, 2)),
              params=params, validate=_equal_strides(rank),
              macs=lambda a, i, o: prod(o[1:-1]) * i[0][-1] * a["depth_multiplier"] * (
                  prod(as_tuple(a["kernel_size"], rank)) + a["filters"]),  # depthwise, then pointwise
              weights=lambda args, shapes: {"depthwise": (rank + 2,), "pointwise": (rank + 2,),
                                            **({"bias": (1,)} if args["use_bias"] else {})})


def _depthwise_conv(rank: int) -> Op:
    def params(args, shapes):
        depth = shapes[0][-1] * args["depth_multiplier"]
        return prod(as_tuple(args["kernel_size"], rank)) * depth + depth * args["use_bias"]

    return Op(name=f"DepthwiseConv{rank}D", family="conv",
              doc=f"{rank}D convolution of each input channel on its own: channels * depth_multiplier outputs.",
              args=(*_window_args(rank),
                    Arg("depth_multiplier", POS_INT, 1, doc="outputs per input channel"),
                    _ACTIVATION, *weight_args("depthwise")),
              shape=_window_shape(rank, "DepthwiseConv{}D", lambda args, c, s: c * args["depth_multiplier"],
                                  ranks=(1, 2)),
              params=params, validate=_equal_strides(rank),
              macs=lambda a, i, o: prod(o[1:]) * prod(as_tuple(a["kernel_size"], rank)),
              weights=lambda args, shapes: {"depthwise": (rank + 2,), **({"bias": (1,)} if args["use_bias"] else {})})


OPS: tuple[Op, ...] = (
    *(_conv(r) for r in (1, 2, 3)),
    *(_conv_transpose(r) for r in (1, 2, 3)),
    *(_separable_conv(r) for r in (1, 2)),
    *(_depthwise_conv(r) for r in (1, 2)),
)
