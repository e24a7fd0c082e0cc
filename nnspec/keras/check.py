"""`nnspec check`: build the model and take a few training steps on synthetic
data shaped like the spec's inputs and outputs; report each output's loss,
each penalty, and every trainable weight that gets no gradient."""
from __future__ import annotations

import math

import numpy as np

from . import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from .build import build, loss_object  # noqa: E402
from .export import model_inputs, random_batch  # noqa: E402
from ..vocab import LOSS_ALIASES, LOSS_TARGETS  # noqa: E402



def _loss_name(loss) -> str:
    return loss if isinstance(loss, str) else next(iter(loss))


def synthetic_targets(spec, batch: int, seed: int = 0, model=None) -> dict:
    """Targets for each output with a loss, shaped like the output on random_batch's inputs
    (from the static shapes with the unknown input sizes it picks, or from ``model`` where a
    custom layer hides them)."""
    from ..passes.shapes import runtime_size
    rng = np.random.default_rng(seed + 1)
    shapes = runtime_size(spec)[1]
    out = {}
    for name, o in spec.outputs.items():
        if o.loss is None:
            continue
        static = shapes.get(name) or tuple(model.output[name].shape)
        shape = (batch,) + tuple(3 if d is None else d for d in static[1:])
        loss = _loss_name(o.loss)
        kind = LOSS_TARGETS.get(LOSS_ALIASES.get(loss, loss))
        if kind == "index":
            out[name] = rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
        elif kind == "one_hot":
            out[name] = np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], size=shape[:-1])]
        elif kind == "binary":
            out[name] = rng.integers(0, 2, size=shape).astype("float32")
        elif kind == "positive":
            out[name] = rng.uniform(0.1, 1.0, size=shape).astype("float32")
        else:
            out[name] = rng.standard_normal(shape).astype("float32")
    return out


def run_check(spec, steps: int = 3, batch: int = 8, model=None) -> dict:
    """Returns {"steps": [{"outputs": {...}, "penalties": {...}, "regularizers": x, "total": x}],
    "no_gradient": [...], "zero_gradient": [...], "finite": bool}. ``model``: the spec's model,
    already built (with initial weights loaded)."""
    model = build(spec) if model is None else model
    x = model_inputs(spec, random_batch(spec, batch=batch))
    y = synthetic_targets(spec, batch, model=model)
    from .custom_objects import allowing
    with allowing(spec.allow_import):  # `custom:` losses: the caller's permission, as in build()
        losses = {o.name: keras.losses.get(loss_object(o.loss)) if isinstance(o.loss, str) else
                  loss_object(o.loss, len(spec.shapes[o.name]) if spec.shapes.get(o.name) is not None else None)
                  for o in spec.outputs.values() if o.loss is not None}
    weights = {o.name: float(o.weight) for o in spec.outputs.values() if o.loss is not None}
    penalty_layers = [layer for layer in model.layers if type(layer).__name__ == "Penalty"]
    trainable = model.trainable_weights
    seen_grad = [False] * len(trainable)
    got_none = [True] * len(trainable)
    report = {"steps": [], "finite": True}
    opt = model.optimizer
    for _ in range(steps):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            # as Keras's compiled Loss: an integer output (Hashing's int64) is cast to float32 first
            per_output = {k: fn(y[k], out[k] if out[k].dtype.is_floating else tf.cast(out[k], "float32"))
                          for k, fn in losses.items()}
            per_output = {k: tf.reduce_mean(v) for k, v in per_output.items()}
            # in float32: a float64 layer's regularizer loss is float64 (AddN refuses to mix them)
            f32 = lambda ts: [tf.cast(t, "float32") for t in ts]  # noqa: E731
            penalties = {layer.name: tf.add_n(f32(layer.losses)) if layer.losses else tf.constant(0.0)
                         for layer in penalty_layers}
            all_extra = tf.add_n(f32(model.losses)) if model.losses else tf.constant(0.0)
            total = tf.add_n([weights[k] * v for k, v in per_output.items()] + [all_extra]) \
                if per_output else all_extra
        grads = tape.gradient(total, trainable)
        for i, g in enumerate(grads):
            if g is not None:
                got_none[i] = False
                if bool(tf.reduce_any(tf.not_equal(g, 0))):
                    seen_grad[i] = True
        pairs = [(g, w) for g, w in zip(grads, trainable) if g is not None]
        if pairs:  # a model without trainable weights (or all frozen) trains nothing, as in Keras's fit
            opt.apply_gradients(pairs)
        step = {"outputs": {k: float(v) for k, v in per_output.items()},
                "penalties": {k: float(v) for k, v in penalties.items()},
                "regularizers": float(all_extra) - sum(float(v) for v in penalties.values()),
                "total": float(total)}
        report["steps"].append(step)
        if not all(math.isfinite(v) for v in [step["total"], *step["outputs"].values(), *step["penalties"].values()]):
            report["finite"] = False
    report["no_gradient"] = [w.path for w, n in zip(trainable, got_none) if n]
    report["zero_gradient"] = [w.path for w, n, s in zip(trainable, got_none, seen_grad) if not n and not s]
    return report
