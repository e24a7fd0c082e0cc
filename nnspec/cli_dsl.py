"""`nnspec convert` and `nnspec fmt`: the DSL's commands, and ``load_any``.

    nnspec convert specs/lab_quake.yaml --to nns [-o OUT]   # and --to yaml; default: stdout
    nnspec fmt specs/*.nns [--check]                        # canonical layout in place; --check for CI

Exit codes as for validate: 0 ok, 1 an invalid spec (or, with --check, files
that would change), 2 usage error.
"""
from __future__ import annotations

import os
import sys

from .diagnostics import has_errors
from .source import load_any  # noqa: F401  (callers import it from here too)

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
from .source import DSL_SUFFIX  # noqa: E402


def is_dsl(file) -> bool:
    return os.fspath(file).endswith(DSL_SUFFIX)


def add_parsers(sub) -> None:
    c = sub.add_parser("convert", help="convert a spec between YAML and the DSL (.nns), losslessly")
    c.add_argument("path", metavar="SPEC")
    c.add_argument("--to", required=True, choices=["nns", "yaml"], help="the output form")
    c.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    f = sub.add_parser("fmt", help="rewrite .nns specs in canonical layout (comments kept)")
    f.add_argument("paths", nargs="+", metavar="SPEC")
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
        print(f"nnspec: error: no such file: {path}", file=sys.stderr)
        return None, EXIT_USAGE
    raw, diags = read_spec(path)
    if raw is None:
        _print_diags(diags)
        return None, EXIT_INVALID
    return raw, EXIT_OK


def cmd_convert(args) -> int:
    from .source.emit import ConvertError, to_dsl, to_yaml
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
    try:
        if args.to == "nns":
            text = to_dsl(doc.data, comments if is_dsl(args.path) else _yaml_comments(doc))
        else:
            text = to_yaml(doc.data)
    except ConvertError as e:
        print(f"{args.path}: error: cannot convert: {e} [convert]", file=sys.stderr)
        return EXIT_INVALID
    if args.output:
        if not _write(args.output, text):
            return EXIT_INVALID
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _write(path, text) -> bool:
    """Atomically, keeping the file's mode and a symlink a symlink; False (and a message) if it failed."""
    from . import fsutil
    try:
        fsutil.atomic_write(path, text)
    except OSError as e:
        print(f"nnspec: error: {fsutil.explain(e, path)}", file=sys.stderr)
        return False
    return True


def cmd_fmt(args) -> int:
    from .source.dsl import parse_dsl
    from .source.emit import ConvertError, to_dsl
    changed, bad = [], 0
    for path in args.paths:
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
            print(f"{path}: error: cannot format: {e} [fmt]", file=sys.stderr)
            bad += 1
            continue
        if text.encode("utf-8") != raw:
            changed.append(path)
            if not args.check and not _write(path, text):
                changed.pop()
                bad += 1
    if args.check and changed:
        for p in changed:
            print(f"would reformat {p}")
        print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} would be reformatted", file=sys.stderr)
        return EXIT_INVALID
    if not args.check:
        for p in changed:
            print(f"reformatted {p}")
    return EXIT_INVALID if bad else EXIT_OK


def _yaml_comments(doc):
    """Comments of a YAML spec carried over to the DSL: whole-line comments
    before a top-level key, an input, a layer, an output or a penalty lead
    that statement; end-of-line comments trail it. Best effort: comments
    elsewhere are dropped."""
    import bisect
    lines = doc.text.splitlines()
    anchors = []  # (line, path) of each statement-level node
    data = doc.data if isinstance(doc.data, dict) else {}
    for k in data:
        p = doc.pos.get((k,))
        if p and p[0]:
            anchors.append((p[0], (k,) if k not in ("inputs", "outputs", "layers", "penalties") else None))
    for sect in ("inputs", "outputs"):
        if isinstance(data.get(sect), dict):
            for n in data[sect]:
                p = doc.pos.get((sect, n))
                if p:
                    anchors.append((p[0], (sect, n)))
    for sect in ("layers", "penalties"):
        if isinstance(data.get(sect), list):
            for i in range(len(data[sect])):
                p = doc.pos.get((sect, i))
                if p:
                    anchors.append((p[2], (sect, i)))
    anchors.sort(key=lambda a: a[0])
    starts = [a[0] for a in anchors]
    lead, trail, end = {}, {}, []
    pending = []
    for n, line in enumerate(lines, 1):
        hash_at = _comment_start(line)
        if hash_at is None:
            continue
        text = line[hash_at:].rstrip()
        if text.startswith("# yaml-language-server"):
            continue
        if not line[:hash_at].strip():
            pending.append((n, text))
            continue
        i = bisect.bisect_right(starts, n) - 1
        if i >= 0 and anchors[i][0] == n and anchors[i][1] is not None:
            trail.setdefault(anchors[i][1], []).append(text)
    for n, text in pending:
        i = bisect.bisect_left(starts, n)
        while i < len(anchors) and anchors[i][1] is None:
            # a section key (layers:): the comment leads its first item
            j = i + 1
            if j < len(anchors) and anchors[j][1] is not None:
                i = j
                break
            i = j
        if i < len(anchors) and anchors[i][1] is not None:
            lead.setdefault(anchors[i][1], []).append(text)
        else:
            end.append(text)
    return {"lead": lead, "trail": {k: "  ".join(v) for k, v in trail.items()}, "end": end}


def _comment_start(line: str):
    """Column of a YAML comment's '#', outside quotes, or None."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return None
