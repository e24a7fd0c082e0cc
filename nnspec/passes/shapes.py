"""Static shapes and parameter counts, from the op catalog's rules.

Walks the nodes in dependency order. A node whose inputs failed is skipped
(no cascades of follow-on errors). Every ShapeError becomes one diagnostic
naming the layer, its producer, both shapes and a hint.
"""
from __future__ import annotations

from .. import codes
from ..diagnostics import ERROR, WARNING, Diagnostic
from ..ir import Spec
from ..ops import CATALOG, layered
from ..ops.base import ANY, ShapeError, dtype_kind, fmt_shape, prod


def _rank_free(node) -> bool:
    """Keras builds the layer (and the one a wrapper wraps) without pinning the input's rank (Op.rank_free)."""
    for op_name, _ in layered(node.op, node.args):
        op = CATALOG.get(op_name)
        if op is None or not op.wraps:
            return op is not None and op.rank_free
    return False

# The most axes (batch included) of a layer's output: TensorFlow's broadcasting kernels (SelectV2 in
# Maximum's gradient, softmax, ...) take at most 8 (fuzzer, seed 31 graph 2720; FINDINGS F12).
MAX_AXES = 8


def infer(spec: Spec) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    shapes = spec.shapes
    for name, inp in spec.inputs.items():
        shapes[name] = inp.shape
    by_name = {n.name: n for n in spec.nodes}
    first_params: dict[str, tuple] = {}  # layer -> (trainable, non_trainable) of its first call
    dtypes = spec.dtypes  # tensor -> dtype
    dtypes.update({name: inp.dtype for name, inp in spec.inputs.items()})
    masked: set = set()  # tensors carrying a Keras mask (Op.mask)
    for node in spec.nodes:
        if any(shapes.get(r) is None for r in node.refs()) or not node.op:
            continue
        op = CATALOG[node.op]
        in_shapes = [shapes[r] for r in node.inputs]
        dtype_diag = _check_dtypes(node, op, dtypes, spec)
        if dtype_diag is not None:
            diags.append(dtype_diag)
            if dtype_diag.severity == ERROR:
                continue
        if any(r in masked for r in node.inputs) and any(n == "Softmax" for n, _ in layered(node.op, node.args)):
            diags.append(_masked_softmax(node, masked))
            continue
        try:
            if op.validate:
                op.validate(node.args)
            out = op.shape(node.args, in_shapes)
            params = op.count_params(node.args, in_shapes)
            outs = op.outputs.shapes(node.args, in_shapes) if node.outputs else ()
        except ShapeError as e:
            diags.append(_shape_diag(node, e, in_shapes, by_name, spec))
            continue
        if node.ports:
            port_diag = _check_ports(node, op, in_shapes, spec)
            if port_diag is not None:
                diags.append(port_diag)
                continue
        if out is None:  # an opaque custom layer without a declared output_shape
            diags.append(Diagnostic(codes.OPAQUE_SHAPE, f"{node.op} '{node.name}': nnspec does not know its output "
                                    "shape, so the layers after it are not shape-checked", node.span,
                                    "declare output_shape: [...] (without the batch axis)", severity=WARNING))
            spec.params[node.name] = params
            continue
        if len(out) > MAX_AXES:
            diags.append(Diagnostic(codes.TOO_MANY_AXES, f"{node.op} '{node.name}' would give {fmt_shape(tuple(out))}, "
                                    f"{len(out)} axes with the batch: TensorFlow's broadcasting kernels take at most "
                                    f"{MAX_AXES} (Keras fails when it runs or trains)", node.span,
                                    "Reshape to fewer axes before it, merging axes that belong together"))
            continue
        activity = _activity_diag(node, out, dtypes.get(node.name, "float32"),
                                  [dtypes.get(r, "float32") for r in node.inputs])
        if activity is not None:
            diags.append(activity)
            continue
        if not node.trainable:
            params = (0, params[0] + params[1])
        if node.reuse:
            built = first_params.get(node.layer)
            orig = by_name[node.layer]
            orig_shapes = [shapes.get(r) for r in orig.inputs]
            op_reuse = CATALOG[node.op].reuse if node.op in CATALOG else None
            if built is not None and not _rank_free(node) and op_reuse is None and any(
                    a is not None and len(a) != len(b) for a, b in zip(orig_shapes, in_shapes)):
                diags.append(Diagnostic(
                    codes.SHARED_LAYER_MISMATCH,
                    f"reusing {node.op} '{node.layer}' on {_inputs_text(node, in_shapes)}: it was built on "
                    f"{_inputs_text(orig, orig_shapes)}, and Keras fixes a {node.op}'s input rank when it builds it",
                    node.span, "a shared layer takes inputs of the rank of its first call; Reshape the input, or "
                    "define a separate layer", related=(("first call here", orig.span),)))
                continue
            why = op_reuse(orig.args, orig_shapes, in_shapes) if op_reuse and None not in orig_shapes else None
            if built is not None and why:
                diags.append(Diagnostic(
                    codes.SHARED_LAYER_MISMATCH,
                    f"reusing {node.op} '{node.layer}' on {_inputs_text(node, in_shapes)}: it was built on "
                    f"{_inputs_text(orig, orig_shapes)}; {why[0]}", node.span, why[1],
                    related=(("first call here", orig.span),)))
                continue
            if built is not None and sum(built) != sum(params):
                # built on size 1 where this call has more: some layers (LayerNormalization) broadcast
                # their weights and run it (seed 34 graph 1058), which is hardly what was meant
                ones = any(a == 1 and b != 1 for o, n in zip(orig_shapes, in_shapes) if o and n
                           for a, b in zip(o[:0:-1], n[:0:-1]))  # the last axes lined up
                diags.append(Diagnostic(
                    codes.SHARED_LAYER_MISMATCH,
                    f"reusing '{node.layer}' on {_inputs_text(node, in_shapes)} needs weights of another size: it was "
                    f"built on {_inputs_text(orig, [shapes[r] for r in orig.inputs])}"
                    + (" (some Keras layers would broadcast weights of size 1 over the larger size; nnspec takes it "
                       "for a mistake)" if ones else ""),
                    node.span, "a shared layer needs inputs of the same feature size as its first call",
                    related=(("first call here", orig.span),)))
                continue
            params = (0, 0)  # weights counted once, at the first call
        else:
            first_params[node.layer] = params
        if node.op == "Normalization" and node.args.get("mean") is None and not node.reuse:
            diags.append(_unset_statistics(node, params))
        shapes[node.name] = tuple(out)
        for o, shape in zip(node.outputs, outs):
            shapes[f"{node.name}.{o}"] = tuple(shape)
            dtypes[f"{node.name}.{o}"] = dtypes[node.name]
        spec.params[node.name] = params
        if op.output_masked(node.args, [r in masked for r in node.inputs]):
            masked.add(node.name)  # and `enc.output`, its other name; Keras gives a layer's states no mask
            masked.update(f"{node.name}.{o}" for o in node.outputs[:1])
            if node.outputs[:2] == ("forward", "backward"):  # Bidirectional with merge_mode null: both
                masked.add(f"{node.name}.backward")
    _check_penalties(spec, diags)
    _check_constraints(spec, diags)
    _check_losses(spec, diags)
    _check_metrics(spec, diags)
    _check_masked_axes(spec, masked, diags)
    _check_trainable_reaches_a_loss(spec, diags)
    _check_unknown_sizes_can_agree(spec, diags)
    size = size_diagnostic(spec, MAX_WEIGHTS_BYTES, WARNING)
    if size is not None:
        diags.append(size)
    return diags


