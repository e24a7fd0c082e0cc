"""IR -> keras.Model (Functional), compiled with the spec's training configuration.

* one Keras layer per spec layer, named as in the spec; `reuse` calls the same
  layer object again (shared weights);
* outputs as a dict keyed by output name, so losses, weights, metrics and the
  SavedModel signature all speak the spec's names;
* penalties become pass-through `Penalty` layers inserted after the last of
  the tensors they read, so they sit on the path to an output and Keras keeps
  them (`add_loss` semantics: never divided by the batch size);
* `seed` seeds Keras's global generators before any weight is created:
  same spec + same seed = identical initial weights.
"""
from __future__ import annotations

import contextlib
import functools
import sys

from . import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from ..ir import Spec, layer_of  # noqa: E402
from ..ops import CATALOG  # noqa: E402
from ..vocab import LOSS_ALIASES  # noqa: E402
from .layers import call_layer, constraint, make_layer, regularizer  # noqa: E402,F401


@contextlib.contextmanager
def deep_recursion(n_nodes: int):
    """Keras builds, traces and saves a Functional graph recursively: a chain of
    1,000 layers overflows Python's default limit of 1,000 frames. Raise it for
    the duration, in proportion to the graph."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 40 * n_nodes + 2000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def build_graph(spec: Spec) -> keras.Model:
    """The uncompiled Functional model."""
    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    if spec.penalties:
        from .expr import Penalty
    tensors = {}
    for name, inp in spec.inputs.items():
        tensors[name] = keras.Input(shape=inp.shape[1:], dtype=inp.dtype, name=name)
    model_inputs = dict(tensors)
    order = list(spec.inputs) + [n.name for n in spec.nodes]
    position = {name: i for i, name in enumerate(order)}
    anchored: dict[str, list] = {}  # tensor -> penalties to insert right after it
    # `enc.output`, the first output of a layer with several, is the tensor `enc`
    canon = {f"{n.name}.{n.outputs[0]}": n.name for n in spec.nodes if n.outputs}
    c = lambda t: canon.get(t, t)  # noqa: E731
    for i, p in enumerate(spec.penalties):
        anchor = max(p.on, key=lambda t: (position[layer_of(t)], c(t)))
        anchored.setdefault(c(anchor), []).append((i, p, anchor))
    taken = set(order)

    def add_penalties(name):
        for i, p, anchor in anchored.get(name, ()):
            reads = [anchor] + [t for t in p.on if t != anchor]
            layer_name = _unique(f"penalty_{i}", taken)
            if p.kind == "expr":
                layer = Penalty("expr", expr=p.text, names=reads, name=layer_name)
            else:
                layer = Penalty(p.kind, coef=p.coef, reduce=p.reduce, name=layer_name)
            tensors[name] = layer([tensors[c(t)] for t in reads])

    for name in spec.inputs:
        add_penalties(name)
    layers = {}
    for node in spec.nodes:
        op = CATALOG[node.op]
        if node.reuse:
            layer = layers[node.layer]
        else:
            layer = make_layer(op, node.args, name=node.name,
                               activity_regularizer=regularizer(node.activity_regularizer))
            layer.trainable = node.trainable
            layers[node.name] = layer
        out = call_layer(op, layer, [tensors[c(r)] for r in node.inputs],
                         {p: [tensors[c(r)] for r in refs] for p, refs in node.ports.items()}, node.args)
        if node.outputs:  # several: `enc` is the first, `enc.state_h` ... the others
            for o, t in zip(node.outputs[1:], out[1:]):
                tensors[f"{node.name}.{o}"] = t
            out = out[0]
        tensors[node.name] = out
        if not node.reuse and not node.trainable:
            # Again now that it is built: a layer that makes sublayers in build() (MultiHeadAttention's
            # projections) leaves them trainable, and a fit would update them. Through True, since
            # Keras on TensorFlow skips assigning an attribute its current value (the setter that
            # freezes the sublayers would not run).
            layer.trainable = True
            layer.trainable = False
        for t in [node.name] + [f"{node.name}.{o}" for o in node.outputs[1:]]:
            add_penalties(t)
    outputs = {name: tensors[c(name)] for name in spec.outputs}
    if len(model_inputs) == 1:
        inputs = next(iter(model_inputs.values()))
    else:
        inputs = model_inputs  # called with a dict keyed by input name
    return keras.Model(inputs=inputs, outputs=outputs, name=spec.name)


def _unique(base: str, taken: set) -> str:
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


# ------------------------------------------------------------------ training config
@functools.lru_cache(maxsize=None)
def _classes(module, base) -> dict:
    """snake_case name -> class, e.g. binary_crossentropy -> BinaryCrossentropy."""
    from ..naming import snake_case
    out = {}
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base:
            out.setdefault(snake_case(obj.__name__), obj)
    return out


def _axis_from_the_front(args, rank):
    """The args with a negative ``axis`` (other than -1) counted from the front, on an output of
    ``rank`` axes (batch included): TensorFlow's softmax cross-entropy, which Keras's
    categorical_crossentropy with from_logits calls, fails on one ("Requires start <= limit" in a
    Range; measured on axis -2 and -3, fuzzer seed 53 graph 316); the same axis counted from the
    front works, and gives what the spec means."""
    axis = (args or {}).get("axis")
    if rank is None or not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < -1:
        return args
    return {**args, "axis": axis + rank}


def loss_object(value, rank=None):
    """A spec loss: 'mae', {categorical_crossentropy: {label_smoothing: 0.1}} or {expr: '...'};
    ``rank``: the output's, batch included (a negative axis is counted from the front)."""
    if value is None or isinstance(value, str):
        return value
    (name, args), = value.items()
    if name == "expr":
        from .expr import ExprLoss
        return ExprLoss(args)
    if name == "custom":
        from .custom_objects import custom_object
        return custom_object(args)
    cls = _classes(keras.losses, keras.losses.Loss)[LOSS_ALIASES.get(name, name)]
    return cls(**(_axis_from_the_front(args, rank) or {}))


