"""The `nnspec` command: a thin shell over nnspec.api.

Exit codes: 0 valid (warnings allowed unless --strict), 1 invalid spec,
2 usage error (bad flags, missing file), 3 internal error (a bug in nnspec).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

from . import __version__, api, codes, report
from .diagnostics import ERROR, WARNING, Diagnostic

from .cli_common import EXIT_BUG, EXIT_INVALID, EXIT_OK, EXIT_USAGE, write_out
from .cli_common import error as _error
from .cli_common import error as _usage_error
BUG_URL = "https://github.com/nnspec/nnspec/issues"


def _allow_import(parser) -> None:
    from .config import add_arguments
    add_arguments(parser)


def _permissions(args):
    """Modules the person running nnspec allows (flags + their pyproject.toml), or an exit code."""
    from .config import ConfigError, permissions
    try:
        return permissions(args)
    except ConfigError as e:
        return _usage_error(str(e))


def _byte_count(text: str) -> int:
    """--max-weights-bytes: an integer, with an optional K/M/G/T suffix (powers of 1024)."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        n = int(t[:-1]) * units[t[-1]] if t and t[-1] in units else int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes (e.g. 4294967296 or 4G); found {text!r}")
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be positive; found {text!r}")
    return n


def _max_weights(parser) -> None:
    parser.add_argument("--max-weights-bytes", type=_byte_count, default=None, metavar="N",
                        help="refuse a model whose weights need more than N bytes (default 2G; K/M/G/T suffixes)")


def _freeze(parser) -> None:
    parser.add_argument("--freeze", action="append", default=[], metavar="NAME",
                        help="freeze the layer or top-level block call NAME (as trainable: false on it); "
                             "repeatable")


def _weights(parser) -> None:
    parser.add_argument("--weights", metavar="FILE",
                        help="initial weights from a .keras or .weights.h5 file, by layer name (overrides the "
                             "spec's weights:)")


def _weights_file(spec, args) -> tuple[str | None, object]:
    """(the weights file to load, the span its diagnostics point at), or (None, exit code) when the
    spec's `weights:` is refused: below the spec's directory only, symbolic links resolved."""
    missing = _missing_weights(args)
    if missing is not None:
        return None, missing
    path, span, diag = api.weights_file(spec, getattr(args, "weights", None))
    if diag is not None:
        _print_diagnostics([diag])
        return None, EXIT_INVALID
    return path, span


def _missing_weights(args) -> int | None:
    """The usage error (exit 2) for a --weights FILE that does not exist, else None."""
    given = getattr(args, "weights", None)
    if given and not os.path.isfile(given):
        return _usage_error(f"--weights {given}: no such file")
    return None


class _Skipped:
    """What a subcommand's parser is when another command runs: it takes its arguments and keeps none."""

    def add_argument(self, *args, **kwargs):
        return None

    def add_mutually_exclusive_group(self, *args, **kwargs):
        return self

    add_argument_group = add_mutually_exclusive_group


