"""`nnspec import`: a Keras model -> a spec (the reverse of `nnspec compile`).

    nnspec import model.keras -o spec.yaml
    nnspec import mypkg.models:make_model -o spec.yaml --allow-import mypkg

Writes the spec (to stdout without -o), then validates it like `nnspec
validate` and prints any diagnostics. Exit codes as the rest of the CLI: 0
written and valid, 1 the model cannot be imported (or the spec it gives is
invalid), 2 usage error (no such file, not a model reference).
"""
from __future__ import annotations

import os
import sys

from .cli_common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, write_file
from .cli_common import error as _error


def add_parser(sub):
    p = sub.add_parser("import", help="write the spec of an existing Keras model (.keras file or module:function)")
    p.add_argument("model", metavar="MODEL",
                   help="a saved model (model.keras) or module:function returning a keras.Model")
    p.add_argument("-o", "--output", metavar="FILE", help="write the spec to FILE (default: stdout)")
    from .config import add_arguments
    add_arguments(p, "allow importing this module (for module:function, and custom layers); repeatable")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes, only problems")
    return p


def run(args) -> int:
    from .keras.importing.loading import is_function_ref
    ref = args.model
    if not is_function_ref(ref) and not os.path.isfile(ref):
        if os.path.exists(ref):
            return _error(f"{ref} is a directory; give a .keras file or module:function", EXIT_USAGE)
        return _error(f"no such file: {ref} (give a .keras file, or module:function)", EXIT_USAGE)

    from . import api, report
    from .config import ConfigError, permissions
    from .diagnostics import ERROR
    try:
        allow = permissions(args)  # the flags and the cwd's pyproject.toml; never the model or a spec
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    from .keras.custom_objects import ImportNotAllowed
    from .keras.importer import ModelImportError, import_model, load_model_ref, printable, spec_to_yaml

    try:
        model = load_model_ref(ref, allow)
    except ImportNotAllowed as e:
        return _error(f"{e}", EXIT_INVALID)
    except ModelImportError as e:
        return _error(f"{e}", EXIT_INVALID)
    except ImportError as e:
        return _error(f"cannot import {ref}: {e}", EXIT_INVALID)
    try:
        result = import_model(model)
    except ModelImportError as e:
        return _error(f"cannot import {ref}: {e}", EXIT_INVALID)
    from .source.emit import ConvertError
    try:
        text = spec_to_yaml(result.data, result.notes, source=os.path.basename(ref))
    except ConvertError as e:  # a value no spec can hold (a number that is not finite): nothing is written
        return _error(f"cannot import {ref}: {e}", EXIT_INVALID)

    if args.output:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        except OSError as e:
            return _error(f"cannot write {e.filename or args.output}: {e.strerror}", EXIT_INVALID)
        if not write_file(args.output, text):  # atomically: never a half-written spec, nor a foo.yaml.tmp of ours
            return EXIT_INVALID
    else:
        sys.stdout.write(text)
        sys.stdout.flush()

    where = args.output or "<stdout>"
    # the written spec declares its custom modules (requires_import); checking it imports nothing, so the
    # check treats them as allowed: whoever compiles it must still allow them (the notes say how)
    _, diags = api.check_text(text, where, allow_import=allow + tuple(result.custom_modules))
    if diags:
        print(report.text(diags), file=sys.stderr)
    if not args.quiet:
        for note in result.notes:
            print(f"note: {printable(note)}", file=sys.stderr)
    if any(d.severity == ERROR for d in diags):
        print(f"nnspec: error: the spec written to {where} does not validate; this is likely a bug in "
              "nnspec import", file=sys.stderr)
        return EXIT_INVALID
    if not args.quiet:
        n_layers = len(result.data["layers"])
        print(f"{'wrote ' + args.output if args.output else 'spec'}: {n_layers} layer items, "
              f"{model.count_params():,} params, outputs {', '.join(result.outputs)}; validated",
              file=sys.stderr)
    return EXIT_OK