# Layer shape rules run, at most, to probe the sizes of unknown input axes (measured: 15 probes of a
# 5,000-layer spec take 1.3 s); a bigger spec is not probed, rather than probed with fewer sizes
PROBE_BUDGET = 100_000


def _with_sizes(spec: Spec, sizes):
    """A copy of the spec whose unknown input axes take ``sizes`` in turn (shapes re-inferred)."""
    import copy

    from ..record import replace
    it = iter(sizes)
    trial = copy.copy(spec)
    trial.inputs = {n: replace(inp, shape=(None,) + tuple(next(it) if d is None else d
                                                                      for d in inp.shape[1:]))
                    for n, inp in spec.inputs.items()}
    trial.shapes, trial.params, trial.dtypes = {}, {}, {}
    return trial, [d for d in infer(trial) if d.severity == ERROR]


def _check_unknown_sizes_can_agree(spec: Spec, diags) -> None:
    """nnspec does not relate unknown sizes to each other: (batch, ?) concatenated with itself is
    (batch, ?) again, and merging it with the original passes although its size is twice the
    other's at run time (fuzzer, seed 33 graphs 1900, 4530, 4602). Where no size tried for the
    unknown input axes, all alike or all different, makes every shape rule hold, no data can
    run the model: an error with what fails at the first size tried."""
    if any(d.severity == ERROR for d in diags):
        return
    n_unknown = sum(d is None for inp in spec.inputs.values() for d in inp.shape[1:])
    if not n_unknown:
        return
    sizes_tried = probe_sizes(spec)
    k = len(sizes_tried)
    patterns = [[s] * n_unknown for s in sizes_tried]
    if n_unknown > 1:
        patterns += [[sizes_tried[(j + o) % k] for j in range(n_unknown)] for o in range(k)]
    if len(patterns) * len(spec.nodes) > PROBE_BUDGET:
        return
    first = None
    for sizes in patterns:
        _, errors = _with_sizes(spec, sizes)
        if not errors:
            return
        first = first or (sizes, errors[0])
    sizes, err = first
    tried = ", ".join(str(s) for s in sizes_tried)
    diags.append(Diagnostic(codes.UNKNOWN_SIZE_MISMATCH, f"no size of the unknown (null) input axes makes the shapes "
                            f"agree (tried {tried}, alike and different): with {sizes[0]}, {err.message}",
                            err.span, "the unknown sizes are related (a tensor concatenated with itself along an "
                            "unknown axis is twice as long as the original, a cropped one shorter): give the "
                            "inputs known sizes to see where, or merge tensors of one length"))


# Sizes tried, in turn, for the inputs' unknown (null) axes when nnspec runs a model on data of its own
# (`nnspec check`, compile's verification): 3 first, as before.
RUNTIME_SIZES = (3, 4, 2, 6, 8, 12, 5, 16, 1, 7, 9, 10, 24, 32, 64)


def probe_sizes(spec: Spec) -> tuple:
    """RUNTIME_SIZES, then the divisors of each Reshape's target size (a (batch, ?) reshaped to (3, 5, 4)
    runs only with 60 elements: seed 34 graph 2496), at most 32 more."""
    extra = []
    for node in spec.nodes:
        target = node.args.get("target_shape") if node.op == "Reshape" else None
        if not isinstance(target, (list, tuple)):
            continue
        n = prod(d for d in target if isinstance(d, int) and d > 0)
        extra += [d for d in range(1, min(n, 4096) + 1) if n % d == 0]
    seen = set(RUNTIME_SIZES)
    more = [d for d in dict.fromkeys(extra) if d not in seen]
    return RUNTIME_SIZES + tuple(more[:32])


def runtime_size(spec: Spec) -> tuple[int, dict]:
    """A size for every unknown input axis with which all the shape rules hold (a Reshape of an
    unknown axis fits only some sizes: (None, 7) into (2, -1) needs an even one), and every
    tensor's shape with it: (size, {tensor: shape}). (3, spec.shapes) when no input has an
    unknown axis, or no size tried fits."""
    import copy

    from ..record import replace
    if not any(d is None for inp in spec.inputs.values() for d in inp.shape[1:]):
        return 3, spec.shapes
    for size in probe_sizes(spec):
        trial = copy.copy(spec)
        trial.inputs = {n: replace(inp, shape=(None,) + tuple(size if d is None else d
                                                                          for d in inp.shape[1:]))
                        for n, inp in spec.inputs.items()}
        trial.shapes, trial.params, trial.dtypes = {}, {}, {}
        if not any(d.severity == ERROR for d in infer(trial)) and all(n in trial.shapes for n in spec.outputs):
            return size, trial.shapes
    return 3, spec.shapes


MAX_WEIGHTS_BYTES = 2 * 1024**3  # nnspec compile/check refuse more by default (--max-weights-bytes)
WEIGHT_BYTES = 4  # Keras's default float32 weights


def weights_bytes(spec: Spec) -> int:
    """Bytes the model's weights take once built (float32), every layer counted once."""
    return WEIGHT_BYTES * sum(sum(p) for p in spec.params.values())


def size_diagnostic(spec: Spec, limit: int, severity=ERROR) -> Diagnostic | None:
    """One diagnostic, at the layer with the most weights, when they need more than ``limit`` bytes."""
    need = weights_bytes(spec)
    if need <= limit or not spec.params:
        return None
    name = max(spec.params, key=lambda n: sum(spec.params[n]))
    node = spec.node(name)
    n_params = need // WEIGHT_BYTES
    return Diagnostic(codes.MODEL_TOO_LARGE, f"the model's weights need {need:,} bytes ({n_params:,} parameters x "
                      f"{WEIGHT_BYTES} bytes, float32), more than the limit of {limit:,} bytes; the largest layer "
                      f"is {node.op} '{name}' with {sum(spec.params[name]):,} parameters", node.span,
                      "make the layer smaller (fewer units or filters, or a pooling layer before it), or raise "
                      "the limit with --max-weights-bytes N on nnspec compile/check", severity=severity)


