"""Keras model -> verified SavedModel directory (and optional .keras file).

The SavedModel is a plain ``tf.Module`` that tracks each variable once (Keras's
``model.export`` stores every weight twice) and serves a signature whose
inputs and outputs carry the spec's names. It is written to a temporary
sibling directory (``.NAME.nnspec-tmp-<pid>-...``, see nnspec.fsutil), reloaded
and checked against the in-memory model on a random batch, and only then
swapped into place: atomically with Linux's renameat2(RENAME_EXCHANGE), under a
lock file so that concurrent compiles to one directory take turns. Only an
empty directory or an earlier nnspec output is ever replaced.
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
import zipfile

import numpy as np

from . import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from .. import __version__, fsutil  # noqa: E402
from ..targets import TARGETS  # noqa: E402
from . import targets as export_targets  # noqa: E402

MANIFEST = fsutil.MANIFEST
TOLERANCE = 1e-5


class ExportError(Exception):
    """The export could not be verified; nothing was moved into place."""


def _index_takers(spec):
    """(op name, args, input tensor) of every layer and wrapped layer, reused ones aside."""
    from ..ops import layered
    for n in spec.nodes:
        if not n.reuse:
            for op_name, args in layered(n.op, n.args):
                yield op_name, args, (n.inputs[0] if n.inputs else None)


def _index_limit(spec) -> tuple[int, bool]:
    """The smallest index bound of any layer (Embedding's input_dim), and whether one of
    those layers takes float values as indices (Keras truncates them to int32)."""
    from ..ops import CATALOG
    limits, from_floats = [2], False
    for op_name, args, source in _index_takers(spec):
        op = CATALOG.get(op_name)
        if op is not None and op.index_limit is not None:
            limits.append(op.index_limit(args))
            dtype = spec.dtypes.get(source, "float32") if source else "float32"
            from_floats = from_floats or not dtype.startswith(("int", "uint", "bool"))
    return min(limits), from_floats


def random_batch(spec, batch: int = 4, seed: int = 0) -> dict:
    """A random batch matching the spec's inputs (unknown sizes become 3, or the first size
    every shape rule fits: shapes.runtime_size). Integer inputs draw from [0, 2), or [0, 1)
    where an Embedding has input_dim 1, so every layer taking indices can take them; where an
    Embedding takes float values as indices (validate warns: float-indices), float inputs
    draw whole numbers from that range too."""
    from ..passes.shapes import runtime_size
    rng = np.random.default_rng(seed)
    size = runtime_size(spec)[0]
    high, float_indices = _index_limit(spec)
    out = {}
    for name, inp in spec.inputs.items():
        shape = (batch,) + tuple(size if d is None else d for d in inp.shape[1:])
        if inp.dtype.startswith(("int", "uint")) or (float_indices and inp.dtype != "bool"):
            out[name] = rng.integers(0, high, size=shape).astype(inp.dtype)
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
        "written_by": fsutil.WRITTEN_BY,
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
        **({"random_layers": stochastic_layers(spec)[0]} if stochastic_layers(spec)[0] else {}),
    }


def weights_nbytes(model) -> int:
    return int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights))


def variables_nbytes(saved_dir: str) -> int:
    vdir = os.path.join(saved_dir, "variables")
    return sum(os.path.getsize(os.path.join(vdir, f)) for f in os.listdir(vdir) if f.startswith("variables.data"))


# ------------------------------------------------------------------ random layers
FIXED_SEED_STATE = (1234, 0)  # the state every seed generator gets before a comparison


def seed_state_indices(model) -> list:
    """Positions in ``model.variables`` of the states of the keras.random.SeedGenerators its layers
    track (an Expr layer that samples, Dropout, a Custom layer that keeps one as an attribute)."""
    states = {id(g.state) for layer in model._flatten_layers() for g in getattr(layer, "_seed_generators", ())}
    return [i for i, v in enumerate(model.variables) if id(v) in states]


def fix_seeds(variables, indices) -> None:
    """Give each seed generator state the same value, so that two copies of a model draw the
    same random numbers on their next call."""
    for i in indices:
        v = variables[i]
        v.assign(np.asarray(FIXED_SEED_STATE, dtype=np.dtype(keras.backend.standardize_dtype(v.dtype))))


def stochastic_layers(spec) -> tuple[list, list]:
    """(layers that draw random numbers at inference, Custom layers that may) from the op records."""
    from ..ops import CATALOG
    sure, maybe = [], []
    for node in spec.nodes:
        rule = CATALOG[node.op].stochastic if node.op in CATALOG else None
        if node.reuse or rule is None:
            continue
        verdict = rule(node.args)
        if verdict:
            sure.append(node.name)
        elif verdict is None:
            maybe.append(node.name)
    return sure, maybe


def _differs(what: str, detail: str, spec) -> ExportError:
    sure, maybe = stochastic_layers(spec)
    text = f"{what} differs from the built model: {detail}"
    if maybe:
        text += (f"; hint: Custom layer{'s' if len(maybe) > 1 else ''} {', '.join(repr(m) for m in maybe)} may draw "
                 "random numbers at inference; nnspec compares the two models with every "
                 "keras.random.SeedGenerator their layers track set to one state, so a random Custom layer "
                 "verifies when it draws from a SeedGenerator it keeps as an attribute "
                 "(keras.random.normal(shape, seed=self.seed_generator)), or only in training (training=True)")
    elif sure:
        text += (f" (with the seed generators of its random layers {', '.join(repr(m) for m in sure)} fixed to "
                 "one state); this is a bug in nnspec, please report it")
    return ExportError(text)


def expected_outputs(model, spec, module, batch: dict):
    """The in-memory model's outputs on ``batch``, with its seed generators fixed: through the traced
    serving function the SavedModel was written from (no eager pass over every layer), except where a
    Custom layer may draw random numbers (user code: a traced call replays its unseeded random ops
    alike in both models, and an eager call is the one that shows the difference)."""
    fix_seeds(model.variables, seed_state_indices(model))
    if module is None or stochastic_layers(spec)[1]:
        return model(model_inputs(spec, batch), training=False)
    return module.serve(*(tf.constant(batch[n]) for n in spec.inputs))


def verify_savedmodel(saved_dir: str, model, spec, module=None, batch=None, expected=None) -> float:
    """The reloaded SavedModel against the built model on a random batch (``batch`` and the model's
    ``expected`` outputs on it, when the caller has them); the max abs diff."""
    if batch is None:
        batch = random_batch(spec)
    seeds = seed_state_indices(model)
    if expected is None:
        expected = expected_outputs(model, spec, module, batch)
    loaded = tf.saved_model.load(saved_dir)
    fix_seeds(loaded.variables_, seeds)  # the module tracks model.variables, in order
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in batch.items()})
    worst = 0.0
    for name in spec.outputs:
        if name not in got:
            raise ExportError(f"reloaded SavedModel has no output '{name}' (has {sorted(got)})")
        diff = float(np.max(np.abs(np.asarray(got[name]) - np.asarray(expected[name])))) if np.size(got[name]) else 0.0
        worst = max(worst, diff)
    if not worst <= TOLERANCE:
        raise _differs("reloaded SavedModel", f"max abs diff {worst:.3g} > {TOLERANCE:g}", spec)
    return worst


def export(model, spec, out_dir: str, source: bytes, keras_file: str | None = None, timings=None,
           force: bool = False, targets=()) -> dict:
    """Write, verify and move into place. Returns the manifest.

    ``targets``: "onnx", "litert" (nnspec.targets): each artifact is written into the new directory
    (model.onnx, model.tflite), verified through its own runtime, and listed in the manifest with
    the converters' versions; all of them appear with the SavedModel, or none.

    ``out_dir`` is replaced only if it does not exist, is empty, or is an
    earlier nnspec output holding nothing but the files its manifest lists;
    ``keras_file`` only if it is a ``.keras`` written by nnspec (or ``force``).
    Otherwise ``fsutil.Refused`` is raised and nothing is touched. A
    ``keras_file`` inside ``out_dir`` is written into the new directory before
    the swap, so the two appear together; one elsewhere is renamed into place
    right after the swap, and a failure there swaps the old directory back."""
    import time
    timings = timings if timings is not None else {}
    out_dir = os.path.abspath(out_dir)
    parent, base = os.path.split(out_dir)
    fsutil.check_output_dir(out_dir, spec.file)
    keras_rel = None
    if keras_file:
        shown_keras = keras_file
        keras_file = os.path.abspath(keras_file)
        if os.path.realpath(keras_file) == os.path.realpath(out_dir):
            raise fsutil.Refused(f"--keras {shown_keras} is the output directory itself; hint: give a file name "
                                 "such as model.keras")
        keras_rel = fsutil.relative_inside(keras_file, out_dir)
        if keras_rel is None:
            fsutil.check_keras_file(keras_file, spec.file, force)
        elif not keras_file.endswith(".keras"):
            raise fsutil.Refused(f"--keras {shown_keras} does not end in .keras; hint: name it e.g. model.keras")
    target_files = {t: TARGETS[t].file for t in targets}
    if keras_rel is not None and keras_rel.replace(os.sep, "/") in target_files.values():
        raise fsutil.Refused(f"--keras {shown_keras} would overwrite the {keras_rel} that --"
                             f"{next(t for t, f in target_files.items() if f == keras_rel)} writes; hint: give "
                             "another name")
    sure = stochastic_layers(spec)[0] if targets else []
    if sure:
        raise ExportError(f"layer{'s' if len(sure) > 1 else ''} {', '.join(repr(s) for s in sure)} draw random "
                          f"numbers at inference, which {' and '.join(TARGETS[t].title for t in targets)} cannot "
                          "replay as TensorFlow draws them, so nnspec cannot verify the export; hint: leave out "
                          + " and ".join(f"--{t}" for t in targets))
    created = fsutil.makedirs(parent)
    tmp = keras_tmp = None
    done = False
    try:
        fsutil.clean_debris(parent, base, target=out_dir)
        tmp = fsutil.Temp(parent, base, directory=True)
        if keras_file and keras_rel is None:
            kparent, kbase = os.path.split(keras_file)
            created += fsutil.makedirs(kparent)
            fsutil.clean_debris(kparent, kbase)
            keras_tmp = fsutil.Temp(kparent, kbase, directory=False, suffix=".keras")

        t = time.perf_counter()
        stage = os.path.join(tmp.path, ".nnspec-stage")
        os.mkdir(stage)
        spec_copy = os.path.join(stage, os.path.basename(spec.file) or "spec.yaml")
        with open(spec_copy, "wb") as f:
            f.write(source)
        module = serving_module(model, spec)
        module.nnspec_spec = tf.saved_model.Asset(spec_copy)
        try:
            tf.saved_model.save(module, tmp.path,
                                signatures={"serving_default": module.serve.get_concrete_function()})
        except tf.errors.OpError as e:
            raise ExportError(f"cannot write the SavedModel {_tf_reason(e)}; hint: check the free space and "
                              f"permissions of {parent}") from None
        if keras_file:
            keras_path = os.path.join(tmp.path, keras_rel) if keras_rel else keras_tmp.path
            if keras_rel:
                if os.path.lexists(keras_path):
                    raise fsutil.Refused(f"--keras {shown_keras} would overwrite a file of the SavedModel itself; "
                                         "hint: give another name")
                os.makedirs(os.path.dirname(keras_path), exist_ok=True)
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # saved whole, reloads without warnings
            try:
                model.save(keras_path, overwrite=True)
            except OSError as e:
                if e.filename is None:  # Keras's own open() does not say which file
                    e.filename = keras_path if keras_rel else keras_file
                raise
            with zipfile.ZipFile(keras_path, "a") as z:  # the mark that lets a later compile replace it
                z.writestr(fsutil.KERAS_MARK, json.dumps({
                    "written_by": fsutil.WRITTEN_BY, "nnspec": __version__, "model": spec.name,
                    "spec_sha256": hashlib.sha256(source).hexdigest()}))
        timings["export"] = time.perf_counter() - t

        t = time.perf_counter()
        batch = random_batch(spec)
        expected = expected_outputs(model, spec, module, batch)
        diff = verify_savedmodel(tmp.path, model, spec, batch=batch, expected=expected)
        if keras_file:
            verify_keras_file(keras_path, model, spec)
        timings["verify"] = time.perf_counter() - t

        written = {}
        for target in targets:
            t = time.perf_counter()
            path = os.path.join(tmp.path, target_files[target])
            try:
                export_targets.write(target, model, spec, module, path, os.path.join(stage, "tmp"))
                timings[f"export {target}"] = time.perf_counter() - t
                t = time.perf_counter()
                checked = export_targets.verify(target, path, spec, batch, expected)  # the SavedModel's batch
            except export_targets.TargetError as e:
                raise ExportError(str(e)) from None
            timings[f"verify {target}"] = time.perf_counter() - t
            written[target] = {"file": target_files[target], **export_targets.versions(target),
                               **({"opset": export_targets.ONNX_OPSET} if target == "onnx" else {}),
                               "verified_with": TARGETS[target].runtime, "tolerance": export_targets.TOLERANCE,
                               **checked}

        manifest = manifest_for(spec, model, source, diff)
        manifest["variables_bytes"] = variables_nbytes(tmp.path)
        manifest["weights_bytes"] = weights_nbytes(model)
        if written:
            manifest["targets"] = written
        os.makedirs(os.path.join(tmp.path, "assets", "nnspec"), exist_ok=True)
        shutil.copyfile(spec_copy, os.path.join(tmp.path, "assets", "nnspec", os.path.basename(spec_copy)))
        shutil.rmtree(stage)
        manifest["files"] = sorted(set(fsutil.list_files(tmp.path)) | {MANIFEST.replace(os.sep, "/")})
        with open(os.path.join(tmp.path, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        fsutil.apply_umask(tmp.path)
        if keras_tmp:
            os.chmod(keras_tmp.path, fsutil.file_mode())
        with _locked(out_dir):
            # again: the directory (or the .keras) may have changed while this compile ran
            fsutil.check_output_dir(out_dir, spec.file)
            if keras_tmp:
                fsutil.check_keras_file(keras_file, spec.file, force)
            undo = _swap_into_place(tmp.path, out_dir)  # tmp.path now holds the previous version, if any
            if keras_tmp:
                try:
                    os.replace(keras_tmp.path, keras_file)
                except BaseException:
                    undo()
                    raise
                keras_tmp.path = None
        done = True
        return manifest
    finally:
        if tmp:
            tmp.release()
        if keras_tmp:
            keras_tmp.release()
        if not done:
            fsutil.remove_dirs(created)


def _tf_reason(e) -> str:
    """The reason in a TensorFlow I/O error, without its op and temporary-file decoration:
    '{{function_node ...}} /path/.x.nnspec-tmp-1-a/variables/...; No space left on device [Op:SaveV2]'."""
    import re
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(e.message)).strip()
    text = re.sub(r"\s*\[Op:\w+\]$", "", text)
    where, sep, reason = text.rpartition("; ")
    return f"{fsutil.user_path(where)}: {reason}" if sep and fsutil.TMP_TAG in where else text


def verify_keras_file(path: str, model, spec) -> None:
    batch = model_inputs(spec, random_batch(spec, seed=1))
    reloaded = keras.models.load_model(path)
    seeds = seed_state_indices(model)
    fix_seeds(model.variables, seeds)
    a = model(batch, training=False)
    fix_seeds(reloaded.variables, seed_state_indices(reloaded))
    b = reloaded(batch, training=False)
    for name in spec.outputs:
        diff = float(np.max(np.abs(np.asarray(a[name]) - np.asarray(b[name])))) if np.size(a[name]) else 0.0
        if not diff <= TOLERANCE:
            raise _differs("reloaded .keras file", f"{diff:.3g} on '{name}'", spec)


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


def _swap_into_place(new_dir: str, out_dir: str):
    """Move ``new_dir`` to ``out_dir``; afterwards ``new_dir`` holds the previous
    ``out_dir`` (if there was one) for the caller to remove. Returns a function
    that undoes the move."""
    if not os.path.lexists(out_dir):
        os.rename(new_dir, out_dir)
        return lambda: os.rename(out_dir, new_dir)
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        raise fsutil.Refused(f"{out_dir} exists and is not a directory; not replacing it")
    if _renameat2_exchange(new_dir, out_dir):
        return lambda: _renameat2_exchange(new_dir, out_dir)
    old = new_dir + ".old"  # non-atomic fallback; a leftover .old is put back by the next compile

    def swap():
        os.rename(out_dir, old)
        os.rename(new_dir, out_dir)
        os.rename(old, new_dir)
    swap()
    return swap
