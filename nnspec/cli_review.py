"""Review commands: `nnspec graph` (a picture of the network) and `nnspec diff` (what changed).

    nnspec graph specs/lab_quake.yaml -o lab_quake.svg [--expand]   # .svg, .mmd (Mermaid), .dot; -o -: stdout
    nnspec diff main:specs/x.yaml specs/x.yaml [--format text|markdown|json]   # REV:path is read with git

graph's exit codes are validate's: 0 done, 1 an invalid spec, 2 usage error. diff's are diff(1)'s:
0 equivalent, 1 different, 2 trouble (a usage error, or a spec that does not validate). Called by
git as an external diff driver (seven arguments: path old-file old-hex old-mode new-file new-hex
new-mode) it prints the difference and exits 0, as git expects. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import os
import sys

from .cli_common import EXIT_INVALID, EXIT_OK, write_file
from .cli_common import error as _error


def add_parsers(sub) -> None:
    g = sub.add_parser("graph", help="draw the network as SVG, Mermaid (.mmd) or Graphviz DOT (.dot)")
    g.add_argument("path", metavar="SPEC")
    g.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="FILE.svg, FILE.mmd or FILE.dot; '-' writes to stdout (with --format)")
    g.add_argument("--format", choices=["svg", "mmd", "dot"], help="the format, when -o does not say it")
    g.add_argument("--expand", action="store_true", help="draw the layers inside block calls, in clusters")
    from .config import add_arguments
    add_arguments(g)
    d = sub.add_parser("diff", help="what changed between two specs (REV:path reads one from git); "
                       "exit 0 equivalent, 1 different, 2 trouble")
    d.add_argument("paths", nargs="+", metavar="OLD NEW",
                   help="two specs, each a file or REV:path (e.g. main:specs/x.yaml); /dev/null for none")
    d.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    add_arguments(d)


def run(args) -> int:
    return {"graph": cmd_graph, "diff": cmd_diff}[args.command](args)


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
    spec, diags = api.check_file(path, allow_import=allow, budget=False)  # a picture whatever the budget
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
    return EXIT_OK if write_file(args.output, text) else EXIT_INVALID


def _read_ref(ref: str):
    """(bytes, display name) of a file or of REV:path read with git, or (None, error message)."""
    if ref == os.devnull:
        return b"", ref
    if os.path.isfile(ref):
        from . import api
        raw, diags = api.read_spec(ref)
        return (raw, ref) if raw is not None else (None, diags[0].message)
    rev, sep, path = ref.partition(":")
    if not sep or not rev or not path or rev.startswith("-"):
        return None, f"no such file: {ref}; hint: a file, or REV:path to read one from git (main:specs/x.yaml)"
    import subprocess
    from .source.yaml_loader import MAX_BYTES
    try:
        out = subprocess.run(["git", "cat-file", "blob", f"{rev}:{path}"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot run git to read {ref}: {e}"
    if out.returncode != 0:
        why = (out.stderr.decode("utf-8", "replace").strip().splitlines() or ["git failed"])[-1]
        return None, f"cannot read {ref} from git: {why.removeprefix('fatal: ')}"
    if len(out.stdout) > MAX_BYTES:
        return None, f"{ref} is {len(out.stdout):,} bytes; the limit is {MAX_BYTES:,}"
    return out.stdout, ref


def cmd_diff(args) -> int:
    from . import api, report
    from . import diff as d
    from .config import ConfigError, permissions
    from .diagnostics import has_errors
    paths = args.paths
    driver = len(paths) == 7  # git's external diff driver: path old-file old-hex old-mode new-file ...
    if driver:
        paths = [paths[1], paths[4]]
    if len(paths) != 2:
        return _error(f"diff takes two specs, OLD and NEW; found {len(paths)}")
    try:
        allow = permissions(args)
    except ConfigError as e:
        return _error(str(e))
    specs = []
    for ref in paths:
        raw, name = _read_ref(ref)
        if raw is None:
            return _error(name)
        if ref == os.devnull:
            specs.append(None)
            continue
        if driver:  # git's temporary file has a random name: show the path in the repository
            name = args.paths[0]
        spec, diags = api.check_text(raw, name, allow_import=allow, budget=False)  # what changed, over budget too
        if diags:
            print(report.text(diags), file=sys.stderr)
        if spec is None or has_errors(diags):
            return _error(f"{name} does not validate, so there is no model to compare (the diagnostics above)")
        specs.append(spec)
    result = d.compare(*specs)
    if driver:
        result["old"] = result["old"] and f"a/{args.paths[0]}"
        result["new"] = result["new"] and f"b/{args.paths[0]}"
    print(d.FORMATS[args.format](result))
    return EXIT_OK if driver or result["equivalent"] else 1
