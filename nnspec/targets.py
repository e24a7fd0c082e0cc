"""The export targets beside the SavedModel: what each needs installed, and which layers it cannot take.

``nnspec compile --onnx`` writes ``model.onnx`` into the output directory (tf2onnx, checked through
ONNX Runtime), ``--litert`` writes ``model.tflite`` (Keras's LiteRT export, checked through the
LiteRT interpreter of ai-edge-litert). What a target cannot take is per-op knowledge, kept in the op
records (``Op.unsupported_targets``): ``check`` finds those layers before anything is built, as
``nnspec validate --target onnx`` does. No TensorFlow here: this is on the validate path.
"""
from __future__ import annotations

import importlib.util

from . import codes
from .diagnostics import Diagnostic
from .record import record


@record(frozen=True)  # not a typing.NamedTuple: importing typing is 3-5 ms of validate's start-up
class Target:
    name: str  # as in --target and Op.unsupported_targets
    title: str
    file: str  # the artifact's name inside the output directory
    extra: str  # pip install 'nnspec[<extra>]'
    modules: tuple  # the importable modules it needs: (module, pip package)
    runtime: str  # what verifies it


TARGETS = {
    "onnx": Target("onnx", "ONNX", "model.onnx", "onnx",
                   (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
                   "ONNX Runtime (onnxruntime.InferenceSession)"),
    "litert": Target("litert", "LiteRT", "model.tflite", "litert", (("ai_edge_litert", "ai-edge-litert"),),
                     "the LiteRT interpreter (ai_edge_litert.interpreter.Interpreter)"),
}


def missing_packages(target: str) -> list[str]:
    """The pip packages ``target`` needs that are not installed."""
    return [pkg for module, pkg in TARGETS[target].modules if importlib.util.find_spec(module) is None]


def missing_message(target: str) -> str | None:
    """The error for a target whose extra is not installed, or None."""
    missing = missing_packages(target)
    if not missing:
        return None
    t = TARGETS[target]
    return (f"--{target} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            f"hint: pip install 'nnspec[{t.extra}]'")


def reason(op, args: dict, in_shapes, target: str) -> str | None:
    """Why ``op`` with these args, on inputs of these shapes, cannot go to ``target``; None if it can."""
    rule = op.unsupported_targets.get(target)
    if rule is None or isinstance(rule, str):
        return rule
    return rule(args, in_shapes)


def unsupported(spec, target: str):
    """(node, op name, why) of every layer of ``spec`` (a wrapped layer counts) that ``target`` cannot take."""
    from .ops import CATALOG, layered
    for node in spec.nodes:
        if node.reuse:
            continue
        in_shapes = [spec.shapes.get(r) for r in node.inputs]
        for op_name, args in layered(node.op, node.args):
            op = CATALOG.get(op_name)
            why = reason(op, op.fill(args) if op_name != node.op else args, in_shapes, target) if op else None
            if why:
                yield node, op_name, why
                break


def check(spec, targets) -> list[Diagnostic]:
    """An unsupported-target error for each layer a chosen target cannot take."""
    out = []
    for target in targets:
        t = TARGETS[target]
        for node, op_name, why in unsupported(spec, target):
            inner = f" (its {op_name})" if op_name != node.op else ""
            out.append(Diagnostic(
                codes.UNSUPPORTED_TARGET, f"layer '{node.name}'{inner} cannot be exported to {t.title} "
                f"(--{target}): {why}", node.span,
                f"change or replace the layer (the README's table of targets lists what each lacks), or leave "
                f"out --{target}"))
    return out


def lacks(target: str) -> str:
    """What ``target`` cannot take, as the README's table of targets says it: "GRU, LSTM, TimeDistributed
    (on an unknown time axis)" (a rule that depends on the arguments or shapes says when, ``rule.when``).
    A wrapper (Bidirectional) goes where the layer it wraps goes."""
    from .ops import CATALOG
    out = []
    for name in unsupported_ops(target):
        rule = CATALOG[name].unsupported_targets[target]
        out.append(name if isinstance(rule, str) else f"{name} ({rule.when})")
    return ", ".join(out)


def unsupported_ops(target: str) -> list[str]:
    """The op names whose record lists ``target`` (always, or for some arguments or input shapes)."""
    from .ops import CATALOG
    return sorted(name for name, op in CATALOG.items() if target in op.unsupported_targets)
