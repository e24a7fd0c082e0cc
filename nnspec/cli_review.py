"""Review commands: `nnspec graph` (a picture of the network) and `nnspec diff` (what changed).

    nnspec graph specs/lab_quake.yaml -o lab_quake.svg [--expand]   # .svg, .mmd (Mermaid), .dot; -o -: stdout

Exit codes as for validate: 0 done, 1 an invalid spec, 2 usage error. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def add_parsers(sub) -> None:
    g = sub.add_parser("graph", help="draw the network as SVG, Mermaid (.mmd) or Graphviz DOT (.dot)")
    g.add_argument("path", metavar="SPEC")
    g.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="FILE.svg, FILE.mmd or FILE.dot; '-' writes to stdout (with --format)")
    g.add_argument("--format", choices=["svg", "mmd", "dot"], help="the format, when -o does not say it")
    g.add_argument("--expand", action="store_true", help="draw the layers inside block calls, in clusters")
    from .config import add_arguments
    add_arguments(g)


def run(args) -> int:
    return {"graph": cmd_graph}[args.command](args)


def _error(message: str, code: int = EXIT_USAGE) -> int:
    from .report import escape
    print(f"nnspec: error: {escape(message)}", file=sys.stderr)
    return code


def _load(path, args):
    """(spec, None) or (None, exit code), diagnostics printed."""
    from . import api, report
    from .config import ConfigError, permissions
    from .diagnostics import has_errors
    if not os.path.isfile(path):
        return None, _error(f"no such file: {path}")
    try:
        allow = permissions(args)
    except ConfigError as e:
        return None, _error(str(e))
    spec, diags = api.check_file(path, allow_import=allow)
    if diags:
        print(report.text(diags), file=sys.stderr)
    if spec is None or has_errors(diags):
        return None, EXIT_INVALID
    return spec, None


def cmd_graph(args) -> int:
    from . import graph
    suffix = "." + args.format if args.format else os.path.splitext(args.output)[1].lower()
    if suffix not in graph.FORMATS:
        return _error(f"cannot tell the format of {args.output}; hint: name it .svg, .mmd or .dot, or give "
                      "--format svg|mmd|dot")
    spec, code = _load(args.path, args)
    if spec is None:
        return code
    text = graph.render(spec, suffix, args.expand)
    if args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    from . import fsutil
    try:
        fsutil.atomic_write(args.output, text)
    except OSError as e:
        return _error(fsutil.explain(e, args.output), EXIT_INVALID)
    return EXIT_OK
