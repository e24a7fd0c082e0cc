"""The Python API. The CLI is a thin shell over these functions.

    spec = nnspec.load("specs/lab_quake.yaml")     # validated IR; raises SpecError
    diags = nnspec.validate("specs/lab_quake.yaml") # every diagnostic, never raises for user errors

``budget`` (every function): None checks the spec's own ``budget:`` (an ``over-budget`` error for
each limit exceeded); a dict adds limits over the spec's, as the command line's flags do
(``{"params": "5M", "macs": 10**9, "activation_memory": "2GiB", "batch_size": 8}``, named by their
flag in messages; a bad value raises ValueError); False checks none (summary, graph and diff show
the figures whatever the budget).

``allow_import`` (every function): the modules you, the caller, allow `custom:`
references to import; the only permission there is (a spec's
``requires_import`` declares, it does not allow). The API reads no config
file; to use the one the command line reads, pass
``allow_import=nnspec.config.allowed_imports()[0]``.

Nothing here imports TensorFlow or Keras.
"""
from __future__ import annotations

import os
import re
import time

from . import budget as _budget
from . import codes, schema
from .diagnostics import Diagnostic, Span, SpecError, has_errors
from .ir import Spec
from .passes import blocks, resolve, shapes
from .source import load_any
from .source.yaml_loader import MAX_BYTES

SPEC_SUFFIXES = (".yaml", ".yml", ".nns")


def check_text(raw: bytes | str, file: str = "<string>", timings: dict | None = None, allow_import=(),
               budget=None, freeze=(), targets=()) -> tuple[Spec | None, list[Diagnostic]]:
    """Every stage up to static shapes, and the budget. Returns (IR or None, diagnostics).
    ``timings``, if given, receives seconds per stage (parse, validate). ``freeze``: names of layers
    or top-level block calls to freeze, as `trainable: false` on them would (``--freeze``).
    ``targets``: export targets ("onnx", "litert": nnspec.targets) whose unsupported layers are errors."""
    if budget:
        _budget.merge({}, budget, file)  # a bad limit of the caller's: ValueError, before any work
    allow_import = (allow_import,) if isinstance(allow_import, str) else tuple(allow_import or ())
    t0 = time.perf_counter()
    doc, diags = load_any(raw, file)
    if timings is not None:
        timings["parse"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    try:
        return _check_doc(doc, diags, file, allow_import, budget, freeze, targets)
    finally:
        if timings is not None:
            timings["validate"] = time.perf_counter() - t0


def _check_doc(doc, diags, file, allow_import=(), budget=None, freeze=(), targets=()):
    if doc is None:
        return None, diags
    if doc.data is None:
        return None, [Diagnostic(codes.EMPTY_SPEC, "the spec is empty", Span(file, 1, 1),
                                 "start with nnspec: 1, name:, inputs:, layers:, outputs:")]
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        return None, [Diagnostic(codes.NOT_A_MAPPING, f"a spec is a mapping of keys; this document is {kind}",
                                 doc.span(()), "start with nnspec: 1, name:, inputs:, layers:, outputs:")]
    diags = blocks.check_layer_count(doc) or schema.check(doc)
    if has_errors(diags):
        return None, diags
    if blocks.needs_expansion(doc.data):
        doc, diags = blocks.expand(doc)
        if has_errors(diags):
            return None, _sorted(diags)
        diags = schema.check(doc)  # the expanded layers, with their arguments substituted
        if has_errors(diags):
            return None, diags
    spec, diags = resolve.build_ir(doc, allow_import)
    if freeze and not has_errors(diags):
        diags += resolve.freeze(spec, freeze, file)
    if has_errors(diags):
        return spec, _sorted(diags)
    diags += shapes.infer(spec)
    if budget is not False and not has_errors(diags):
        limits = _budget.merge(spec.budget, budget or None, file)
        if limits:
            diags += _budget.check(spec, limits)
    if targets and not has_errors(diags):
        from . import targets as _targets
        diags += _targets.check(spec, targets)
    return spec, _sorted(diags)


def _sorted(diags):
    return sorted(diags, key=lambda d: (d.span.file, d.span.line, d.span.col))


def read_spec(path: str | os.PathLike) -> tuple[bytes | None, list[Diagnostic]]:
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            return None, [Diagnostic(codes.FILE_TOO_LARGE, f"spec is {size:,} bytes; the limit is {MAX_BYTES:,}",
                                     Span(path), "split the spec")]
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1), []
    except OSError as e:
        return None, [Diagnostic(codes.UNREADABLE, f"cannot read the spec: {e.strerror or e}", Span(path),
                                 "check the path and its permissions")]


