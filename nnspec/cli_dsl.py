"""`nnspec convert` and `nnspec fmt`: the DSL's commands, and ``load_any``.

    nnspec convert specs/lab_quake.yaml --to nns [-o OUT]   # and --to yaml; default: stdout
    nnspec fmt specs/ [--check]                             # every .nns below, in canonical layout;
                                                            # --check for CI. YAML is refused: its layout is yours

Exit codes as for validate: 0 ok, 1 an invalid spec (or, with --check, files
that would change), 2 usage error.
"""
from __future__ import annotations

import os
import sys

from . import codes
from .diagnostics import has_errors
from .source import load_any  # noqa: F401  (callers import it from here too)

from .cli_common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, write_file
from .source import DSL_SUFFIX  # noqa: E402


def is_dsl(file) -> bool:
    return os.fspath(file).endswith(DSL_SUFFIX)


def add_parsers(sub) -> None:
    c = sub.add_parser("convert", help="convert a spec between YAML and the DSL (.nns), losslessly")
    c.add_argument("path", metavar="SPEC")
    c.add_argument("--to", required=True, choices=["nns", "yaml"], help="the output form")
    c.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    f = sub.add_parser("fmt", help="rewrite .nns specs in canonical layout (comments kept); "
                       "directories: every *.nns below")
    f.add_argument("paths", nargs="+", metavar="SPEC_OR_DIR")
    f.add_argument("--check", action="store_true", help="change nothing; exit 1 listing files that would change")


def run(args) -> int:
    return {"convert": cmd_convert, "fmt": cmd_fmt}[args.command](args)


def _print_diags(diags) -> None:
    from . import report
    if diags:
        print(report.text(diags), file=sys.stderr)


def _read(path):
    from .api import read_spec
    if not os.path.isfile(path):
        from .report import escape
        print(f"nnspec: error: no such file: {escape(path)}", file=sys.stderr)
        return None, EXIT_USAGE
    raw, diags = read_spec(path)
    if raw is None:
        _print_diags(diags)
        return None, EXIT_INVALID
    return raw, EXIT_OK


def cmd_convert(args) -> int:
    from .report import escape
    from .source.dsl import load_dsl
    from .source.emit import ConvertError, to_dsl, to_yaml, yaml_comments
    from .source.yaml_loader import load_yaml
    raw, code = _read(args.path)
    if raw is None:
        return code
    comments = None
    if is_dsl(args.path):
        from .source.dsl import parse_dsl
        doc, diags, comments = parse_dsl(raw, args.path)
    else:
        doc, diags = load_any(raw, args.path)
    if doc is None or has_errors(diags):
        _print_diags(diags)
        return EXIT_INVALID
    if not is_dsl(args.path):
        comments = yaml_comments(doc)
    try:
        text = (to_dsl if args.to == "nns" else to_yaml)(doc.data, comments)
    except ConvertError as e:
        print(f"{escape(args.path)}: error: cannot convert: {escape(e)} [convert]", file=sys.stderr)
        return EXIT_INVALID
    # what is written must read back: the other form's limits are this one's (dsl.py refuses what YAML
    # cannot hold), and a last check here keeps a bug from writing a spec that does not load
    back, back_diags = (load_yaml if args.to == "yaml" else load_dsl)(text, args.path)
    if back is None or back.data != doc.data:
        d = back_diags[0] if back_diags else None
        why = d.message if d else "it reads back as different data"
        hint = d.hint if d and d.code in (codes.FILE_TOO_LARGE, codes.TOO_DEEP, codes.TOO_MANY_NODES) else \
            "this is a bug in nnspec convert; please report it with the spec"
        print(f"{escape(args.path)}: error: cannot convert: the {args.to} form would not load: {escape(why)}; "
              f"hint: {hint} [convert]", file=sys.stderr)
        return EXIT_INVALID
    if args.output:
        if not write_file(args.output, text):
            return EXIT_INVALID
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _fmt_files(paths):
    """The .nns files to format: named ones, and those found below directories
    (the discovery of ``nnspec validate``: api.find_specs). Returns (files, exit
    code or None). A YAML file named explicitly is refused: fmt formats .nns only."""
    from .api import find_specs
    from .report import escape
    files, missing = find_specs(paths)
    if missing:
        print("nnspec: error: no such file or directory: " + ", ".join(escape(m) for m in missing),
              file=sys.stderr)
        return [], EXIT_USAGE
    named = {os.path.normpath(p) for p in paths if not os.path.isdir(p)}
    yaml_named = [f for f in files if f.endswith((".yaml", ".yml")) and os.path.normpath(f) in named]
    if yaml_named:
        f = escape(yaml_named[0])
        print(f"nnspec: error: {f} is YAML; nnspec fmt formats the text form (.nns) only; hint: keep the YAML "
              f"layout your own, or use nnspec convert {f} --to nns to get the text form", file=sys.stderr)
        return [], EXIT_USAGE
    # in directories, the .nns files; a file named explicitly is text form whatever its name
    files = [f for f in files if is_dsl(f) or os.path.normpath(f) in named]
    if not files:
        print("nnspec: error: no *.nns specs under " + ", ".join(escape(p) for p in paths), file=sys.stderr)
        return [], EXIT_USAGE
    return files, None


def cmd_fmt(args) -> int:
    from .report import escape
    from .source.dsl import parse_dsl
    from .source.emit import ConvertError, to_dsl
    changed, bad = [], 0
    files, code = _fmt_files(args.paths)
    if code is not None:
        return code
    for path in files:
        raw, code = _read(path)
        if raw is None:
            return code
        doc, diags, comments = parse_dsl(raw, path)
        if doc is None or has_errors(diags):
            _print_diags(diags)
            bad += 1
            continue
        try:
            text = to_dsl(doc.data, comments)
        except ConvertError as e:
            print(f"{escape(path)}: error: cannot format: {escape(e)} [fmt]", file=sys.stderr)
            bad += 1
            continue
        if text.encode("utf-8") != raw:
            changed.append(path)
            if not args.check and not write_file(path, text):
                changed.pop()
                bad += 1
    if args.check and changed:
        for p in changed:
            print(f"would reformat {escape(p)}")
        print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} would be reformatted", file=sys.stderr)
        return EXIT_INVALID
    if not args.check:
        for p in changed:
            print(f"reformatted {escape(p)}")
    return EXIT_INVALID if bad else EXIT_OK