def _check_dtypes(node, op, dtypes: dict, spec: Spec) -> Diagnostic | None:
    """The op takes its inputs' dtypes (Op.dtypes, measured against Keras);
    records the node's output dtype in ``dtypes``."""
    in_dtypes = [dtypes.get(r, "float32") for r in node.inputs]
    accepts, name, args = op.dtypes, op.name, node.args
    if op.wraps and isinstance(node.args.get("layer"), dict) and len(node.args["layer"]) == 1:
        (name, args), = node.args["layer"].items()
        args = args or {}
        accepts = CATALOG[name].dtypes if name in CATALOG else ANY
    # a wrapper's output has the wrapped layer's dtype (TimeDistributed(MaxPooling2D) keeps int32; fuzzer,
    # seed 33 graph 3540)
    rec = CATALOG[name] if name in CATALOG else op
    keeps = rec.keeps_input_dtype(args)
    fixed = CATALOG[name].out_dtype if name in CATALOG else None  # a wrapper's output: the wrapped layer's
    dtypes[node.name] = fixed or (in_dtypes[0] if keeps and in_dtypes else "float32")
    for ref, dtype in zip(node.inputs, in_dtypes):
        kind = dtype_kind(dtype)
        if kind not in accepts:
            source = spec.inputs.get(ref)
            fix = (f"declare input '{ref}' with dtype: float32, or " if source is not None else "") + \
                f"add Rescaling: {{scale: {1 / 255 if dtype == 'uint8' else 1.0}}} (it casts to float32) " \
                f"before '{node.name}'"
            inner = f" (inside {op.name})" if name != op.name else ""
            if kind == "float":  # an op of integer indices
                return Diagnostic(codes.INPUT_DTYPE,
                                  f"{op.name} '{node.name}'{inner} needs integer indices but '{ref}' "
                                  f"is {dtype}", node.span, f"declare input '{ref}' with dtype: int32"
                                  if source is not None else "feed it integer indices (e.g. from Hashing)")
            return Diagnostic(codes.INPUT_DTYPE, f"{op.name} '{node.name}'{inner} needs a float input but '{ref}' is "
                              f"{dtype}: Keras does not cast {kind} tensors for {name}", node.span, fix)
        why = kind != "float" and next((inner.float_only(inner.fill(a)) for n, a in layered(node.op, node.args)
                                        if (inner := CATALOG.get(n)) is not None and inner.float_only), None)
        if why:
            return Diagnostic(codes.INPUT_DTYPE, f"{op.name} '{node.name}' needs a float input but '{ref}' is {dtype}: "
                              f"{why}", node.span,
                              f"add Rescaling: {{scale: 1.0}} (it casts to float32) before '{node.name}'")
        if rec.index_limit is not None and kind == "float":  # Embedding's
            return Diagnostic(codes.FLOAT_INDICES, f"{name} '{node.name}' takes integer indices but '{ref}' is "
                              f"{dtype}: Keras truncates the values to int32", node.span,
                              f"declare the input with dtype: int32" if ref in spec.inputs else
                              "feed it integer indices", severity=WARNING)
    return None


def _unset_statistics(node, params) -> Diagnostic:
    """Normalization without mean and variance: Keras's adapt() would compute them; nnspec has no adapt()."""
    return Diagnostic(codes.UNSET_STATISTICS, f"Normalization '{node.name}' has no mean and variance: they are "
                      f"{sum(params)} non-trainable weights (mean 0 and variance 1, so the layer passes its input "
                      "through unchanged) until they are loaded from a weights file; nnspec has no adapt()",
                      node.span, "give mean and variance (one number each, or one per channel), or load "
                      "the model's weights", severity=WARNING)


def _masked_softmax(node, masked) -> Diagnostic:
    ref = next(r for r in node.inputs if r in masked)
    what = f"Softmax '{node.name}'" if node.op == "Softmax" else f"{node.op} '{node.name}' (of a Softmax)"
    # wrapped, it fails alike: TimeDistributed hands Softmax a (batch * steps,) mask (seed 35 graph 7553)
    return Diagnostic(codes.MASKED_SOFTMAX, f"{what} gets '{ref}', which carries a Keras mask (from a "
                      "Masking or an Embedding with mask_zero before it): Keras applies the mask of (batch, steps) "
                      "to Softmax's input of (batch, steps, features) and fails when it runs", node.span,
                      "use Activation: {activation: softmax} (or activation: softmax on the layer before), which "
                      "ignores the mask")


def _port_span(node, port: str, i: int):
    """The position of the i-th tensor of a port in `from:`, else of `from:`."""
    from .resolve import LazySpans
    spans = node.arg_spans
    if isinstance(spans, LazySpans):
        for path in (spans.path + ("from", port, i), spans.path + ("from", port)):
            if path in spans.doc.pos:
                return spans.doc.span(path)
    return node.from_span or node.span


def _check_ports(node, op, in_shapes, spec: Spec) -> Diagnostic | None:
    """The tensors given to an op's keyword ports (`initial_state: [h, c]`): how many, their
    shapes (from the op's ``port_shapes``) and dtypes."""
    try:
        want = op.port_shapes(node.args, in_shapes)
    except ShapeError as e:
        return Diagnostic(e.code, f"{node.op} '{node.name}' {e.message}",
                          node.from_span or node.span, e.hint)
    for name, tensors in node.ports.items():
        port, shapes = op.port(name), want[name]
        if len(tensors) != len(shapes):
            form = "[" + ", ".join(f"<{i}>" for i in range(len(shapes))) + "]"
            return Diagnostic(codes.PORT_COUNT, f"{node.op} '{node.name}' takes {len(shapes)} {name} tensor"
                              f"{'s' if len(shapes) != 1 else ''} but gets {len(tensors)}",
                              _port_span(node, name, 0), f"give {name}: " + (
                                  form if port.many else "<tensor>") + f", each {fmt_shape(shapes[0])}" +
                              (f" ({port.hint})" if port.hint else ""))
        for i, (ref, shape) in enumerate(zip(tensors, shapes)):
            got = spec.shapes[ref]
            if len(got) != len(shape) or any(a is not None and b is not None and a != b
                                             for a, b in zip(got[1:], shape[1:])):
                where = f"{name}[{i}]" if port.many else name
                return Diagnostic(codes.PORT_SHAPE,
                                  f"{node.op} '{node.name}' needs {where} of shape {fmt_shape(shape)} "
                                  f"but '{ref}' gives {fmt_shape(got)}", _port_span(node, name, i),
                                  f"give {where} the shape {fmt_shape(shape)}" + (
                                      f" (a state has the layer's units, {shape[-1]}, on its last axis)"
                                      if name == "initial_state" else ""))
            kind = dtype_kind(spec.dtypes.get(ref, "float32"))
            if kind not in port.dtypes:
                return Diagnostic(codes.INPUT_DTYPE, f"{node.op} '{node.name}' needs a "
                                  f"{' or '.join(sorted(port.dtypes))} {name} but '{ref}' is "
                                  f"{spec.dtypes.get(ref)}", _port_span(node, name, i),
                                  f"add Rescaling: {{scale: 1.0}} (it casts to float32) before '{node.name}'")
    return None