class _Formatter(argparse.HelpFormatter):
    """argparse's, with the terminal's width found as shutil.get_terminal_size finds it, without
    importing shutil (argparse imports it for each parser: 2-3 ms of validate's start-up)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                columns = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                columns = 0
            if columns <= 0:
                try:
                    columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    columns = 0
            width = (columns if columns > 0 else 80) - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Only:
    """The subparsers, making only ``command``'s (all of them when it is None): building all 15
    costs 10-15 ms, most of a `nnspec validate`'s start-up budget (bench/validate_speed.py
    --startup). Each gets the formatter that leaves shutil alone."""

    def __init__(self, sub, command: str | None):
        self.sub, self.command = sub, command

    def add_parser(self, name, **kwargs):
        if self.command is not None and name != self.command:
            return _Skipped()
        return self.sub.add_parser(name, formatter_class=_Formatter, **kwargs)


COMMANDS = ("validate", "summary", "schema", "compile", "check", "inspect", "convert", "fmt", "graph", "diff",
            "import", "bounds", "ops", "explain")


def _command(argv) -> str | None:
    """The subcommand ``argv`` names, when argparse would take it as one: the first argument, a known
    command (options before it, such as --help or --version, need the whole parser)."""
    argv = sys.argv[1:] if argv is None else argv
    return argv[0] if argv and argv[0] in COMMANDS else None


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command``, the subparser of that command only (what it parses
    is the same)."""
    p = argparse.ArgumentParser(prog="nnspec", description="Declarative model specs for Keras.",
                                formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"nnspec {__version__}")
    sub = _Only(p.add_subparsers(dest="command", required=True, metavar="COMMAND"), command)

    v = sub.add_parser("validate", help="check specs (files or directories) without TensorFlow")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.add_argument("--format", choices=sorted(report.FORMATS), default="text")
    v.add_argument("--strict", action="store_true", help="warnings fail too")
    v.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    v.add_argument("--skip-non-specs", action="store_true",
                   help="skip YAML files with no top-level nnspec: line (other YAML in a repository: for "
                        "pre-commit and CI); exit 0 if no spec is left")
    from .budget import batch_size, checker
    v.add_argument("--max-params", type=checker("count"), metavar="N",
                   help="an over-budget error above N parameters (5000000, 5M; k/M/G/T: powers of 1000); "
                        "overrides the spec's budget: params")
    v.add_argument("--max-macs", type=checker("count"), metavar="N",
                   help="an over-budget error above N multiply-accumulates per example (1G)")
    v.add_argument("--max-activation-memory", type=checker("bytes"), metavar="BYTES",
                   help="an over-budget error above this much activation memory (2GiB, 512MB)")
    v.add_argument("--batch-size", type=batch_size, metavar="N",
                   help="the batch size activation memory is counted at (default: the spec's budget: "
                        "batch_size, else 1)")
    from .targets import TARGETS
    v.add_argument("--target", action="append", default=[], choices=sorted(TARGETS),
                   help="an unsupported-target error for each layer this export target (compile --onnx, "
                        "--litert) cannot take; may be given more than once")
    _allow_import(v)

    s = sub.add_parser("summary", help="layer table with static shapes and parameter counts")
    s.add_argument("path", metavar="SPEC")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("--expand", action="store_true", help="show the layers inside block calls")
    s.add_argument("--batch-size", type=int, default=1, metavar="N", help="for the activation memory (default 1)")
    _freeze(s)
    _allow_import(s)

    sc = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    sc.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")

    c = sub.add_parser("compile", help="build the Keras model and write a verified SavedModel")
    c.add_argument("path", metavar="SPEC")
    c.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="SavedModel directory; replaced atomically, and only if it is new, empty or an earlier "
                        "nnspec output")
    c.add_argument("--keras", metavar="FILE", help="also write a .keras file with the training configuration "
                                                  "(replaces only a .keras written by nnspec)")
    c.add_argument("--force", action="store_true",
                   help="let --keras replace a .keras file nnspec did not write (-o is never forced)")
    c.add_argument("--onnx", action="store_true",
                   help="also write DIR/model.onnx (tf2onnx), verified through ONNX Runtime: pip install "
                        "'nnspec[onnx]'")
    c.add_argument("--litert", action="store_true",
                   help="also write DIR/model.tflite (Keras's LiteRT export), verified through the LiteRT "
                        "interpreter: pip install 'nnspec[litert]'")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    _weights(c)
    _freeze(c)
    _allow_import(c)
    _max_weights(c)

    k = sub.add_parser("check", help="build the model and run a few training steps on synthetic data")
    k.add_argument("path", metavar="SPEC")
    k.add_argument("--train-steps", type=int, default=3, metavar="N")
    k.add_argument("--batch-size", type=int, default=8, metavar="N")
    _weights(k)
    _freeze(k)
    _allow_import(k)
    _max_weights(k)

    i = sub.add_parser("inspect", help="print the manifest of a SavedModel written by nnspec compile")
    i.add_argument("path", metavar="DIR")
    i.add_argument("--format", choices=["text", "json"], default="text")

    from . import cli_dsl, cli_import, cli_review
    cli_dsl.add_parsers(sub)
    cli_review.add_parsers(sub)
    cli_import.add_parser(sub)

    b = sub.add_parser("bounds", help="the range of every output over a box of inputs: exact (with witnesses) or "
                       "sound bounds")
    b.add_argument("path", metavar="MODEL", help="a .keras file (nnspec compile --keras or plain Keras), or a spec "
                   "with --weights")
    b.add_argument("--box", action="append", default=[], metavar="INPUT=LO:HI",
                   help="every element of INPUT in [LO, HI], or INPUT=FILE.npz with arrays lo and hi; repeatable "
                        "(default: the spec's range: on the input)")
    b.add_argument("--method", choices=["crown", "ibp", "exact"], default="crown",
                   help="crown (default: sound, backward linear relaxation), ibp (sound, interval arithmetic), "
                        "exact (mixed-integer programming over the ReLUs, with witnesses)")
    b.add_argument("--format", choices=["text", "json"], default="text")
    _weights(b)
    _allow_import(b)

    o = sub.add_parser("ops", help="list the layer types, or describe one")
    o.add_argument("name", nargs="?", metavar="TYPE")

    e = sub.add_parser("explain", help="what a diagnostic code means, with an example and its fix; "
                       "without CODE, list the codes")
    e.add_argument("code", nargs="?", metavar="CODE")
    e.add_argument("--format", choices=["text", "markdown"], default="text",
                   help="markdown: the table of every code (docs/diagnostics.md)")
    e.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    return p


