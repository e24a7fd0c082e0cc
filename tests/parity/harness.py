"""Parity: the static shape rule and parameter count of a catalog op must
equal what Keras itself computes, and a static refusal must match a Keras
failure. Every parity test calls ``check``.

An accepted case is also run (``run``): a one-layer model on a batch of 2,
whose output must have the static shape, and, when the layer has trainable
weights, one training step. Keras builds some layers it cannot run (a
transposed convolution with dilation on CPU, glu's symbolic shape, an
initializer of the wrong rank); the symbolic comparison alone misses those.
Running costs ~0.1-0.5 s a case, so it runs on a deterministic sample of the
accepted cases (``RUN_EVERY``, by a hash of the case: the same case always
runs, or never, so hypothesis can shrink a failure), and on every example
test that calls ``check(..., run=True)``.
"""
from __future__ import annotations

import hashlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from nnspec.keras.layers import call_layer, make_layer  # noqa: E402
from nnspec.ops import CATALOG  # noqa: E402
from nnspec.ops.base import ShapeError  # noqa: E402

keras.config.disable_interactive_logging()

CHECKED: set = set()  # op names that went through check() in this session (tests/parity/test_zz_coverage.py)
RAN: set = set()  # op names whose layer ran forward (and trained) in this session
WHOLE_SUITE = [False]  # every parity file has tests selected in this session (conftest.py)
RUN_EVERY = int(os.environ.get("NNSPEC_PARITY_RUN_EVERY", "4"))  # run 1 accepted case in N; 0: never


def static(op_name: str, args: dict, shapes: list):
    op = CATALOG[op_name]
    filled = op.fill(args)
    if op.validate:
        op.validate(filled)
    out = op.shape(filled, [tuple(s) for s in shapes])
    return out, op.count_params(filled, [tuple(s) for s in shapes])


def keras_result(op_name: str, args: dict, shapes: list):
    op = CATALOG[op_name]
    layer = make_layer(op, op.fill(args))
    inputs = [keras.Input(batch_shape=tuple(s), dtype=_dtype(op_name)) for s in shapes]
    out = call_layer(op, layer, inputs)
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return tuple(out.shape), (trainable, non_trainable)


INT_OPS = ("Embedding", "CategoryEncoding", "Hashing")  # take integer indices


def _dtype(op_name):
    return "int32" if op_name in INT_OPS else "float32"