def _activity_diag(node, out, dtype: str = "float32", in_dtypes=()) -> Diagnostic | None:
    """An activity_regularizer regularises the layer's output at every call: Keras's
    OrthogonalRegularizer takes (batch, n) only ("Inputs to OrthogonalRegularizer must have rank 2",
    on the first batch), of floats (its rsqrt has no integer kernel: seed 34 graph 3649). Keras's
    Average of integers divides into float64, whose term cannot join the float32 losses (seed 37
    graph 6929)."""
    reg = node.activity_regularizer
    name = reg if isinstance(reg, str) else next(iter(reg)) if isinstance(reg, dict) and len(reg) == 1 else None
    where = "on a call of a reused layer, " if node.reuse else ""
    if node.op == "Average" and _adds_a_term(reg) and any(dtype_kind(d) != "float" for d in in_dtypes):
        return Diagnostic(codes.BAD_ARGUMENT, f"Average '{node.name}' cannot use activity_regularizer {where}on "
                          f"integer inputs ({', '.join(in_dtypes)}): Keras divides them into float64, and the "
                          "regularizer's float64 term cannot join the float32 losses (Keras fails at the first "
                          "training step)", node.arg_spans.get("activity_regularizer", node.span),
                          "regularise the tensor after a float layer, or feed Average float inputs")
    if name != "orthogonal_regularizer":
        return None
    if dtype_kind(dtype) != "float":
        return Diagnostic(codes.BAD_ARGUMENT, f"{node.op} '{node.name}' cannot use activity_regularizer "
                          f"orthogonal_regularizer {where}on its {dtype} output: it computes with floats only (Keras "
                          "fails on the first batch)", node.arg_spans.get("activity_regularizer", node.span),
                          "regularise a float tensor computed from it instead (e.g. after an Embedding)")
    if len(out) == 2:
        return None
    return Diagnostic(codes.BAD_ARGUMENT,
                      f"{node.op} '{node.name}' cannot use activity_regularizer orthogonal_regularizer "
                      f"{where}on its output {fmt_shape(out)}: it needs a (batch, n) output (Keras fails on the "
                      "first batch)", node.arg_spans.get("activity_regularizer", node.span),
                      "use l1, l2 or l1_l2, or Flatten first and regularise the Flatten's output")


def _inputs_text(node, in_shapes) -> str:
    return ", ".join(f"'{r}' {fmt_shape(s)}" for r, s in zip(node.inputs, in_shapes))


# Deliberate strictness (tests/fuzz/oracle.py STRICT): Keras neither regularizes nor constrains the
# weights of a frozen layer, so it trains; the spec fails once the layer is unfrozen (fine-tuning).
FROZEN_NOTE = " (trainable: false only puts that off until the layer is unfrozen; nnspec refuses it as written)"


def _shape_diag(node, e: ShapeError, in_shapes, by_name, spec) -> Diagnostic:
    message = e.message
    related = []
    if e.needs is not None and len(node.inputs) == 1 and e.got == in_shapes[0]:  # name the tensor it got
        message = f"{e.needs} but '{node.inputs[0]}' gives {fmt_shape(e.got)}{e.after}"
    elif e.needs is not None and len(node.inputs) > 1:
        message = f"{e.needs} but gets {_inputs_text(node, in_shapes)}"
    hint = e.hint
    if e.code == codes.RANK_MISMATCH and len(node.inputs) == 1:
        hint = _rank_hint(node, in_shapes[0], by_name) or hint
        producer = by_name.get(node.inputs[0])
        if producer is not None:
            related.append((f"'{producer.name}' is defined here", producer.span))
    if e.in_training and not node.trainable:
        message += FROZEN_NOTE
    span = node.arg_spans.get(e.arg, node.span) if e.arg else node.span
    if getattr(e, "col", 0) and e.arg:
        span = expr_column(span, node.arg_spans, node.given.get(e.arg), e.col)
    return Diagnostic(e.code, f"{node.op} '{node.name}' {message}", span, hint,
                      related=tuple(related))


def expr_column(span, spans, text, col):
    """The span of column ``col`` (1-based) of expression ``text``, whose scalar starts at ``span``:
    inside the source line where the text stands there as written (plain or quoted, on one line),
    else ``span`` itself."""
    from ..diagnostics import Span
    doc = getattr(spans, "doc", None)
    if doc is None or not isinstance(text, str) or not span.line or not col:
        return span
    lines = doc.text.splitlines() if isinstance(doc.text, str) else []
    if span.line > len(lines):
        return span
    line, c0 = lines[span.line - 1], span.col - 1
    if line[c0:c0 + 1] in ('"', "'"):
        c0 += 1
    if line[c0:c0 + len(text)] != text:
        return span
    return Span(span.file, span.line, c0 + col, span.via)


def _rank_hint(node, in_shape, by_name) -> str | None:
    producer = by_name.get(node.inputs[0])
    op = CATALOG.get(node.op)
    if producer is not None and op is not None and op.sequence_input and len(in_shape) == 2:
        for depth, (p_op, p_args) in enumerate(layered(producer.op, producer.args)):  # Bidirectional's layer
            p_rec = CATALOG.get(p_op)
            if p_rec is None:
                break
            if "return_sequences" in p_rec.arg_index and not p_args.get("return_sequences"):
                return f"return_sequences: true on {'the layer inside ' if depth else ''}'{producer.name}'"
            if not p_rec.wraps:
                break
        n = in_shape[-1]
        return (f"add Reshape: {{target_shape: [{n}, 1]}} (or RepeatVector) before '{node.name}' "
                "to make a sequence")
    if len(in_shape) == 3 and op is not None and op.one_d:
        return f"use {op.one_d} for (batch, steps, channels), or Reshape to add a channels axis"
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
            diags.append(Diagnostic(codes.BAD_EXPRESSION, f"penalty expression: {e.message}", p.span, e.hint))
            continue
        if rank != 0:
            diags.append(Diagnostic(codes.PENALTY_NOT_SCALAR, f"penalty expression gives a tensor of rank {rank}, "
                                    "not a number", p.span,
                                    "reduce it with sum(...) or mean(...), e.g. 0.01 * mean(abs(x))"))


