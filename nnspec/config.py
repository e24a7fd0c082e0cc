"""The settings of the person running nnspec: ``[tool.nnspec]`` in pyproject.toml.

The file read is the nearest ``pyproject.toml`` in the current working
directory or above it (the first one found, walking up to the filesystem root;
only that one). It is never looked up from the spec's location: a spec, and
what is shipped beside it, cannot grant itself anything. One key is read::

    [tool.nnspec]
    allow_import = ["mypkg"]   # modules whose objects `custom:` references may import

A file that grants imports but is writable by other users, or owned by
another user, is refused (another local user could have planted it, as in a
shared /tmp). Python 3.10 has no tomllib: there nnspec uses ``tomli`` if it is
installed, and otherwise refuses a pyproject.toml with a ``[tool.nnspec]``
table rather than silently ignore the permissions in it.

Pure Python, no TensorFlow.
"""
from __future__ import annotations

import os
import re
import stat

KEYS = ("allow_import",)
_MODULE = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z"  # compiled when first used (re caches it)


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and what is wrong."""


def find_pyproject(start: str | os.PathLike | None = None) -> str | None:
    """The nearest pyproject.toml at or above ``start`` (default: the current directory)."""
    folder = os.path.abspath(os.fspath(start) if start is not None else os.getcwd())
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _toml_loads(text: str, path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            if re.search(r"^\s*\[\s*tool\s*\.\s*nnspec\s*\]", text, re.M):
                raise ConfigError(f"{path}: reading [tool.nnspec] needs Python 3.11 or the tomli package; "
                                  "hint: pip install tomli, or pass --allow-import instead") from None
            return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def _check_owner(path: str) -> None:
    if not hasattr(os, "getuid"):
        return
    info = os.stat(path)
    if info.st_uid not in (os.getuid(), 0) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{path} grants imports (allow_import under [tool.nnspec]) but is owned by another user "
                          "or writable by others, so nnspec does not trust it; hint: make it yours and not "
                          "group/world-writable, or pass --allow-import instead")


_MAY_HOLD_TABLE = re.compile(r"""tool\W*nnspec|^\s*\[\s*["']?tool["']?\s*\]""", re.M)


def read(path: str) -> dict:
    """The ``[tool.nnspec]`` settings of one pyproject.toml, checked: {"allow_import": [...]}."""
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if not _MAY_HOLD_TABLE.search(text) and "\\" not in text:
        # no tool.nnspec table can be written without "tool" and then "nnspec" with no letter between
        # ([tool.nnspec], [ tool . "nnspec" ], tool.nnspec.x = , tool = {nnspec = ...}), or a [tool]
        # table, or an escape ("nn\u0073pec"): skip the TOML parser, whose import and parse are a
        # tenth of validating one spec (CI runs one per file). A project's own name ("nnspec>=0.1",
        # `nnspec = "nnspec.cli:main"`) does not count.
        return {"allow_import": []}
    data = _toml_loads(text, path)
    table = data.get("tool", {}).get("nnspec", {}) if isinstance(data.get("tool"), dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.nnspec must be a table ([tool.nnspec])")
    for key in table:
        if key not in KEYS:
            from .diagnostics import did_you_mean
            hint = did_you_mean(key, KEYS) or "the keys are: " + ", ".join(KEYS)
            raise ConfigError(f"{path}: unknown key '{key}' under [tool.nnspec]; hint: {hint}")
    allow = table.get("allow_import", [])
    if not isinstance(allow, list) or not all(isinstance(m, str) and re.match(_MODULE, m) for m in allow):
        raise ConfigError(f"{path}: allow_import under [tool.nnspec] must be a list of module names, "
                          f"e.g. [\"mypkg\"]; found {allow!r}"[:400])
    for m in allow:
        why = check_module_name(m)
        if why:
            raise ConfigError(f"{path}: allow_import under [tool.nnspec]: {why}")
    if allow:
        _check_owner(path)
    return {"allow_import": list(dict.fromkeys(allow))}


def allowed_imports(start: str | os.PathLike | None = None) -> tuple[tuple[str, ...], str | None]:
    """(modules allowed by the nearest pyproject.toml, its path or None). Raises ConfigError."""
    path = find_pyproject(start)
    if path is None:
        return (), None
    return tuple(read(path)["allow_import"]), path


def check_module_name(name: str) -> str | None:
    """Why ``name`` cannot be given to --allow-import, or None."""
    from .trust import module_refused
    if not re.match(_MODULE, name):
        return f"'{name}' is not a Python module name"
    why = module_refused(name)
    if why:
        return f"'{name}' is never allowed: {why}"
    return None



# ---------------------------------------------------------------- the command line
def add_arguments(parser, help_text: str = "let custom: objects from this module be imported (repeatable)") -> None:
    """--allow-import MODULE (repeatable) and --no-config, for every command that may import."""
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE", help=help_text)
    parser.add_argument("--no-config", action="store_true",
                        help="ignore [tool.nnspec] in pyproject.toml (e.g. in CI on untrusted changes)")


def permissions(args) -> tuple[str, ...]:
    """The modules allowed by the person running nnspec: --allow-import, plus the nearest
    pyproject.toml's [tool.nnspec] allow_import unless --no-config. Raises ConfigError."""
    for m in args.allow_import:
        why = check_module_name(m)
        if why:
            raise ConfigError(f"--allow-import {m}: {why}")
    from_config: tuple = ()
    if not getattr(args, "no_config", False):
        from_config, _ = allowed_imports()
    return tuple(dict.fromkeys((*args.allow_import, *from_config)))