def metric_object(value, rank=None):
    """A spec metric: 'mae' (Keras resolves it), {AUC: {curve: PR}} or {auc: {...}} (a keras.metrics
    class), {expr: '...', name: dice} or {custom: 'module:Name'}."""
    if isinstance(value, str):
        return value
    if "expr" in value:
        from .expr import ExprMetric
        return ExprMetric(value["expr"], name=value.get("name") or "expr_metric")
    (name, args), = value.items()
    if name == "custom":
        from .custom_objects import custom_metric
        return custom_metric(args)
    from ..vocab import METRIC_NAME_CLASS
    return getattr(keras.metrics, METRIC_NAME_CLASS.get(name, name))(**(_axis_from_the_front(args, rank) or {}))


def optimizer_object(value):
    if value is None:
        return keras.optimizers.Adam()
    if isinstance(value, str):
        return keras.optimizers.get(value)
    (name, args), = value.items()
    return type(keras.optimizers.get(name))(**(args or {}))


def compile_model(model: keras.Model, spec: Spec) -> keras.Model:
    rank = {o.name: len(spec.shapes[o.name]) if spec.shapes.get(o.name) is not None else None
            for o in spec.outputs.values()}
    losses = {o.name: loss_object(o.loss, rank[o.name]) for o in spec.outputs.values() if o.loss is not None}
    weights = {o.name: float(o.weight) for o in spec.outputs.values() if o.loss is not None}
    metrics = {o.name: [metric_object(m, rank[o.name]) for m in o.metrics] for o in spec.outputs.values()
               if o.metrics}
    model.compile(optimizer=optimizer_object(spec.training.get("optimizer")),
                  loss=losses or None, loss_weights=weights or None, metrics=metrics or None)
    if metrics and any(o.loss is None for o in spec.outputs.values()):
        _targets_by_output(model, with_loss=list(losses),
                           untargeted=[o.name for o in spec.outputs.values() if o.loss is None and not o.metrics])
    return model


def _targets_by_output(model: keras.Model, with_loss: list, untargeted: list) -> None:
    """Targets for a model with metrics and an output without loss (FINDINGS F4).

    Keras's loss container takes targets for exactly the outputs with a loss (or for every
    output), but its metrics container looks up a target for EVERY output once any output has
    metrics: ``fit`` / ``train_on_batch`` / ``evaluate`` with the targets of the outputs with a
    loss (all that ``nnspec check`` and a compile without metrics need) raise
    ``KeyError: '<output>'``, and targets for an output with metrics but no loss fail the loss
    container. Through the hooks Keras documents for overriding, this model's ``compute_loss``
    reads the targets of the outputs with a loss only, and its ``compute_metrics`` gives each of
    the ``untargeted`` outputs (neither loss nor metrics) its own prediction when the caller gives
    no target: no metric reads it. A missing target elsewhere still fails as in Keras. Set on
    this model object only: a model reloaded from a .keras file is Keras's own and wants a target
    for every output."""
    cls = type(model)

    def only_losses(v):
        return {k: v[k] for k in with_loss if k in v} if isinstance(v, dict) else v

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, dict):
            y, sample_weight = only_losses(y), only_losses(sample_weight)
        return cls.compute_loss(model, x, y, y_pred, sample_weight, training=training)

    def compute_metrics(x, y, y_pred, sample_weight=None):
        if isinstance(y, dict) and isinstance(y_pred, dict):
            y = {**{k: y_pred[k] for k in untargeted if k in y_pred}, **y}
            if isinstance(sample_weight, dict):
                sample_weight = {**{k: None for k in untargeted}, **sample_weight}
        return cls.compute_metrics(model, x, y, y_pred, sample_weight)

    model.compute_loss = compute_loss
    model.compute_metrics = compute_metrics


def build(spec: Spec, strategy=None, compile: bool = True) -> keras.Model:
    """The Keras model of a validated spec, compiled unless ``compile=False``.
    Under ``strategy.scope()`` when a tf.distribute strategy is given."""
    from .custom_objects import allowing
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with deep_recursion(len(spec.nodes)), scope, allowing(spec.allow_import):
        model = build_graph(spec)
        if compile:
            compile_model(model, spec)
    return model