# ---------------------------------------------------------------- constraint and loss expressions
def weight_ranks(op: str, weight: str, args: dict, in_shape) -> tuple | None:
    """The rank(s) of the Keras weight a `<weight>_constraint` applies to (several
    where one argument covers weights of different ranks, as MultiHeadAttention's),
    from the op record's ``weights`` rule; None where nnspec does not know it."""
    rule = CATALOG[op].weights
    if rule is None:
        return None
    try:
        ranks = rule(args, [in_shape] if in_shape is not None else [])
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        return None  # the rule needs what the spec did not give; the shape pass reports it
    return tuple(sorted(set(ranks[weight]))) if weight in ranks else None


def _expr_span(node, *keys):
    from .resolve import LazySpans
    spans = node.arg_spans
    if isinstance(spans, LazySpans):
        return spans.doc.span(spans.path + keys)
    return node.span


def _constraint_exprs(op: str, args: dict, keys=()):
    """(op, weight, arg path, text or axes) of every expression constraint of a
    layer, and of every named one with an ``axis`` (max_norm, unit_norm, ...),
    the layer inside a wrapper included."""
    for k, v in args.items():
        if k.endswith("_constraint") and isinstance(v, dict) and isinstance(v.get("expr"), str):
            yield op, k[: -len("_constraint")], keys + (k, "expr"), v["expr"]
        elif k == "layer" and isinstance(v, dict) and len(v) == 1:
            (inner, inner_args), = v.items()
            if isinstance(inner_args, dict):
                yield from _constraint_exprs(inner, inner_args, keys + (k, inner))


def _check_constraints(spec: Spec, diags) -> None:
    for node in spec.nodes:
        if node.reuse or not node.op or node.name not in spec.shapes:
            continue
        in_shape = spec.shapes.get(node.inputs[0]) if node.inputs else None
        for op, weight, keys, text in _constraint_exprs(node.op, node.given):
            shape = in_shape
            wrapped_input = CATALOG[node.op].wrapped_input
            if op != node.op and wrapped_input is not None and shape is not None:
                shape = wrapped_input(shape)  # what the wrapped layer sees: TimeDistributed's, one time step
            ranks = weight_ranks(op, weight, CATALOG[op].fill({}) | _inner_args(node.given, keys), shape)
            if ranks is None:
                continue
            from .. import expr as expr_lang  # lark loads only for specs with expression constraints
            try:
                tree = expr_lang.parse(text)
            except expr_lang.ExprError:
                continue  # reported when the spec was resolved
            for rank in ranks:
                dims = tuple(f"a{i}" for i in range(rank))
                where = f"{op} '{node.name}' {weight}_constraint"
                try:
                    got = expr_lang.infer_dims(tree, {"w": dims})
                except expr_lang.ExprError as e:
                    diags.append(Diagnostic(codes.BAD_EXPRESSION, f"{where}: {e.message} (the {weight} weight has rank "
                                            f"{rank})", _expr_span(node, *keys),
                                            e.hint and e.hint.replace(" (axis 0 is the batch)", " (the weight's axes)")))
                    break
                if got != dims:
                    diags.append(Diagnostic(
                        codes.CONSTRAINT_SHAPE, f"{where}: the expression gives shape {expr_lang.fmt_dims(got)} but "
                        f"its value replaces the {weight} weight, of shape {expr_lang.fmt_dims(dims)}",
                        _expr_span(node, *keys), "keep w's shape: use it elementwise, or reduce with "
                        "keepdims=true and combine with w, e.g. w / norm(w, axis=0, keepdims=true)"))
                    break


def _inner_args(given: dict, keys: tuple) -> dict:
    """The args of the layer an arg path (``("layer", "LSTM", "kernel_constraint", "expr")``) sits in."""
    args = given
    for i in range(0, len(keys) - 2, 2):
        if keys[i] != "layer":
            break
        args = args[keys[i]][keys[i + 1]]
    return args


def _check_losses(spec: Spec, diags) -> None:
    for o in spec.outputs.values():
        shape = spec.shapes.get(o.name)
        if _named(o.loss) == "sparse_categorical_crossentropy" and shape and len(shape) > 2 and shape[-1] == 1:
            # Keras squeezes the output's last axis of 1 to the labels' rank, then wants one more axis
            diags.append(Diagnostic(codes.LOSS_SHAPE,
                                    f"loss sparse_categorical_crossentropy of output '{o.name}' needs "
                                    f"one score per class on the last axis, but '{o.name}' is {fmt_shape(shape)}: "
                                    "Keras squeezes that axis of 1 and fails at the first training step", o.span,
                                    "give the output a last axis of one unit per class (2 or more), or use "
                                    "binary_crossentropy for one score"))
        name, args = _loss_args(o.loss)
        axis = args.get("axis")
        if _is_int(axis) and shape is not None and not -len(shape) <= axis < len(shape):
            # Keras fails at the first training step (fuzzer, seed 53)
            diags.append(Diagnostic(codes.LOSS_ARGS, f"loss {name} of output '{o.name}': axis {axis} is outside "
                                    f"'{o.name}' {fmt_shape(shape)}, of rank {len(shape)}", o.span,
                                    f"an axis in {-len(shape)}..{len(shape) - 1}; -1 is the last"))
    exprs = [o for o in spec.outputs.values() if isinstance(o.loss, dict) and isinstance(o.loss.get("expr"), str)]
    if not exprs:
        return
    from .. import expr as expr_lang
    for o in exprs:
        shape = spec.shapes.get(o.name)
        if shape is None:
            continue
        try:
            tree = expr_lang.parse(o.loss["expr"])
            expr_lang.infer_rank(tree, {"y_true": len(shape), "y_pred": len(shape)})
        except expr_lang.ExprError as e:
            diags.append(Diagnostic(codes.BAD_EXPRESSION, f"loss of '{o.name}': {e.message} (y_true and y_pred are "
                                    f"{fmt_shape(shape)})", o.expr_span or o.span, e.hint))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _loss_args(loss) -> tuple:
    """(name, args) of a spec loss: 'mse' -> ('mse', {}); {huber: {delta: 2}} -> ('huber', {delta: 2})."""
    name = _named(loss)
    args = loss.get(name) if isinstance(loss, dict) and name not in (None, "expr", "custom") else None
    return name, args if isinstance(args, dict) else {}


