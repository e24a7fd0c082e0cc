"""Static shapes and parameter counts, from the op catalog's rules.

Walks the nodes in dependency order. A node whose inputs failed is skipped
(no cascades of follow-on errors). Every ShapeError becomes one diagnostic
naming the layer, its producer, both shapes and a hint.
"""
from __future__ import annotations

from ..diagnostics import WARNING, Diagnostic
from ..ir import Spec
from ..ops import CATALOG
from ..ops.base import ShapeError, fmt_shape

RNNS = ("SimpleRNN", "LSTM", "GRU", "ConvLSTM2D")
_CODES = {"rank": "rank-mismatch", "merge": "merge-mismatch", "shrink": "dimension-too-small",
          "reshape": "reshape-size", "unknown-dim": "unknown-dimension", "arg": "bad-argument",
          "shape": "shape-mismatch"}


def infer(spec: Spec) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    shapes = spec.shapes
    for name, inp in spec.inputs.items():
        shapes[name] = inp.shape
    by_name = {n.name: n for n in spec.nodes}
    first_params: dict[str, tuple] = {}  # layer -> (trainable, non_trainable) of its first call
    for node in spec.nodes:
        if any(shapes.get(r) is None for r in node.inputs) or not node.op:
            continue
        op = CATALOG[node.op]
        in_shapes = [shapes[r] for r in node.inputs]
        try:
            if op.validate:
                op.validate(node.args)
            out = op.shape(node.args, in_shapes)
            params = op.count_params(node.args, in_shapes)
        except ShapeError as e:
            diags.append(_shape_diag(node, e, in_shapes, by_name, spec))
            continue
        if out is None:  # an opaque custom layer without a declared output_shape
            diags.append(Diagnostic("opaque-shape", f"{node.op} '{node.name}': nnspec does not know its output "
                                    "shape, so the layers after it are not shape-checked", node.span,
                                    "declare output_shape: [...] (without the batch axis)", severity=WARNING))
            spec.params[node.name] = params
            continue
        if not node.trainable:
            params = (0, params[0] + params[1])
        if node.reuse:
            built = first_params.get(node.layer)
            if built is not None and sum(built) != sum(params):
                orig = by_name[node.layer]
                diags.append(Diagnostic(
                    "shared-layer-mismatch",
                    f"reusing '{node.layer}' on {_inputs_text(node, in_shapes)} needs weights of another size: it was "
                    f"built on {_inputs_text(orig, [shapes[r] for r in orig.inputs])}",
                    node.span, "a shared layer needs inputs of the same feature size as its first call",
                    related=(("first call here", orig.span),)))
                continue
            params = (0, 0)  # weights counted once, at the first call
        else:
            first_params[node.layer] = params
        shapes[node.name] = tuple(out)
        spec.params[node.name] = params
    _check_penalties(spec, diags)
    return diags


def _inputs_text(node, in_shapes) -> str:
    return ", ".join(f"'{r}' {fmt_shape(s)}" for r, s in zip(node.inputs, in_shapes))


def _shape_diag(node, e: ShapeError, in_shapes, by_name, spec) -> Diagnostic:
    message = e.message
    related = []
    gets = " but gets " + fmt_shape(in_shapes[0]) if in_shapes else None
    if len(node.inputs) == 1 and gets in message:
        message = message.replace(gets, f" but '{node.inputs[0]}' gives {fmt_shape(in_shapes[0])}", 1)
    elif len(node.inputs) > 1 and " but gets " in message:
        message = message.split(" but gets ")[0] + " but gets " + _inputs_text(node, in_shapes)
    hint = e.hint
    if e.code == "rank" and len(node.inputs) == 1:
        hint = _rank_hint(node, in_shapes[0], by_name, message) or hint
        producer = by_name.get(node.inputs[0])
        if producer is not None:
            related.append((f"'{producer.name}' is defined here", producer.span))
    span = node.arg_spans.get(e.arg, node.span) if e.arg else node.span
    return Diagnostic(_CODES.get(e.code, "shape-" + e.code), f"{node.op} '{node.name}' {message}", span, hint,
                      related=tuple(related))


def _rank_hint(node, in_shape, by_name, message) -> str | None:
    producer = by_name.get(node.inputs[0])
    wants_time = "time" in message or "steps" in message
    if producer is not None and wants_time and len(in_shape) == 2:
        p_op = producer.op
        if p_op in RNNS and not producer.args.get("return_sequences"):
            return f"return_sequences: true on '{producer.name}'"
        if p_op == "Bidirectional":
            return f"return_sequences: true on the layer inside '{producer.name}'"
        n = in_shape[-1]
        return (f"add Reshape: {{target_shape: [{n}, 1]}} (or RepeatVector) before '{node.name}' "
                "to make a sequence")
    if len(in_shape) == 3 and node.op in ("Conv2D", "MaxPooling2D", "AveragePooling2D", "SeparableConv2D",
                                          "DepthwiseConv2D", "Conv2DTranspose"):
        one_d = node.op.replace("2D", "1D")
        return f"use {one_d} for (batch, steps, channels), or Reshape to add a channels axis"
    return None


def _check_penalties(spec: Spec, diags) -> None:
    exprs = [p for p in spec.penalties if p.kind == "expr"]
    if not exprs:
        return
    from .. import expr as expr_lang  # lark loads only for specs with expressions
    ranks = {n: len(s) for n, s in spec.shapes.items() if s is not None}
    for p in exprs:
        if any(n not in ranks for n in p.on):
            continue  # its tensors failed already
        try:
            rank = expr_lang.infer_rank(p.tree, ranks)
        except expr_lang.ExprError as e:
            diags.append(Diagnostic("bad-expression", f"penalty expression: {e.message}", p.span, e.hint))
            continue
        if rank != 0:
            diags.append(Diagnostic("penalty-not-scalar", f"penalty expression gives a tensor of rank {rank}, "
                                    "not a number", p.span,
                                    "reduce it with sum(...) or mean(...), e.g. 0.01 * mean(abs(x))"))
