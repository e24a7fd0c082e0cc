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
# (compiled when first used, by re, which caches it: --skip-non-specs only)
_SPEC_KEY = rb"""(?m)^(\xef\xbb\xbf)?\{?[ \t]*(nnspec|"nnspec"|'nnspec')[ \t]*:"""


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
    return re.search(_SPEC_KEY, head) is not None


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


def build(spec, strategy=None, compile: bool = True, allow_import=(), weights=None):
    """A compiled keras.Model from a spec path (or a loaded Spec), ready for fit().

    ``allow_import``: for a path, the modules you allow `custom:` objects from (a loaded
    Spec keeps the ones given to ``load``). ``weights``: a .keras or .weights.h5 file whose
    weights it starts from, by layer name (default: the spec's `weights:`, as `nnspec compile`
    loads it); a mismatch raises SpecError with one diagnostic per layer, a file that cannot be read
    CompileError (as `nnspec.compile` does). Imports TensorFlow; ``load`` and ``validate`` do not."""
    from .keras.build import build as _build
    if not hasattr(spec, "nodes"):
        spec = load(spec, allow_import=allow_import)
    path, span, refused = weights_file(spec, weights)
    if refused is not None:
        raise SpecError([refused])
    model = _build(spec, strategy=strategy, compile=compile)
    if path is not None:
        load_weights(model, spec, path, span)
    return model