def _check_masked_axes(spec: Spec, masked: set, diags) -> None:
    """Keras applies an output's mask, (batch, steps), to the values its loss and metrics give per
    step: one reducing another axis than the last gives values of another shape, and training fails
    (measured: Masking, then Dense to (batch, 8, 7), with categorical_crossentropy or
    cosine_similarity over axis 1: ValueError at the first step, loss or metric alike; fuzzer,
    seed 53 graph 390)."""
    for o in spec.outputs.values():
        shape = spec.shapes.get(o.name)
        if o.name not in masked or shape is None:
            continue
        rank = len(shape)
        found = [("loss", *_loss_args(o.loss), o.span, codes.LOSS_ARGS)]
        for i, m in enumerate(o.metrics):
            cls, name, args = _metric_info(m)
            if cls is not None:
                found.append(("metric", name, args or {}, _metric_span(o, i), codes.METRIC_ARGS))
        for kind, name, args, span, code in found:
            axis = args.get("axis")
            if _is_int(axis) and -rank <= axis < rank and axis % rank != rank - 1:
                diags.append(Diagnostic(
                    code, f"{kind} {name} of output '{o.name}' reduces axis {axis}, but '{o.name}' "
                    f"{fmt_shape(shape)} carries a Keras mask (from a Masking layer or mask_zero before it), which "
                    f"Keras applies to the {kind}'s value of each step: training fails", span,
                    "reduce the last axis (axis: -1), moving the axis there with Permute (which drops the mask), "
                    "or remove the mask"))


def _adds_a_term(reg) -> bool:
    """Whether a regularizer adds a term with a gradient: Keras's L1L2 with both factors 0 (the
    defaults: `l1_l2: {}`) returns a constant (fuzzer, seed 5 graph 104)."""
    if reg == "l1_l2" or (isinstance(reg, dict) and len(reg) == 1 and "l1_l2" in reg):
        args = reg["l1_l2"] if isinstance(reg, dict) and isinstance(reg["l1_l2"], dict) else {}
        return bool(args.get("l1") or args.get("l2"))
    return reg is not None


def _has_weight_regularizer(op_name: str, args: dict, shapes: list) -> bool:
    """A weight regularizer adds to the loss only where its weight is built: Dense's
    bias_regularizer with use_bias: false does nothing (fuzzer, seed 31 graph 377)."""
    op = CATALOG.get(op_name)
    built = None
    if op is not None and op.weights is not None:
        try:
            built = op.weights(op.fill(args), shapes)
        except (IndexError, KeyError, TypeError, ValueError, AttributeError):
            built = None  # the rule needs what the spec did not give: count the regularizer
    for k, v in args.items():
        if (k.endswith("_regularizer") and k != "activity_regularizer" and _adds_a_term(v)
                and (built is None or k[: -len("_regularizer")] in built)):
            return True
        if k == "layer" and isinstance(v, dict) and len(v) == 1 and isinstance(next(iter(v.values())), dict):
            (inner, inner_args), = v.items()
            if _has_weight_regularizer(inner, inner_args, []):
                return True
    return False


def _passes_gradient(spec: Spec, node):
    """Whether a gradient reaches a node's inputs from its output: not through an integer or
    bool output, nor into the indices of an Embedding (fuzzer, seed 31 graph 1725); an Expr's only
    into the inputs its value depends on differentiably (seed 34 graph 502). True, False, or the
    list of the inputs it reaches."""
    if dtype_kind(spec.dtypes.get(node.name, "float32")) != "float":
        return False
    if any(getattr(CATALOG.get(name), "index_limit", None) for name, _ in layered(node.op, node.args)) \
            or _no_gradient_why(node) is not None:
        return False
    op = CATALOG.get(node.op)
    which = op.gradient_inputs(node.args) if op is not None and op.gradient_inputs else None
    if which is None:
        return True
    return [t for i, t in enumerate(node.inputs) if i in which] + [t for ts in node.ports.values() for t in ts]


def _no_gradient_why(node) -> str | None:
    for name, args in layered(node.op, node.args):
        op = CATALOG.get(name)
        if op is not None and op.no_gradient is not None:
            why = op.no_gradient(op.fill(args))
            if why:
                return why
    return None


def _check_gradient_free_ops(spec: Spec, roots: list, diags) -> None:
    """A layer TensorFlow has no gradient for, between a layer with weights and a loss: fit fails
    ("gradient registry has no entry for: ResizeArea"; fuzzer, seed 33 graph 1157), frozen weights
    and BatchNormalization's statistics included (measured: the tape watches them all)."""
    passes = lambda n: _passes_gradient(spec, n)  # noqa: E731
    to_loss = None
    for node in spec.nodes:
        why = _no_gradient_why(node)
        if why is None:
            continue
        to_loss = spec.upstream(roots, through=lambda n, _node=node: n is _node or passes(n), shared_inputs=False) \
            if to_loss is None else to_loss
        if node.name not in to_loss:
            continue
        before = spec.upstream(node.inputs, through=passes, shared_inputs=False)
        weighted = [n for n in spec.nodes if n.name in before and sum(spec.params.get(n.layer, (0, 0))) > 0]
        if weighted:
            diags.append(Diagnostic(codes.NO_GRADIENT,
                                    f"{node.op} '{node.name}' is between layer '{weighted[0].name}', "
                                    f"which has weights, and a loss, but {why}: Keras's fit fails, even with "
                                    "those weights frozen", node.span,
                                    "use another interpolation (bilinear is the closest), or place it before the "
                                    "layers with weights"))
            return


def _check_trainable_reaches_a_loss(spec: Spec, diags) -> None:
    """Keras's fit raises "No gradients provided for any variable" when the model
    has trainable weights and none of them reaches a loss (an output's loss, a
    penalty, an activity or weight regularizer). With no trainable weight at all
    it trains nothing, without error."""
    if any(d.severity == ERROR for d in diags):
        return
    if not spec.penalties and all(o.loss is None for o in spec.outputs.values()):
        return  # nothing to train at all (a feature extractor): compile serves it, fit is not asked for
    roots = ([o.name for o in spec.outputs.values() if o.loss is not None] + [t for p in spec.penalties for t in p.on]
             + [n.name for n in spec.nodes if _adds_a_term(n.activity_regularizer)])
    _check_gradient_free_ops(spec, roots, diags)
    trainable = [n for n in spec.nodes if not n.reuse and spec.params.get(n.name, (0, 0))[0] > 0]
    if not trainable or any(d.severity == ERROR for d in diags):
        return
    reached = spec.upstream(roots, through=lambda n: _passes_gradient(spec, n), shared_inputs=False)
    if any(n.name in reached or _has_weight_regularizer(n.op, n.args, [spec.shapes.get(i) for i in n.inputs])
           for n in trainable):
        return
    with_loss = [o for o in spec.outputs.values() if o.loss is not None]
    names = ", ".join(f"'{n.name}'" for n in trainable[:3]) + (", ..." if len(trainable) > 3 else "")
    where = ", ".join([f"output '{o.name}'" for o in with_loss] + [f"penalty on {', '.join(p.on)}"
                                                                    for p in spec.penalties])
    span = with_loss[0].span if with_loss else spec.penalties[0].span
    through_ints = any(n.name in spec.upstream([o.name for o in with_loss] + [t for p in spec.penalties for t in p.on])
                       for n in trainable)
    depend = ("reach the layers with trainable weights ({}) only where no gradient flows (integer tensors, an "
              "Expr's inputs it uses only in comparisons, shape_of or where's condition, or the inputs of a shared "
              "layer's other call)"
              if through_ints else "depend on none of the layers with trainable weights ({})").format(names)
    message = (f"no trainable weight reaches a loss: the losses ({where}) {depend}; Keras's fit fails with "
               "\"No gradients provided for any variable\"")
    diags.append(Diagnostic(codes.NO_GRADIENT, message, span,
                            f"give a loss to an output computed from {trainable[0].name!r}, or set trainable: false "
                            "on those layers"))


