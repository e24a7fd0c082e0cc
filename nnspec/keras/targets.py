"""ONNX and LiteRT artifacts beside the SavedModel, each verified through its own runtime.

``write(target, model, spec, module, path)`` converts: ONNX with tf2onnx from the SavedModel's own
serving function (the spec's input and output names, a dynamic batch and the spec's unknown axes
kept), LiteRT with Keras's ``model.export(format="litert")`` (the TFLite converter run on nnspec's
SavedModel silently drops the weights; Keras's export keeps them). ``verify(target, path, spec,
batch, expected)`` runs the batch through ONNX Runtime / the LiteRT interpreter, checks the names
through the runtime's own API, and compares each output with the in-memory model's: at most
``TOLERANCE`` (absolute, float32). Both run inside nnspec's temporary output directory: whatever a
converter leaves (Keras's LiteRT export writes a temporary SavedModel) goes with it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile

import numpy as np

from ..targets import TARGETS

TOLERANCE = 1e-4
ONNX_OPSET = 17


class TargetError(Exception):
    """A conversion or a verification failed; the message says which and why."""


@contextlib.contextmanager
def temp_dir_inside(path: str):
    """Python's temporary files (a converter's) go under ``path`` for the duration."""
    os.makedirs(path, exist_ok=True)
    old = tempfile.tempdir
    tempfile.tempdir = path
    try:
        yield
    finally:
        tempfile.tempdir = old


def versions(target: str) -> dict:
    """The versions of the converter and of the runtime that checked the artifact, by package."""
    import importlib.metadata as md

    import keras
    import tensorflow as tf
    if target == "onnx":
        return {"converter": {"tf2onnx": md.version("tf2onnx"), "onnx": md.version("onnx")},
                "runtime": {"onnxruntime": md.version("onnxruntime")}}
    return {"converter": {"keras": keras.__version__, "tensorflow": tf.__version__},
            "runtime": {"ai-edge-litert": md.version("ai-edge-litert")}}


@contextlib.contextmanager
def quiet_stderr():
    """Native libraries' lines on file descriptor 2 (the LiteRT interpreter's "Created TensorFlow Lite
    XNNPACK delegate") go nowhere for the duration."""
    import sys
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def write(target: str, model, spec, module, path: str, scratch: str) -> None:
    with temp_dir_inside(scratch):
        if target == "onnx":
            _write_onnx(module, spec, path)
        else:
            _write_litert(model, path)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _write_onnx(module, spec, path: str) -> None:
    import tensorflow as tf
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    import tf2onnx
    signature = [tf.TensorSpec((None,) + tuple(spec.inputs[n].shape[1:]), spec.inputs[n].dtype, name=n)
                 for n in spec.inputs]
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            tf2onnx.convert.from_function(module.serve, input_signature=signature, opset=ONNX_OPSET,
                                          output_path=path)
    except Exception as e:  # tf2onnx raises plain exceptions of many kinds
        raise TargetError(f"tf2onnx cannot convert the model to ONNX: {type(e).__name__}: {_first_line(e)}") from None


def _write_litert(model, path: str) -> None:
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            model.export(path, format="litert", verbose=False)
    except Exception as e:
        raise TargetError(f"Keras cannot export the model to LiteRT: {type(e).__name__}: {_first_line(e)}") from None


def _compare(what: str, got: dict, expected, spec) -> float:
    worst = 0.0
    for name in spec.outputs:
        a, b = np.asarray(got[name]), np.asarray(expected[name])
        if a.shape != b.shape:
            raise TargetError(f"{what} gives output '{name}' of shape {a.shape}, the built model {b.shape}")
        diff = float(np.max(np.abs(a.astype("float64") - b.astype("float64")))) if a.size else 0.0
        if not diff <= TOLERANCE:
            raise TargetError(f"{what} differs from the built model on '{name}': max abs diff {diff:.3g} > "
                              f"{TOLERANCE:g}")
        worst = max(worst, diff)
    return worst


def _names(what: str, kind: str, got, want) -> None:
    if sorted(got) != sorted(want):
        raise TargetError(f"{what} has {kind} {sorted(got)}, not the spec's {sorted(want)}")


def verify(target: str, path: str, spec, batch: dict, expected) -> dict:
    """Run ``batch`` through the target's runtime; what the manifest records of the check."""
    return (_verify_onnx if target == "onnx" else _verify_litert)(path, spec, batch, expected)


def _dynamic_axes(spec) -> dict:
    """Input name -> the axes the spec leaves unknown (the batch, and null sizes)."""
    return {n: [i for i, d in enumerate(inp.shape) if d is None] for n, inp in spec.inputs.items()}


def _verify_onnx(path, spec, batch, expected) -> dict:
    import onnxruntime as ort
    what = "the ONNX model in ONNX Runtime"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise TargetError(f"ONNX Runtime cannot load the ONNX model: {_first_line(e)}") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    _names(what, "inputs", [i.name for i in inputs], spec.inputs)
    _names(what, "outputs", [o.name for o in outputs], spec.outputs)
    dynamic = _dynamic_axes(spec)
    for i in inputs:
        fixed = [a for a in dynamic[i.name] if a < len(i.shape) and isinstance(i.shape[a], int)]
        if fixed:
            raise TargetError(f"{what} fixes axis {fixed[0]} of input '{i.name}' ({i.shape}), which the spec "
                              "leaves unknown")
    try:
        got = dict(zip([o.name for o in outputs], session.run(None, batch)))
    except Exception as e:
        raise TargetError(f"ONNX Runtime cannot run the ONNX model: {_first_line(e)}") from None
    return {"dynamic_axes": {n: a for n, a in dynamic.items() if a},
            "verified_max_abs_diff": _compare(what, got, expected, spec)}


def litert_interpreter(path: str):
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_path=path)


def _verify_litert(path, spec, batch, expected) -> dict:
    what = "the LiteRT model in the LiteRT interpreter"
    try:
        with quiet_stderr():
            interpreter = litert_interpreter(path)
        (key, sig), = interpreter.get_signature_list().items()
    except Exception as e:
        raise TargetError(f"the LiteRT interpreter cannot load the model: {_first_line(e)}") from None
    _names(what, "inputs", sig["inputs"], spec.inputs)
    _names(what, "outputs", sig["outputs"], spec.outputs)
    runner = interpreter.get_signature_runner(key)
    dynamic = _dynamic_axes(spec)
    kept = {}
    for name, detail in runner.get_input_details().items():
        shape = list(detail["shape_signature"])
        kept[name] = [a for a in dynamic[name] if a < len(shape) and shape[a] == -1]
    try:
        with quiet_stderr():
            got = runner(**batch)  # the runner resizes each input to the batch's shape
    except Exception as e:
        raise TargetError(f"the LiteRT interpreter cannot run the model: {_first_line(e)}") from None
    return {"dynamic_axes": {n: a for n, a in kept.items() if a},
            **({"fixed_axes": {n: [a for a in dynamic[n] if a not in kept[n]] for n in dynamic
                               if set(dynamic[n]) - set(kept[n])}} if any(set(dynamic[n]) - set(kept[n])
                                                                          for n in dynamic) else {}),
            "verified_max_abs_diff": _compare(what, got, expected, spec)}
