"""What every `nnspec` subcommand shares: the exit codes, the one-line error, and writing a file.

Exit codes: 0 done (valid, equivalent), 1 an invalid spec or a failed job (diff: different), 2 a
usage error (bad flags, a missing file), 3 an internal error (a bug in nnspec). Nothing here imports
TensorFlow.
"""
from __future__ import annotations

import sys

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


def error(message: str, code: int = EXIT_USAGE) -> int:
    """Print ``nnspec: error: MESSAGE`` (escaped: one line, nothing a terminal acts on); return ``code``."""
    from .report import escape
    print(f"nnspec: error: {escape(message)}", file=sys.stderr)
    return code


def write_file(path: str, text) -> bool:
    """``text`` into ``path`` atomically (fsutil.atomic_write: a locked temporary beside it, the file's
    mode kept, a symlink followed); False, with the reason printed, if that failed."""
    from . import fsutil
    try:
        fsutil.atomic_write(path, text)
    except OSError as e:
        print(f"nnspec: error: {fsutil.explain(e, path)}", file=sys.stderr)
        return False
    return True


def write_out(text: str, output: str | None) -> int:
    """``text`` into ``output`` (atomically), or to standard output without one."""
    if output:
        return EXIT_OK if write_file(output, text) else EXIT_INVALID
    sys.stdout.write(text)
    return EXIT_OK