# Metrics Keras computes on (batch, n) only: "expects 2D inputs" at the first training step
_MATRIX_METRICS = frozenset({"R2Score", "F1Score", "FBetaScore"})


# What a metric compares the output with, measured against Keras (train_on_batch): integer class
# labels (the output's shape without its last axis, as sparse_categorical_crossentropy takes), or
# values shaped like the output (every other loss). `accuracy` takes either.
_LABEL_METRICS = frozenset({"SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
                            "SparseTopKCategoricalAccuracy"})
_LABEL_LOSSES = frozenset({"sparse_categorical_crossentropy"})
_IOU_METRICS = frozenset({"IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"})
_WHAT = {"labels": "integer class labels", "values": "targets shaped like the output",
         "one-hot": "one-hot targets with one more axis than the output"}


def _named(value):
    if isinstance(value, str):
        return value
    return next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None


def _metric_info(m):
    """(class, written name, args) of a spec metric: class None for expr / custom (and the
    string `accuracy`, which Keras resolves by the targets)."""
    from ..vocab import METRIC_CLASSES, METRIC_NAME_CLASS
    if isinstance(m, str):
        return (None if m == "accuracy" else METRIC_NAME_CLASS.get(m)), m, {}
    keys = [k for k in m if k != "name"] if isinstance(m, dict) else []
    if len(keys) != 1:
        return None, None, {}
    key = keys[0]
    args = m[key] if isinstance(m[key], dict) else {}
    if key in METRIC_NAME_CLASS:
        return (None if key == "accuracy" else METRIC_NAME_CLASS[key]), key, args
    return (key if key in METRIC_CLASSES else None), key, args


def _metric_wants(cls, args) -> str | None:
    """The target a metric compares the output with (see _WHAT), None for either/unknown."""
    if cls is None:
        return None
    if cls in _LABEL_METRICS:
        return "labels"
    if cls in _IOU_METRICS:
        sparse_true = args.get("sparse_y_true", not cls.startswith("OneHot"))
        sparse_pred = args.get("sparse_y_pred", cls in ("IoU", "MeanIoU"))
        if sparse_true and not sparse_pred:
            return "labels"  # the output's argmax against class ids
        if sparse_pred and not sparse_true:
            return "one-hot"  # the output's class ids against the targets' argmax
    return "values"


def _metric_span(o, i):
    return o.metric_spans.get(i, o.span) if o.metric_spans is not None else o.span


def _check_metric_targets(spec: Spec, diags) -> None:
    """One target per output: a metric wanting class labels beside a loss (or another metric)
    wanting values shaped like the output, or the other way round, fails in Keras at the first
    training step whatever the target (Incompatible shapes, or a rank error)."""
    for o in spec.outputs.values():
        loss = _named(o.loss)
        if loss in ("expr", "custom"):
            loss = None
        kind = None if loss is None else "labels" if loss in _LABEL_LOSSES else "values"
        first = f"its loss {loss}" if loss else None
        for i, m in enumerate(o.metrics):
            cls, name, args = _metric_info(m)
            wants = _metric_wants(cls, args)
            if wants is None:
                continue
            if kind is None:
                kind, first = wants, f"metric {name}"
                continue
            if wants == kind:
                continue
            if cls in _IOU_METRICS:
                hint = (f"beside {first}, use {{{name}: {{..., sparse_y_pred: false}}}}: it takes the argmax of "
                        "the output's last axis and compares it with class labels" if kind == "labels" else
                        f"beside {first}, set sparse_y_true and sparse_y_pred to match its targets")
            elif kind == "labels":
                hint = f"beside {first}, use sparse_categorical_accuracy, sparse_top_k_categorical_accuracy or accuracy"
            else:
                hint = (f"beside {first}, use categorical_accuracy, top_k_categorical_accuracy or accuracy "
                        "(one-hot targets)")
            shape = spec.shapes.get(o.name)
            fails = ("Keras fails at the first training step" if not (cls == "CategoricalAccuracy" and shape
                                                                       and len(shape) == 2)
                     else "on (batch, n) Keras runs categorical_accuracy but takes the argmax of the labels "
                     "themselves (deliberately refused)")
            diags.append(Diagnostic(codes.METRIC_TARGET, f"metric {name} of output '{o.name}' compares it with "
                                    f"{_WHAT[wants]}, but {first} takes {_WHAT[kind]}: one target cannot be both, "
                                    f"and {fails}", _metric_span(o, i), hint))
            break


# Metrics Keras computes on the output's own dtype (measured: compile's metric on an int32 / int64
# output, float or int targets): these fail on an integer output ("Cannot convert 2.0 to EagerTensor of
# dtype int64" and the like); the losses cast to float first.
_FLOAT_ONLY_METRICS = frozenset({"BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge",
                                 "CosineSimilarity", "Hinge", "KLDivergence", "LogCoshError", "Poisson",
                                 "SquaredHinge", "TopKCategoricalAccuracy"})


def _check_metric_dtypes(spec: Spec, diags) -> None:
    for o in spec.outputs.values():
        dtype = spec.dtypes.get(o.name, "float32")
        if dtype_kind(dtype) != "int":
            continue
        for i, m in enumerate(o.metrics):
            cls, name, args = _metric_info(m)
            # from_logits: AUC applies a sigmoid to the output as it is (fuzzer, seed 54)
            logits = isinstance(args, dict) and args.get("from_logits") is True
            if cls in _FLOAT_ONLY_METRICS or logits:
                diags.append(Diagnostic(codes.METRIC_DTYPE, f"metric {name} of output '{o.name}'"
                                        f"{' with from_logits: true' if logits else ''} needs a float output "
                                        f"but '{o.name}' is {dtype}: Keras computes it on the output's dtype and "
                                        "fails at the first training step", _metric_span(o, i),
                                        f"add Rescaling: {{scale: 1.0}} (it casts to float32) before the output, "
                                        f"or drop {name}"))
                break


_PROBABILITY_ACTIVATIONS = frozenset({"sigmoid", "softmax", "hard_sigmoid", "sparse_sigmoid", "sparsemax"})