_INDEX_OUT_OF_RANGE = r"indices\[[^]]*\] = (-?\d+) is not in \[0, (\d+)\)"  # compiled when needed (by re)


def run() -> None:
    """The `nnspec` command (its console script, and python -m nnspec): main(), then exit with its code.

    When nothing is left for the interpreter to do at exit (no atexit callback, no other thread), the
    process ends without the interpreter's teardown, which frees every module one by one: 7 ms of a
    `nnspec validate` whose whole budget above the interpreter and PyYAML is about 20 ms. Output is
    flushed first; a failed flush exits 120, as Python's own exit does."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    except OSError:
        code = code or 120
    import atexit
    threading = sys.modules.get("threading")
    callbacks = getattr(atexit, "_ncallbacks", None)
    if callbacks is not None and callbacks() == 0 and (threading is None or threading.active_count() == 1):
        os._exit(code)
    sys.exit(code)


def main(argv=None) -> int:
    args = None
    try:
        args = _parser(_command(argv)).parse_args(argv)
        return {"validate": cmd_validate, "summary": cmd_summary, "schema": cmd_schema, "ops": cmd_ops,
                "compile": cmd_compile, "check": cmd_check, "inspect": cmd_inspect, "explain": cmd_explain,
                "convert": _dsl, "fmt": _dsl, "import": _import,
                "graph": _review, "diff": _review, "bounds": cmd_bounds}[args.command](args)
    except KeyboardInterrupt:
        print("nnspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug in nnspec: say so, and how to report it
        index = re.search(_INDEX_OUT_OF_RANGE, str(e))
        if index and args is not None and args.command in ("check", "compile"):
            # not a bug: an Embedding computes its indices from float values (validate warned:
            # float-indices), and they left its range on nnspec's random data
            print(f"nnspec: error: {args.path}: the model fails on nnspec's random input data: an Embedding got "
                  f"index {index.group(1)}, outside [0, {index.group(2)}); its indices are computed from float "
                  "values (see validate's float-indices warning); hint: feed each Embedding integer indices "
                  "from an input with dtype: int32", file=sys.stderr)
            return EXIT_INVALID
        import platform
        print(f"nnspec: internal error: {type(e).__name__}: {e}\n"
              f"This is a bug in nnspec, not in your spec. Please report it at {BUG_URL} with the spec and this "
              f"line: nnspec {__version__}, Python {platform.python_version()}, {platform.system()}, "
              f"argv={sys.argv[1:]!r}", file=sys.stderr)
        if "NNSPEC_DEBUG" in __import__("os").environ:
            raise
        return EXIT_BUG


def _dsl(args) -> int:
    from . import cli_dsl
    return cli_dsl.run(args)


def _review(args) -> int:
    from . import cli_review
    return cli_review.run(args)


def _import(args) -> int:
    from . import cli_import
    return cli_import.run(args)


def cmd_validate(args) -> int:
    files, missing = api.find_specs(args.paths)
    if missing:
        return _usage_error("no such file or directory: " + ", ".join(missing))
    if not files:
        return _usage_error("no *.yaml, *.yml or *.nns specs under " + ", ".join(args.paths))
    if args.skip_non_specs:
        skipped = [f for f in files if not api.looks_like_spec(f)]
        files = [f for f in files if f not in set(skipped)]
        if args.format == "text" and not args.quiet:
            for f in skipped:
                print(f"{report.escape(f)}: skipped, not a spec (no top-level nnspec: line)")
    allow = _permissions(args)
    if isinstance(allow, int):
        return allow
    limits = {"params": args.max_params, "macs": args.max_macs, "activation_memory": args.max_activation_memory,
              "batch_size": args.batch_size}
    all_diags, bad = [], 0
    for f in files:
        _, diags = api.check_file(f, allow_import=allow, budget=limits, targets=args.target)
        all_diags += diags
        failed = any(d.severity == ERROR or (args.strict and d.severity == WARNING) for d in diags)
        bad += failed
        if args.format == "text":
            if diags:
                print(report.text(diags))
            if not args.quiet and not failed:
                print(f"{report.escape(f)}: ok")
    if args.format != "text":
        out = report.FORMATS[args.format](all_diags)
        if out:
            print(out)
    if args.format == "text" and not args.quiet:
        n_err = sum(d.severity == ERROR for d in all_diags)
        n_warn = sum(d.severity == WARNING for d in all_diags)
        print(f"{len(files)} spec{'s' if len(files) != 1 else ''}: {len(files) - bad} valid, {bad} invalid "
              f"({n_err} error{'s' if n_err != 1 else ''}, {n_warn} warning{'s' if n_warn != 1 else ''})",
              file=sys.stderr)
    return EXIT_INVALID if bad else EXIT_OK


def cmd_summary(args) -> int:
    from . import summary
    files, missing = api.find_specs([args.path])
    if missing:
        return _usage_error(f"no such file: {args.path}")
    allow = _permissions(args)
    if isinstance(allow, int):
        return allow
    spec, diags = api.check_file(args.path, allow_import=allow, budget=False,  # the figures, whatever the budget
                                 freeze=args.freeze)
    if diags:
        print(report.text(diags), file=sys.stderr)
    if spec is None or any(d.severity == ERROR for d in diags):
        return EXIT_INVALID
    if args.batch_size < 1:
        return _usage_error(f"--batch-size must be at least 1; found {args.batch_size}")
    if args.format == "json":
        from .cost import activation_bytes, total_macs
        table = summary.rows(spec, args.expand)
        rows = [dict(zip(("name", "type", "output_shape", "params", "inputs", "macs", "activation_bytes"), r + c))
                for r, c in zip(table, summary.costs(spec, table, args.batch_size))]
        trainable, frozen = summary.totals(spec)
        print(json.dumps({"name": spec.name, "layers": rows, "total_params": trainable + frozen,
                          "trainable_params": trainable, "non_trainable_params": frozen,
                          "total_macs": total_macs(spec), "batch_size": args.batch_size,
                          "activation_bytes": activation_bytes(spec, args.batch_size)}, indent=2))
    else:
        print(summary.render(spec, args.expand, args.batch_size))
    return EXIT_OK


def _load_for_build(path: str, progress, args):
    """Parse and validate with progress lines; (spec, source bytes) or (None, exit code).
    ``args``: the parsed arguments (for --allow-import, --no-config, --max-weights-bytes).
    A model whose weights need more than --max-weights-bytes (default 2 GiB) is refused
    before TensorFlow allocates them."""
    if not os.path.isfile(path):
        return None, _usage_error(f"no such file: {path}")
    allow_import = _permissions(args)
    if isinstance(allow_import, int):
        return None, allow_import
    raw, diags = api.read_spec(path)
    timings: dict = {}
    spec = None
    if raw is not None:
        spec, diags = api.check_text(raw, path, timings, allow_import, freeze=getattr(args, "freeze", ()),
                                     targets=_targets(args))
        if spec is not None and not any(d.severity == ERROR for d in diags):
            from .passes.shapes import MAX_WEIGHTS_BYTES, size_diagnostic
            diags = [d for d in diags if d.code != codes.MODEL_TOO_LARGE]  # validate's warning: the limit decides
            too_large = size_diagnostic(spec, getattr(args, "max_weights_bytes", None) or MAX_WEIGHTS_BYTES)
            if too_large is not None:
                diags.append(too_large)
    for stage in ("parse", "validate"):
        if stage in timings:
            progress(f"{stage} {api.fmt_seconds(timings[stage])}")
    if diags:
        print(report.text(diags), file=sys.stderr)
    if spec is None or any(d.severity == ERROR for d in diags):
        return None, EXIT_INVALID
    return spec, raw


def _targets(args) -> tuple:
    """The export targets compile was asked for (--onnx, --litert: a flag per nnspec.targets.TARGETS)."""
    from .targets import TARGETS
    return tuple(t for t in TARGETS if getattr(args, t, False))


def cmd_compile(args) -> int:
    progress = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    problem = api.compile_request_error(args.keras, _targets(args))
    if problem:
        return _usage_error(problem)
    spec, raw = _load_for_build(args.path, progress, args)
    if spec is None:
        return raw
    missing = _missing_weights(args)
    if missing is not None:
        return missing
    timings: dict = {}
    try:
        manifest = api.compile(spec, args.output, keras_file=args.keras, targets=_targets(args),
                               weights=args.weights, force=args.force, raw=raw, progress=progress,
                               timings=timings, on_warnings=_print_diagnostics)
    except api.SpecError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_INVALID
    except api.CompileError as e:
        return _error(str(e), EXIT_USAGE if e.usage else EXIT_INVALID)
    for stage in ("export", "verify", *(f"{s} {t}" for t in _targets(args) for s in ("export", "verify"))):
        progress(f"{stage} {api.fmt_seconds(timings[stage])}")
    if not args.quiet:
        extra = f" and {args.keras}" if args.keras else ""
        for target, entry in manifest.get("targets", {}).items():
            extra += (f", {os.path.join(args.output, entry['file'])} (max abs diff "
                      f"{entry['verified_max_abs_diff']:.2g} in {target})")
        print(f"wrote {args.output}{extra}: {manifest['params']['total']:,} params, outputs "
              f"{', '.join(manifest['outputs'])}; reloaded and verified (max abs diff "
              f"{manifest['verified_max_abs_diff']:.2g})")
    return EXIT_OK


def _print_diagnostics(diags) -> None:
    print(report.text(diags), file=sys.stderr)



CHECK_MAX_STEPS = 1000
CHECK_MAX_BYTES = 16 * 2**30


def activation_bytes(spec, batch: int) -> int:
    """A rough bound on what `check` holds in memory: every tensor of the spec
    (unknown sizes as the synthetic batch has them, shapes.runtime_size) in float32,
    twice (the activations kept for the backward pass, and their gradients)."""
    from .passes.shapes import runtime_size
    per_sample = 0
    for shape in runtime_size(spec)[1].values():
        if isinstance(shape, tuple):
            n = 1
            for d in shape[1:]:
                n *= 3 if d is None else int(d)
            per_sample += n
    return per_sample * batch * 4 * 2


def cmd_check(args) -> int:
    if args.train_steps < 1 or args.batch_size < 1:
        return _usage_error("--train-steps and --batch-size must be at least 1")
    if args.train_steps > CHECK_MAX_STEPS:
        return _usage_error(f"--train-steps {args.train_steps} is more than check takes ({CHECK_MAX_STEPS}): it "
                            "is a smoke test on synthetic data; hint: a few steps show a broken spec, train with "
                            "model.fit() on real data")
    spec, raw = _load_for_build(args.path, lambda line: None, args)
    if spec is None:
        return raw
    need = activation_bytes(spec, args.batch_size)
    if need > CHECK_MAX_BYTES:
        per_batch = max(activation_bytes(spec, 1), 1)
        if per_batch > CHECK_MAX_BYTES:
            return _usage_error(f"one example of this spec needs about {per_batch / 2**30:,.1f} GiB for its "
                                f"tensors, more than check allows ({CHECK_MAX_BYTES // 2**30} GiB); hint: check "
                                "a smaller version of the model (smaller inputs)")
        return _usage_error(f"--batch-size {args.batch_size} needs about {need / 2**30:,.1f} GiB for this spec's "
                            f"tensors, more than check allows ({CHECK_MAX_BYTES // 2**30} GiB); hint: use "
                            f"--batch-size {max(1, min(8, CHECK_MAX_BYTES // per_batch))} (at most "
                            f"{CHECK_MAX_BYTES // per_batch:,} for this spec)")
    weights, span = _weights_file(spec, args)
    if weights is None and span is not None:
        return span
    from .keras.check import run_check
    model = None
    if weights is not None:
        from .keras.build import build
        model = build(spec)
        try:
            api.load_weights(model, spec, weights, span, lambda line: print(line, file=sys.stderr),
                             require_some=True, on_warnings=_print_diagnostics)
        except api.SpecError as e:
            _print_diagnostics(e.diagnostics)
            return EXIT_INVALID
        except api.CompileError as e:
            return _error(str(e), EXIT_INVALID)
    result = run_check(spec, steps=args.train_steps, batch=args.batch_size, model=model)
    for i, step in enumerate(result["steps"], 1):
        parts = [f"{k} {v:.4g}" for k, v in step["outputs"].items()]
        parts += [f"{k} {v:.4g}" for k, v in step["penalties"].items()]
        if abs(step["regularizers"]) > 0:
            parts.append(f"regularizers {step['regularizers']:.4g}")
        print(f"step {i}: total {step['total']:.4g} ({', '.join(parts) or 'no loss'})")
    bad = False
    if not result["finite"]:
        print("error: a loss is not finite (NaN or inf); hint: lower the learning rate or check the "
              "loss expression", file=sys.stderr)
        bad = True
    for w in result["no_gradient"]:
        print(f"error: trainable weight {w} gets no gradient: nothing connects it to the loss; hint: "
              "connect its layer to an output with a loss, or set trainable: false", file=sys.stderr)
        bad = True
    for w in result["zero_gradient"]:
        print(f"warning: trainable weight {w} got only zero gradients in {args.train_steps} steps",
              file=sys.stderr)
    if not bad:
        print(f"ok: {args.train_steps} training steps, every trainable weight gets a gradient")
    return EXIT_INVALID if bad else EXIT_OK


def _parse_box(text: str):
    """'x=0:1' -> ('x', (0.0, 1.0)); 'x=lim.npz' -> ('x', (lo array, hi array)); a Diagnostic when bad."""
    name, eq, value = text.partition("=")
    from .diagnostics import Span
    where = Span(f"--box {text}")
    if not eq or not name:
        return Diagnostic(codes.BOUNDS_BAD_BOX, f"--box {text!r} is not INPUT=LO:HI or INPUT=FILE.npz", where,
                          "e.g. --box x=0:1")
    if value.endswith(".npz"):
        import numpy as np
        try:
            with np.load(value, allow_pickle=False) as z:
                if "lo" not in z or "hi" not in z:
                    return Diagnostic(codes.BOUNDS_BAD_BOX, f"--box {text}: the file holds no arrays lo and hi "
                                      f"(it holds {', '.join(z.files) or 'none'})", where,
                                      "np.savez(FILE, lo=..., hi=...)")
                return name, (z["lo"], z["hi"])
        except (OSError, ValueError) as e:
            return Diagnostic(codes.BOUNDS_BAD_BOX, f"--box {text}: cannot read {value}: {e}", where,
                              "give a .npz file written by numpy.savez with arrays lo and hi")
    lo, colon, hi = value.partition(":")
    try:
        if not colon:
            raise ValueError
        return name, (float(lo), float(hi))
    except ValueError:
        return Diagnostic(codes.BOUNDS_BAD_BOX, f"--box {text!r}: {value!r} is not LO:HI (two numbers)", where,
                          f"e.g. --box {name}=0:1")


def _bounds_text(result) -> str:
    import numpy as np
    method = result["method"]
    what = {"exact": "exact: each bound is attained at an input in the box; --format json gives these witnesses",
            "crown": "sound, not exact: the true range lies inside; --method exact gives it",
            "ibp": "sound, not exact: the true range lies inside; --method exact gives it"}[method]
    lines = [f"method: {method} ({what})"]
    for name, out in result["outputs"].items():
        lo, hi = out["lower"], out["upper"]
        lines.append(f"\noutput {name}, shape {tuple(lo.shape)}:")
        rows = [("element", "lower", "upper", "width")]
        for idx in np.ndindex(lo.shape):
            rows.append((f"[{', '.join(map(str, idx))}]", f"{lo[idx] + 0.0:.6g}", f"{hi[idx] + 0.0:.6g}",
                         f"{hi[idx] - lo[idx] + 0.0:.6g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                          enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)


def _bounds_json(result) -> str:
    def listed(a):
        return (a + 0.0).tolist()  # -0.0 -> 0.0

    outputs = {}
    for name, out in result["outputs"].items():
        entry = {"lower": listed(out["lower"]), "upper": listed(out["upper"])}
        if "witnesses" in out:
            entry["witnesses"] = {side: [{k: listed(v) for k, v in w.items()} for w in out["witnesses"][side]]
                                  for side in ("lower", "upper")}
        outputs[name] = entry
    return json.dumps({"method": result["method"], "outputs": outputs})


def cmd_bounds(args) -> int:
    from .diagnostics import SpecError
    if not os.path.isfile(args.path):
        return _usage_error(f"no such file: {args.path}")
    missing = _missing_weights(args)
    if missing is not None:
        return missing
    allow_import = _permissions(args)
    if isinstance(allow_import, int):
        return allow_import
    box = {}
    for text in args.box:
        parsed = _parse_box(text)
        if isinstance(parsed, Diagnostic):
            _print_diagnostics([parsed])
            return EXIT_INVALID
        box[parsed[0]] = parsed[1]
    try:
        result = api.bounds(args.path, box, args.method, weights=args.weights, allow_import=allow_import)
    except SpecError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_INVALID
    print(_bounds_json(result) if args.format == "json" else _bounds_text(result))
    return EXIT_OK


def _manifest_problem(m) -> str | None:
    """What is wrong with a manifest's structure, or None."""
    def kind(v):
        return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(v), "a number")
    if not isinstance(m, dict):
        return f"it is {kind(m)}, not a JSON object"
    for key in ("model", "spec_file", "spec_sha256", "nnspec", "tensorflow", "keras", "signature"):
        if key not in m:
            return f"it has no '{key}'"
        if not isinstance(m[key], str):
            return f"'{key}' is {kind(m[key])}, not a string"
    p = m.get("params")
    if not isinstance(p, dict):
        return "it has no 'params' object" if p is None else f"'params' is {kind(p)}, not an object"
    for key in ("total", "trainable", "non_trainable"):
        if not isinstance(p.get(key), int) or isinstance(p.get(key), bool):
            return f"'params.{key}' is {'missing' if key not in p else kind(p[key])}, not an integer"
    for sect, keys in (("inputs", ("shape", "dtype")), ("outputs", ("shape",))):
        v = m.get(sect)
        if not isinstance(v, dict):
            return f"it has no '{sect}' object" if v is None else f"'{sect}' is {kind(v)}, not an object"
        for name, entry in v.items():
            if not isinstance(entry, dict) or any(k not in entry for k in keys):
                return f"'{sect}.{name}' is not an object with {' and '.join(repr(k) for k in keys)}"
    return None