def check_file(path: str | os.PathLike, timings: dict | None = None, allow_import=(), budget=None, freeze=(),
               targets=()) -> tuple[Spec | None, list[Diagnostic]]:
    raw, diags = read_spec(path)
    if raw is None:
        return None, diags
    return check_text(raw, os.fspath(path), timings, allow_import, budget, freeze, targets)


def validate(path, allow_import=(), budget=None, targets=()) -> list[Diagnostic]:
    """All diagnostics for one spec file. ``targets``: export targets to check the layers against
    ("onnx", "litert"; ``nnspec validate --target``)."""
    return check_file(path, allow_import=allow_import, budget=budget, targets=targets)[1]


def load(path, allow_import=(), budget=None, freeze=()) -> Spec:
    """The validated IR of a spec; raises SpecError (with every diagnostic) if it has errors.
    ``allow_import``: module names whose objects `custom:` references may import (your permission;
    ``nnspec.build`` imports from these only). ``freeze``: layers or top-level block calls to freeze."""
    spec, diags = check_file(path, allow_import=allow_import, budget=budget, freeze=freeze)
    if spec is None or has_errors(diags):
        raise SpecError(diags)
    return spec


# a top-level `nnspec:` key at the start of a line (quoted or not, or opening a flow mapping)
_SPEC_KEY = re.compile(rb"""(?m)^(\xef\xbb\xbf)?\{?[ \t]*(nnspec|"nnspec"|'nnspec')[ \t]*:""")


def looks_like_spec(path) -> bool:
    """Is this file a spec rather than other YAML (a CI workflow, a compose file)? A .nns file is;
    a YAML file is when a line starts with its `nnspec:` key (the version every spec has), so a
    spec broken anywhere else still counts. A file that cannot be read counts (its error shows)."""
    path = os.fspath(path)
    if path.endswith(".nns"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_BYTES + 1)
    except OSError:
        return True
    return _SPEC_KEY.search(head) is not None


def find_specs(paths) -> tuple[list[str], list[str]]:
    """Expand files and directories (recursively, *.yaml / *.yml). Returns (files, missing)."""
    files, missing = [], []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(SPEC_SUFFIXES)]
        elif os.path.exists(p):
            files.append(p)
        else:
            missing.append(p)
    return files, missing


def weights_file(spec: Spec, given: str | None = None):
    """(path, span, None) of the initial weights to load: ``given`` (yours: any path), else the spec's
    `weights:`, which may name a file below the spec's own directory only (symbolic links resolved);
    (None, None, None) when there is none; (None, None, diagnostic) when the spec's is refused."""
    if given:
        return given, Span(given), None
    if not spec.weights:
        return None, None, None
    base = os.path.dirname(os.path.abspath(spec.file))
    path = os.path.join(base, spec.weights)
    real_base, real = os.path.realpath(base), os.path.realpath(path)
    span = spec.weights_span
    if os.path.commonpath([real, real_base]) != real_base:
        return None, None, Diagnostic(codes.WEIGHTS_PATH, f"weights: {spec.weights!r} leads outside the spec's "
                                      f"directory ({real}): a spec may name a weights file below its own "
                                      "directory only", span, "copy the file beside the spec, or give your own "
                                      "path with --weights FILE")
    if not os.path.isfile(real):
        return None, None, Diagnostic(codes.WEIGHTS_PATH, f"weights: no such file {spec.weights!r} (looked for "
                                      f"{path})", span, "the path is relative to the spec's directory")
    return real, span, None
