"""Where lark may cache its built parsers.

lark's own ``cache=True`` writes a pickle under the shared temp directory,
where another local user could plant one; loading a pickle runs code. We keep
the cache in the user's own cache directory (mode 0700) and skip caching when
that is not possible. Building the DSL grammar takes about 0.2 s; loading the
cache about 0.02 s.
"""
from __future__ import annotations

import os
import stat


def cache_file(name: str):
    """A path for lark's ``cache=`` argument, or False (no cache)."""
    try:
        import lark
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "nnspec")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False  # not ours alone: do not trust what is in it
        return os.path.join(folder, f"{name}-lark{lark.__version__}.cache")
    except (OSError, AttributeError):
        return False