class CompileError(Exception):
    """``compile`` failed for a reason the user can act on, and wrote nothing: ``str(e)`` is the one
    line to print (with its hint). ``usage``: the request itself was wrong (a flag, an extra not
    installed), which the command line exits 2 for."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def compile_request_error(keras_file: str | None = None, targets=()) -> str | None:
    """What is wrong with a compile request before any spec is read, or None: a ``keras_file`` Keras
    would not write, a target whose extra is not installed."""
    if keras_file and not os.fspath(keras_file).endswith(".keras"):
        return (f"--keras {keras_file} does not end in .keras; Keras writes that format only; "
                "hint: name it e.g. model.keras")
    from .targets import missing_message
    for target in targets:
        missing = missing_message(target)
        if missing:
            return missing
    return None


def _timed(progress, label):
    import contextlib

    @contextlib.contextmanager
    def block():
        t = time.perf_counter()
        yield
        if progress is not None:
            progress(f"{label} {fmt_seconds(time.perf_counter() - t)}")
    return block()


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def compile(spec, output, *, keras_file=None, targets=(), weights=None, force: bool = False, raw=None,
            allow_import=(), progress=None, timings: dict | None = None, on_warnings=None) -> dict:
    """What `nnspec compile` does: build ``spec`` (a path, or a loaded Spec with its source bytes
    ``raw``) in Keras, start it from ``weights`` (default: the spec's `weights:`), and write the
    SavedModel into the directory ``output`` (with ``keras_file`` and the ``targets`` "onnx" and
    "litert" beside it), each reloaded and verified before it is moved into place: every artifact,
    or none. ``output`` is replaced only if it is new, empty, or an earlier compile's (its manifest
    proves it); ``force`` lets ``keras_file`` replace a file nnspec did not write.

    Returns the manifest. ``progress(line)`` gets a line per stage with its time; ``timings`` is
    filled with the export and verify stages' seconds; ``on_warnings(diagnostics)`` gets the warnings
    of loading the weights (layers the file does not have, ...). Raises SpecError (diagnostics: an invalid
    spec, weights that do not fit) or CompileError (one line: a refused path, a failed export)."""
    problem = compile_request_error(keras_file, targets)
    if problem:
        raise CompileError(problem, usage=True)
    if not hasattr(spec, "nodes"):
        path = os.fspath(spec)
        raw, diags = read_spec(path)
        if raw is None:
            raise SpecError(diags)
        spec = load(path, allow_import=allow_import)
    elif raw is None:
        raise ValueError("compile needs the spec's source bytes (raw=) with a loaded Spec: the manifest keeps them")
    from . import fsutil
    try:  # refuse before loading TensorFlow; export checks again just before the swap
        fsutil.check_output_dir(output, spec.file)
        if keras_file and fsutil.relative_inside(keras_file, output) is None:
            fsutil.check_keras_file(keras_file, spec.file, force)
    except fsutil.Refused as e:
        raise CompileError(str(e)) from None
    file, span, refused = weights_file(spec, weights)
    if refused is not None:
        raise SpecError([refused])
    with _timed(progress, "load tensorflow"):
        from .keras.build import build as _build
        from .keras.export import ExportError, export
    try:
        with _timed(progress, "build"):
            model = _build(spec)
    except Exception as e:
        if not spec.custom_modules:
            raise  # a valid spec that Keras cannot build is a bug in nnspec
        raise CompileError(f"building the model failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}; "
                           f"hint: the spec uses custom objects from {', '.join(spec.custom_modules)}, which may "
                           "be the cause") from None
    if file is not None:
        load_weights(model, spec, file, span, progress, require_some=True, on_warnings=on_warnings)
    left = f" ({output} was left as it was)"
    try:
        return export(model, spec, output, raw, keras_file=keras_file, timings=timings if timings is not None else {},
                      force=force, targets=tuple(targets))
    except fsutil.Refused as e:
        raise CompileError(str(e)) from None
    except ExportError as e:
        what, _, hint = str(e).partition("; hint: ")
        raise CompileError(what + left + (f"; hint: {hint}" if hint else "")) from None
    except OSError as e:
        raise CompileError(fsutil.explain(e, output, left)) from None


def load_weights(model, spec, path, span, progress=None, require_some: bool = False, on_warnings=None) -> None:
    """Load the initial weights in ``path`` into ``model`` by layer name. Raises SpecError with the
    diagnostics of layers that do not fit, or CompileError when the file cannot be read or (with
    ``require_some``) no layer took weights from it; ``on_warnings(diagnostics)`` gets the others."""
    from .keras.weights import WeightsError, load_initial_weights
    try:
        with _timed(progress, "weights"):
            result = load_initial_weights(model, spec, path, span)
    except (WeightsError, OSError) as e:
        raise CompileError(f"cannot read weights from {path}: {e}") from None
    if has_errors(result.diagnostics):
        raise SpecError(result.diagnostics)
    if result.diagnostics and on_warnings is not None:
        on_warnings(result.diagnostics)
    if require_some and not result.loaded:
        raise CompileError(f"no layer of the model took weights from {path}; hint: the spec's layer names "
                           "(and, for a .weights.h5 file, their types and order) must be those of the saved model")
    if progress is not None and result.loaded:
        kept = ", ".join(result.kept)
        progress(f"weights: {len(result.loaded)} layer(s) loaded from {path}" +
                 (f"; keep their initialisers (not in the file): {kept}" if kept else ""))


def bounds(model, box: dict | None = None, method: str = "crown", weights=None, allow_import=()) -> dict:
    """The range of every output of a network over a box of inputs (`nnspec bounds`).

    ``model``: a keras.Model, a nnspec.bounding.net.Net (numpy records), a ``.keras`` file (from
    ``nnspec compile --keras`` or plain Keras), or a spec path with ``weights`` (default: the spec's
    `weights:`). ``box``: input name -> (lo, hi), each
    a number or an array of the input's shape (without the batch axis); an input a spec gives a
    `range: [lo, hi]` may be left out. ``method``: "crown" (the default: backward linear relaxation,
    intersected with interval arithmetic), "ibp" (interval arithmetic) or "exact" (a mixed-integer
    linear program over the ReLUs; needs scipy, the `bounds` extra).

    Returns ``{"method": method, "outputs": {name: {"lower": array, "upper": array}}}``, arrays of
    the output's shape without the batch axis, and for "exact" also ``"witnesses": {"lower": [...],
    "upper": [...]}``, per output element in row-major order an input ({input name: array}) in the
    box at which the network attains that bound. Every failure a user can cause raises SpecError
    with one diagnostic (an unsupported layer, an input without a box, a bad box, a network "exact"
    cannot take, scipy missing). Loading a model imports TensorFlow; the bounds themselves do not."""
    from .bounding import NotExact, Unsupported
    from .bounding.compute import METHODS, compute
    from .bounding.keras_layers import supported
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    where = Span(os.fspath(model) if isinstance(model, (str, os.PathLike)) else "<model>")

    def fail(code, message, hint, span=where):
        raise SpecError([Diagnostic(code, message, span, hint)])

    net, ranges = None, {}
    try:
        net, ranges = _bounds_net(model, weights, allow_import, where, fail)
    except Unsupported as e:
        fail(codes.BOUNDS_UNSUPPORTED, f"cannot bound layer {e.layer!r} of type {e.kind}"
             + (f": {e.why}" if e.why else "") + f"; bounds supports {', '.join(supported())}",
             "replace the layer, or bound the model up to it (a sub-model ending before it)")
    flat = _bounds_box(net, box or {}, ranges, fail)
    try:
        outputs = compute(net, flat, method)
    except NotExact as e:
        fail(codes.BOUNDS_NOT_EXACT, f"--method exact needs a piecewise-linear network, but layer {e.layer!r} "
             f"applies {e.what}", "use --method crown (sound bounds, not exact) for this network")
    except ImportError as e:
        fail(codes.MISSING_EXTRA, f"{e}", "pip install 'nnspec[bounds]' (numpy and scipy)")
    return {"method": method, "outputs": outputs}


def _bounds_net(model, weights, allow_import, where, fail):
    """(net, {input name: (lo, hi) of its spec's range:})."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        fail(codes.MISSING_EXTRA, "nnspec bounds needs numpy", "pip install 'nnspec[bounds]'")
    from .bounding.keras_layers import from_keras
    from .bounding.net import Net
    if isinstance(model, Net):
        return model, {}
    if not isinstance(model, (str, os.PathLike)):
        return from_keras(model), {}
    path = os.fspath(model)
    if not os.path.isfile(path):
        fail(codes.UNREADABLE, f"no such file: {path}", "give a .keras file, or a spec with --weights")
    if not path.endswith(SPEC_SUFFIXES):
        if not path.endswith(".keras"):
            fail(codes.UNREADABLE, f"{path} is neither a .keras file nor a spec ({', '.join(SPEC_SUFFIXES)})",
                 "give a .keras file (from nnspec compile --keras or model.save), or a spec with --weights")
        from .keras.importer import ModelImportError, load_model_ref
        try:
            keras_model = load_model_ref(path, allow_import)
        except (ModelImportError, OSError, ValueError) as e:
            fail(codes.UNREADABLE, f"cannot load the model: {e}", "is it a Keras 3 .keras file?")
        return from_keras(keras_model), {}
    spec = load(path, allow_import=allow_import)
    file, span, refused = weights_file(spec, weights)
    if refused is not None:
        raise SpecError([refused])
    if file is None:
        fail(codes.BOUNDS_NO_WEIGHTS, "the spec has no weights: its bounds would be those of random initial "
             "weights", "give the trained weights with --weights FILE (a .keras or .weights.h5 file)")
    keras_model = build(spec, compile=False, weights=file)
    ranges = {name: (inp.range, inp.range_span) for name, inp in spec.inputs.items()
              if getattr(inp, "range", None) is not None}
    return from_keras(keras_model), ranges


def _bounds_box(net, box: dict, ranges: dict, fail) -> dict:
    import numpy as np
    unknown = sorted(set(box) - set(net.inputs))
    if unknown:
        fail(codes.BOUNDS_BAD_BOX, f"--box {unknown[0]}: the model has no input of that name (its inputs: "
             f"{', '.join(net.inputs)})", "name one of the model's inputs")
    out = {}
    for name, k in net.inputs.items():
        shape = net.nodes[k].shape
        if name in box:
            given = box[name]
        elif name in ranges:
            given = ranges[name][0]
        else:
            fail(codes.BOUNDS_NO_BOX, f"input {name!r} has no box: its bounds need the range of every input",
                 f"give one: --box {name}=LO:HI (every element in [LO, HI]) or --box {name}=FILE.npz (arrays lo "
                 "and hi), or range: [LO, HI] on the spec's input")
        try:
            lo, hi = given
            lo = np.broadcast_to(np.asarray(lo, np.float64), shape)
            hi = np.broadcast_to(np.asarray(hi, np.float64), shape)
        except (TypeError, ValueError):
            fail(codes.BOUNDS_BAD_BOX, f"the box of input {name!r} is not (lo, hi) numbers or arrays that "
                 f"broadcast to its shape {shape}", f"give --box {name}=LO:HI, or arrays lo and hi of shape {shape}")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            fail(codes.BOUNDS_BAD_BOX, f"the box of input {name!r} is not finite", "give finite bounds")
        if (lo > hi).any():
            i = np.unravel_index(np.argmax(lo > hi), shape)
            fail(codes.BOUNDS_BAD_BOX, f"the box of input {name!r} has lo > hi (at element {[int(v) for v in i]}: "
                 f"{lo[i]:g} > {hi[i]:g})", "give lo <= hi")
        out[name] = (lo, hi)
    return out