def cmd_inspect(args) -> int:
    path = os.path.join(args.path, "assets", "nnspec", "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return _usage_error(f"{args.path} is not a SavedModel written by nnspec compile (no {path})")
    except NotADirectoryError:
        return _usage_error(f"{args.path} is a file; inspect takes the SavedModel directory nnspec compile wrote")
    except (OSError, ValueError, RecursionError) as e:
        print(f"nnspec: error: cannot read {path}: {getattr(e, 'strerror', None) or e}; hint: recompile the spec "
              "to write it again", file=sys.stderr)
        return EXIT_INVALID
    problem = _manifest_problem(manifest)
    if problem:
        print(f"nnspec: error: {path} is not a manifest nnspec wrote: {problem}; expected an object with model, "
              "spec_file, params, inputs and outputs; hint: recompile the spec to write it again", file=sys.stderr)
        return EXIT_INVALID
    if args.format == "json":
        print(json.dumps(manifest, indent=2))
        return EXIT_OK
    p = manifest["params"]
    print(f"model {manifest['model']}  (spec {manifest['spec_file']}, sha256 {manifest['spec_sha256']})")
    print(f"built with nnspec {manifest['nnspec']}, TensorFlow {manifest['tensorflow']}, "
          f"Keras {manifest['keras']}")
    print(f"params: {p['total']:,} ({p['trainable']:,} trainable, {p['non_trainable']:,} non-trainable)")
    print(f"signature {manifest['signature']}:")
    for name, i in manifest["inputs"].items():
        print(f"  input  {name}: {i['dtype']} {i['shape']}")
    for name, o in manifest["outputs"].items():
        print(f"  output {name}: {o['shape']}")
    found = manifest.get("targets")
    for target, entry in (found.items() if isinstance(found, dict) else ()):
        if isinstance(entry, dict):
            versions = lambda key: ", ".join(f"{k} {v}" for k, v in (entry.get(key) or {}).items())  # noqa: E731
            diff = entry.get("verified_max_abs_diff")
            print(f"{target}: {entry.get('file')} (converted by {versions('converter')}; verified in "
                  f"{versions('runtime')}, max abs diff "
                  f"{f'{diff:.2g}' if isinstance(diff, (int, float)) else diff})")
    return EXIT_OK


def cmd_schema(args) -> int:
    from . import schema
    text = schema.dumps()
    return write_out(text, args.output)


def cmd_ops(args) -> int:
    from .diagnostics import did_you_mean
    from .ops import CATALOG
    from .ops.base import REQUIRED
    if args.name is None:
        fams: dict[str, list] = {}
        for op in CATALOG.values():
            fams.setdefault(op.family or "other", []).append(op.name)
        for fam, names in sorted(fams.items()):
            print(f"{fam}: {', '.join(sorted(names))}")
        return EXIT_OK
    op = CATALOG.get(args.name)
    if op is None:
        hint = did_you_mean(args.name, CATALOG)
        return _usage_error(f"unknown layer type '{args.name}'" + (f"; {hint}" if hint else ""))
    module = op.shape.__module__ if op.shape else "?"
    print(f"{op.name}  ({module.replace('.', '/')}.py)\n  {op.doc}")
    n_in = op.inputs
    print(f"  inputs: {n_in[0]}" + ("" if n_in[0] == n_in[1] else f" to {n_in[1] or 'many'}") +
          (f" ({', '.join(op.input_names)})" if op.input_names else ""))
    for p in op.ports:
        print(f"  from: {{{p.name}: {'[tensors]' if p.many else 'tensor'}}}  -- {p.doc}")
    if op.outputs is not None:
        print("  outputs: name (the first), " + ", ".join(
            f"name.{o} (with {how})" for o, how in op.outputs.enable.items()))
    for a in op.args:
        default = "required" if a.default is REQUIRED else f"default {json.dumps(a.default)}"
        print(f"  {a.name}: {default}" + (f"  -- {a.doc}" if a.doc else ""))
    from .targets import TARGETS
    for target, rule in op.unsupported_targets.items():  # a rule that depends on args or shapes says when
        print(f"  not for --{target} ({TARGETS[target].title}): " + (rule if isinstance(rule, str) else rule.when))
    if op.imports is not None:
        print("  nnspec import writes it for: " + ", ".join(c + ("*" if c.endswith(".") else "")
                                                         for c in op.imports.classes))
    print("  nnspec bounds: " + ("supported" if op.bounds else "not supported"))
    return EXIT_OK


def cmd_explain(args) -> int:
    from .codes import REGISTRY, explain
    from .diagnostics import did_you_mean
    if args.code is not None and args.format == "markdown":
        return _usage_error("--format markdown is the table of every code: give no CODE")
    if args.code is None:
        text = explain.markdown() if args.format == "markdown" else explain.listing()
    elif args.code in REGISTRY:
        text = explain.explain(args.code)
    else:
        hint = did_you_mean(args.code, REGISTRY)
        return _usage_error(f"unknown diagnostic code '{args.code}'; hint: {hint + ' ' if hint else ''}"
                            "nnspec explain lists them")
    return write_out(text, args.output)


if __name__ == "__main__":
    sys.exit(main())