def _metric_arg_diags(spec: Spec, o, i, cls, name, args):
    """The arguments of a keras.metrics class against the output they measure (measured against
    Keras: tests/keras/test_metrics.py): one diagnostic or None."""
    shape = spec.shapes.get(o.name)
    span = _metric_span(o, i)
    rank = len(shape) if shape is not None else None
    n = shape[-1] if shape else None
    of = f"'{o.name}' {fmt_shape(shape)}" if shape is not None else f"'{o.name}'"
    where = f"metric {name} of output '{o.name}'"

    def error(message, hint, code=codes.METRIC_ARGS, severity=ERROR):
        return Diagnostic(code, f"{where}: {message}", span, hint, severity=severity)

    if cls in _MATRIX_METRICS and rank is not None and rank != 2:
        return error(f"needs (batch, n) but '{o.name}' is {fmt_shape(shape)}: Keras's {cls} fails at the first "
                     "training step", f"Flatten '{o.name}' (or pool it) before the output, or drop {name}",
                     code=codes.METRIC_RANK)
    if cls in ("TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy") and rank == 1:
        # Keras flattens higher ranks to (samples, n), but its in_top_k needs 2-D scores (seed 36 graph 1258)
        return error(f"needs scores of (batch, n) or more axes but '{o.name}' is {fmt_shape(shape)}: Keras's {cls} "
                     "fails at the first training step", f"drop {name}, or give '{o.name}' a class axis",
                     code=codes.METRIC_RANK)
    if cls == "R2Score" and args.get("num_regressors"):
        return error("num_regressors other than 0 makes Keras's R2Score fail in every compiled training step "
                     "(it tests a tensor as a Python bool)", "drop num_regressors (adjusted R2 cannot be computed "
                     "in the train step); compute it after evaluation")
    if "axis" in args and rank is not None and not -rank <= args["axis"] < rank:
        return error(f"axis {args['axis']} is outside {of}, of rank {rank}", f"an axis in {-rank}..{rank - 1}; "
                     "-1 is the last")
    if n is None:
        return None
    if args.get("class_id") is not None and args["class_id"] >= n:
        return error(f"class_id {args['class_id']} is not an index on the last axis of {of} (0..{n - 1}): Keras "
                     "fails at the first training step", f"a class_id below {n}")
    if args.get("top_k") is not None and args["top_k"] > n:
        return error(f"top_k {args['top_k']} is more than the {n} entries on the last axis of {of}: Keras fails "
                     "at the first training step", f"top_k at most {n}")
    if cls in ("TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy") and args.get("k", 5) >= n and n > 1:
        return error(f"k {args.get('k', 5)}{' (the default)' if 'k' not in args else ''} is at least the {n} "
                     f"classes on the last axis of {of}: the metric is always 1", f"k below {n}",
                     severity=WARNING)
    if cls == "AUC":
        if args.get("multi_label") and rank != 2:
            return error(f"multi_label needs (batch, labels) but '{o.name}' is {fmt_shape(shape)}: Keras fails at "
                         "the first training step", "Flatten the output first, or drop multi_label")
        if args.get("num_labels") is not None and args["num_labels"] != n:
            return error(f"num_labels {args['num_labels']} is not the {n} labels on the last axis of {of}: Keras "
                         "fails at the first training step", f"num_labels: {n}, or leave it out")
        weights = args.get("label_weights")
        if weights is not None and len(weights) != n:
            return error(f"label_weights has {len(weights)} entries but {of} has {n} labels on its last axis: "
                         "Keras fails at the first training step", f"give {n} weights")
        node = spec.node(o.name)
        act = node.args.get("activation") if node is not None and not node.reuse else None
        if not args.get("from_logits") and node is not None and "activation" in node.args and \
                act not in _PROBABILITY_ACTIVATIONS:
            return error(f"AUC reads the output as probabilities in [0, 1], but {node.op} '{o.name}' has "
                         f"activation {act or 'linear'}: it compares them with thresholds in [0, 1], so logits give another "
                         "number",
                         "from_logits: true, or a sigmoid / softmax activation", code=codes.METRIC_RANGE,
                         severity=WARNING)
    if cls in _IOU_METRICS:
        num = args.get("num_classes")
        bad = [c for c in args.get("target_class_ids") or () if isinstance(num, int) and c >= num]
        if bad:
            return error(f"target_class_ids has {bad[0]}, not a class below num_classes {num}: Keras refuses it",
                         f"class ids 0..{num - 1}")
        sparse_pred = args.get("sparse_y_pred", cls in ("IoU", "MeanIoU"))
        if sparse_pred and dtype_kind(spec.dtypes.get(o.name, "float32")) == "float" and n > 1:
            return error(f"sparse_y_pred{' (the default)' if 'sparse_y_pred' not in args else ''} reads the "
                         f"output as class ids, but {of} is float with {n} scores on its last axis: each score "
                         "is cast to a class id", "sparse_y_pred: false (the argmax of the last axis), or an "
                         "output of class ids", code=codes.METRIC_RANGE, severity=WARNING)
        if not sparse_pred and isinstance(num, int) and num < n:
            return error(f"num_classes {num} is below the {n} classes on the last axis of {of}: Keras leaves out "
                         "every position whose argmax is a class from there on", f"num_classes: {n}",
                         code=codes.METRIC_RANGE, severity=WARNING)
    return None


def _check_metric_exprs(spec: Spec, o, i, m, diags) -> None:
    shape = spec.shapes.get(o.name)
    if shape is None or not isinstance(m.get("expr"), str):
        return
    from .. import expr as expr_lang
    try:
        tree = expr_lang.parse(m["expr"])
        expr_lang.infer_rank(tree, {"y_true": len(shape), "y_pred": len(shape)})
    except expr_lang.ExprError as e:
        diags.append(Diagnostic(codes.BAD_EXPRESSION, f"metric of '{o.name}': {e.message} (y_true and y_pred are "
                                f"{fmt_shape(shape)})", _expr_span_at(o, i), e.hint))


def _expr_span_at(o, i):
    from .resolve import LazySpans
    spans = o.metric_spans
    if isinstance(spans, LazySpans):
        return spans.doc.span(spans.path + (i, "expr"))
    return o.span


def _check_metrics(spec: Spec, diags) -> None:
    _check_metric_targets(spec, diags)
    _check_metric_dtypes(spec, diags)
    for o in spec.outputs.values():
        for i, m in enumerate(o.metrics):
            if isinstance(m, dict) and "expr" in m:
                _check_metric_exprs(spec, o, i, m, diags)
                continue
            cls, name, args = _metric_info(m)
            if cls is None:
                continue
            d = _metric_arg_diags(spec, o, i, cls, name, args)
            if d is not None:
                diags.append(d)
