"""Keras model -> verified SavedModel directory (and optional .keras file).

The SavedModel is a plain ``tf.Module`` that tracks each variable once (Keras's
``model.export`` stores every weight twice) and serves a signature whose
inputs and outputs carry the spec's names. It is written to a temporary
sibling directory, reloaded and checked against the in-memory model on a
random batch, and only then swapped into place: atomically with Linux's
renameat2(RENAME_EXCHANGE), under a lock file so that concurrent compiles to
one directory take turns.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from . import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from .. import __version__  # noqa: E402

MANIFEST = os.path.join("assets", "nnspec", "manifest.json")
TOLERANCE = 1e-5


class ExportError(Exception):
    """The export could not be verified; nothing was moved into place."""


def random_batch(spec, batch: int = 4, seed: int = 0) -> dict:
    """A random batch matching the spec's inputs (unknown sizes become 3;
    integer inputs draw from [0, 2) so any Embedding can take them)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, inp in spec.inputs.items():
        shape = (batch,) + tuple(3 if d is None else d for d in inp.shape[1:])
        if inp.dtype.startswith(("int", "uint")):
            out[name] = rng.integers(0, 2, size=shape).astype(inp.dtype)
        elif inp.dtype == "bool":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            out[name] = rng.standard_normal(shape).astype(inp.dtype)
    return out


def model_inputs(spec, batch: dict):
    return batch[next(iter(spec.inputs))] if len(spec.inputs) == 1 else batch


def serving_module(model, spec) -> tf.Module:
    names = list(spec.inputs)
    signature = [tf.TensorSpec((None,) + tuple(spec.inputs[n].shape[1:]), spec.inputs[n].dtype, name=n)
                 for n in names]
    outputs = list(spec.outputs)

    def serve(*args):
        x = args[0] if len(args) == 1 else dict(zip(names, args))
        y = model(x, training=False)
        return {k: tf.identity(y[k], name=k) for k in outputs}

    module = tf.Module(name="nnspec")
    module.variables_ = list(model.variables)  # each variable tracked once
    module.serve = tf.function(serve, input_signature=signature, autograph=False)
    return module


def manifest_for(spec, model, source: bytes, verify_diff=None) -> dict:
    import sys

    def count(ws):
        return int(sum(np.prod(w.shape) for w in ws))
    return {
        "nnspec": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "model": spec.name,
        "spec_file": os.path.basename(spec.file),
        "spec_sha256": hashlib.sha256(source).hexdigest(),
        "params": {"total": count(model.weights), "trainable": count(model.trainable_weights),
                   "non_trainable": count(model.non_trainable_weights)},
        "inputs": {n: {"shape": list(i.shape), "dtype": i.dtype} for n, i in spec.inputs.items()},
        "outputs": {n: {"shape": list(spec.shapes[n]) if n in spec.shapes else None}
                    for n in spec.outputs},
        "signature": "serving_default",
        "verified_max_abs_diff": verify_diff,
    }


def weights_nbytes(model) -> int:
    return int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights))


def variables_nbytes(saved_dir: str) -> int:
    vdir = os.path.join(saved_dir, "variables")
    return sum(os.path.getsize(os.path.join(vdir, f)) for f in os.listdir(vdir) if f.startswith("variables.data"))


def verify_savedmodel(saved_dir: str, model, spec) -> float:
    batch = random_batch(spec)
    expected = model(model_inputs(spec, batch), training=False)
    loaded = tf.saved_model.load(saved_dir)
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in batch.items()})
    worst = 0.0
    for name in spec.outputs:
        if name not in got:
            raise ExportError(f"reloaded SavedModel has no output '{name}' (has {sorted(got)})")
        diff = float(np.max(np.abs(np.asarray(got[name]) - np.asarray(expected[name])))) if np.size(got[name]) else 0.0
        worst = max(worst, diff)
    if not worst <= TOLERANCE:
        raise ExportError(f"reloaded SavedModel differs from the built model: max abs diff {worst:.3g} "
                          f"> {TOLERANCE:g}")
    return worst


def export(model, spec, out_dir: str, source: bytes, keras_file: str | None = None, timings=None) -> dict:
    """Write, verify and move into place. Returns the manifest."""
    import time
    timings = timings if timings is not None else {}
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    stage = tempfile.mkdtemp(prefix=".nnspec-stage-", dir=parent)
    keras_tmp = None
    try:
        t = time.perf_counter()
        spec_copy = os.path.join(stage, os.path.basename(spec.file) or "spec.yaml")
        with open(spec_copy, "wb") as f:
            f.write(source)
        module = serving_module(model, spec)
        module.nnspec_spec = tf.saved_model.Asset(spec_copy)
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve.get_concrete_function()})
        if keras_file:
            keras_file = os.path.abspath(keras_file)
            os.makedirs(os.path.dirname(keras_file), exist_ok=True)
            fd, keras_tmp = tempfile.mkstemp(prefix=f".{os.path.basename(keras_file)}.tmp-", suffix=".keras",
                                             dir=os.path.dirname(keras_file))
            os.close(fd)
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # saved whole, reloads without warnings
            model.save(keras_tmp, overwrite=True)
        timings["export"] = time.perf_counter() - t

        t = time.perf_counter()
        diff = verify_savedmodel(tmp, model, spec)
        if keras_tmp:
            verify_keras_file(keras_tmp, model, spec)
        timings["verify"] = time.perf_counter() - t

        manifest = manifest_for(spec, model, source, diff)
        manifest["variables_bytes"] = variables_nbytes(tmp)
        manifest["weights_bytes"] = weights_nbytes(model)
        os.makedirs(os.path.join(tmp, "assets", "nnspec"), exist_ok=True)
        shutil.copyfile(spec_copy, os.path.join(tmp, "assets", "nnspec", os.path.basename(spec_copy)))
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        with _locked(out_dir):
            _swap_into_place(tmp, out_dir)
            tmp = None
            if keras_tmp:
                os.replace(keras_tmp, keras_file)
                keras_tmp = None
        return manifest
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if keras_tmp and os.path.exists(keras_tmp):
            os.unlink(keras_tmp)


def verify_keras_file(path: str, model, spec) -> None:
    batch = model_inputs(spec, random_batch(spec, seed=1))
    reloaded = keras.models.load_model(path)
    a, b = model(batch, training=False), reloaded(batch, training=False)
    for name in spec.outputs:
        diff = float(np.max(np.abs(np.asarray(a[name]) - np.asarray(b[name])))) if np.size(a[name]) else 0.0
        if not diff <= TOLERANCE:
            raise ExportError(f"reloaded .keras file differs from the built model on '{name}': {diff:.3g}")


@contextlib.contextmanager
def _locked(out_dir: str):
    lock_path = os.path.join(os.path.dirname(out_dir), f".{os.path.basename(out_dir)}.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2_exchange(a: str, b: str) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), b)


def _swap_into_place(new_dir: str, out_dir: str) -> None:
    if not os.path.lexists(out_dir):
        os.rename(new_dir, out_dir)
        return
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        raise ExportError(f"{out_dir} exists and is not a directory; not replacing it")
    if _renameat2_exchange(new_dir, out_dir):
        shutil.rmtree(new_dir)  # now holds the previous version
        return
    old = new_dir + ".old"
    os.rename(out_dir, old)
    os.rename(new_dir, out_dir)
    shutil.rmtree(old, ignore_errors=True)