def _sampled(op_name, args, shapes) -> bool:
    if RUN_EVERY <= 0:
        return False
    key = repr((op_name, sorted(args.items(), key=lambda kv: kv[0]), shapes)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % RUN_EVERY == 0


def concrete(op_name: str, args: dict, shapes: list):
    """The shapes with every unknown non-batch size made known: the size another input has on
    that axis, else the first of 4, 7, 12 the static rule accepts. None if none fits."""
    shapes = [tuple(s) for s in shapes]
    for fill in (4, 7, 12):
        out = []
        for s in shapes:
            dims = [s[0]]
            for i, d in enumerate(s[1:], 1):
                if d is None:
                    known = [o[i] for o in shapes if len(o) == len(s) and o[i] is not None]
                    d = known[0] if known else fill
                dims.append(d)
            out.append(tuple(dims))
        try:
            static(op_name, args, out)
        except ShapeError:
            continue
        return out
    return None


def _data(op_name, args, shape, batch):
    rng = np.random.default_rng(0)
    dims = (batch, *shape[1:])
    if _dtype(op_name) == "int32":
        return rng.integers(0, args.get("input_dim", args.get("num_tokens", 2)), size=dims).astype("int32")
    return rng.normal(size=dims).astype("float32")


def run(op_name: str, args: dict, shapes: list) -> None:
    """Run the layer on a batch (2 unless the batch size is fixed): its output must have the
    static shape; with trainable weights, one training step must give a finite loss."""
    shapes = concrete(op_name, args, shapes)
    if shapes is None:
        return
    RAN.add(op_name)
    out, _ = static(op_name, args, shapes)
    keras_run(op_name, args, shapes, out)


NNSPEC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/nnspec/"
_BUG_TYPES = (KeyError, AttributeError, TypeError, NameError, IndexError, AssertionError, UnboundLocalError)


def _raised_by_nnspec(e: BaseException) -> bool:
    """A programming error raised in nnspec's own code (the adapter making Keras's arguments,
    one of nnspec's layer classes), not a refusal by Keras: it must not pass for one."""
    tb, last = e.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return (isinstance(e, _BUG_TYPES) and last is not None
            and os.path.abspath(last.tb_frame.f_code.co_filename).startswith(NNSPEC_DIR))


def keras_fails(op_name: str, args: dict, shapes: list) -> str | None:
    """Why Keras fails on this case (building it, running it, or computing another shape than
    its symbolic one), or None if it builds, runs and trains. Unknown sizes are made known
    (the size another input has on that axis, else 4). An error of nnspec's own code is
    raised, not taken for Keras's refusal."""
    try:
        keras_result(op_name, args, shapes)
    except Exception as e:
        if _raised_by_nnspec(e):
            raise
        return f"build: {type(e).__name__}"
    known = []
    for s in shapes:
        known.append(tuple(d if d is not None or i == 0 else
                           next((o[i] for o in shapes if len(o) == len(s) and o[i] is not None), 4)
                           for i, d in enumerate(s)))
    try:
        keras_run(op_name, args, known, keras_result(op_name, args, known)[0])
    except Exception as e:
        if _raised_by_nnspec(e):
            raise
        return f"run: {type(e).__name__}: {str(e)[:300]}"
    return None


def keras_run(op_name: str, args: dict, shapes: list, out) -> None:
    """Build the one-layer model on ``shapes``, run it, check the computed shape is ``out``
    (batch aside) and train one step when it has trainable weights."""
    batch = shapes[0][0] or 2
    op = CATALOG[op_name]
    layer = make_layer(op, op.fill(args))
    inputs = [keras.Input(batch_shape=(s[0], *s[1:]), dtype=_dtype(op_name)) for s in shapes]
    y = call_layer(op, layer, inputs)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], y)
    x = [_data(op_name, args, s, batch) for s in shapes]
    result = model(x if len(x) > 1 else x[0])
    got = tuple(result.shape)
    want = (batch, *out[1:])  # an unknown static size (None) matches any computed one
    assert len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got)), (
        f"{op_name}{args} on {shapes}: static {out} but the layer computes {got} on a batch of {batch}")
    if not layer.trainable_weights or not keras.backend.standardize_dtype(result.dtype).startswith("float"):
        return
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", run_eagerly=True)
    target = np.zeros(got, dtype="float32")
    loss = model.train_on_batch(x if len(x) > 1 else x[0], target)
    assert np.isfinite(loss), f"{op_name}{args} on {shapes}: training step gave loss {loss}"


def check(op_name: str, args: dict, shapes: list, strict_ok: bool = False, run_it: bool | None = None):
    """Assert static == Keras. Returns the static output shape (None if refused).

    If the static rule refuses (ShapeError), Keras must fail too, unless
    ``strict_ok``: nnspec is deliberately stricter there (say why at the call),
    and then nnspec must refuse: a case marked strict that nnspec accepts fails.
    An accepted case is also run (see ``run``): always with ``run_it=True``,
    never with False, on a sample of cases by default.
    """
    CHECKED.add(op_name)
    try:
        out, params = static(op_name, args, shapes)
    except ShapeError as e:
        if strict_ok or keras_fails(op_name, args, shapes):
            return None
        raise AssertionError(f"{op_name}{args} on {shapes}: nnspec refused ({e.message}) "
                             f"but Keras builds, runs and trains it") from None
    assert not strict_ok, f"{op_name}{args} on {shapes}: marked a deliberate refusal, but nnspec accepts it ({out})"
    kshape, kparams = keras_result(op_name, args, shapes)
    assert out == kshape, f"{op_name}{args} on {shapes}: static {out} != keras {kshape}"
    assert params == kparams, f"{op_name}{args} on {shapes}: params {params} != keras {kparams}"
    if run_it or (run_it is None and _sampled(op_name, args, shapes)):
        run(op_name, args, shapes)
    return out
