"""The files nnspec writes, and the ones it must not touch. No TensorFlow here.

* ``atomic_write``: a text file is written to a temporary file in the same
  directory and renamed over the target, keeping the target's mode (new files
  get the umask's) and writing through a symlink to its target.
* Temporary files and directories are named ``.NAME.nnspec-tmp-<pid>-<random>``
  and locked (``flock``) by the process that made them while it lives. A
  compile killed with SIGKILL leaves one behind; ``clean_debris`` removes those
  whose process is gone and whose lock is free, and nothing else.
* ``check_output_dir``: ``nnspec compile -o DIR`` replaces DIR only when it does
  not exist, is empty, or is an nnspec output whose manifest lists every file
  in it. ``check_keras_file``: ``--keras FILE`` replaces only a ``.keras``
  written by nnspec (it carries an ``nnspec.json`` entry), unless forced.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile

try:
    import fcntl
except ImportError:  # not POSIX: no locks; debris is then recognised by its dead pid alone
    fcntl = None

TMP_TAG = ".nnspec-tmp-"
WRITTEN_BY = "nnspec"
MANIFEST = os.path.join("assets", "nnspec", "manifest.json")
KERAS_MARK = "nnspec.json"  # an extra entry in the .keras zip; Keras ignores it
_SHOW = 8  # how many file names a refusal lists

# A manifest written before nnspec listed its files: these are the only files
# such an output holds, so anything else in the directory is the user's.
_LEGACY_FILES = re.compile(r"^(saved_model\.pb|fingerprint\.pb|variables/variables\.index|"
                           r"variables/variables\.data-\d+-of-\d+|assets/[^/]+|assets/nnspec/[^/]+)$")


class Refused(Exception):
    """nnspec will not write there; the message says what was found and what to do."""


# -- modes ---------------------------------------------------------------------------------------

def umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    return 0o666 & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


def apply_umask(root: str) -> None:
    """Give a tree made with mkdtemp/mkstemp (0700/0600) the modes the user's
    umask gives new files: directories 0777 & ~umask, files 0666 & ~umask."""
    fmode, dmode = file_mode(), dir_mode()
    os.chmod(root, dmode)
    for here, dirs, files in os.walk(root):
        for d in dirs:
            p = os.path.join(here, d)
            if not os.path.islink(p):
                os.chmod(p, dmode)
        for f in files:
            p = os.path.join(here, f)
            if not os.path.islink(p):
                os.chmod(p, fmode)


# -- temporary files: named, locked, cleaned -------------------------------------------------------

def _prefix(base: str) -> str:
    return f".{base}{TMP_TAG}{os.getpid()}-"


def _debris_pattern(base: str):
    return re.compile(re.escape(f".{base}{TMP_TAG}") + r"(\d+)-[A-Za-z0-9_]{1,32}(\.keras|\.old)?$")


class Temp:
    """A temporary file or directory beside ``base`` in ``parent``, locked while it lives."""

    def __init__(self, parent: str, base: str, directory: bool, suffix: str = ""):
        if directory:
            self.path = tempfile.mkdtemp(prefix=_prefix(base), suffix=suffix, dir=parent)
            try:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                os.rmdir(self.path)
                raise
        else:
            self.fd, self.path = tempfile.mkstemp(prefix=_prefix(base), suffix=suffix, dir=parent)
        if fcntl:
            with contextlib.suppress(OSError):  # a file system without flock: the pid alone tells
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Remove it if it is still there, and drop the lock."""
        if self.fd is None:
            return
        try:
            if self.path and os.path.lexists(self.path):
                remove(self.path)
        finally:
            os.close(self.fd)
            self.fd = None


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid nnspec writes: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_debris(parent: str, base: str, target: str | None = None) -> list[str]:
    """Remove what killed nnspec processes left beside ``parent/base``: entries
    named ``.BASE.nnspec-tmp-<pid>-<random>[.keras|.old]`` whose process is gone
    and whose lock is free. Nothing else is touched. A ``.old`` directory (left
    by the non-atomic fallback swap) is put back at ``target`` if that is
    missing, not removed. Returns the names removed or restored."""
    pattern = _debris_pattern(base)
    done = []
    try:
        names = os.listdir(parent)
    except OSError:
        return done
    for name in names:
        m = pattern.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue  # nnspec makes only files and directories
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            try:
                if fcntl:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # someone holds it: not debris
            except OSError:
                pass  # a file system without flock: the dead pid alone tells
            if m.group(2) == ".old" and target and not os.path.lexists(target):
                os.rename(path, target)
            else:
                remove(path)
            done.append(name)
        except OSError:
            continue
        finally:
            os.close(fd)
    return done


# -- atomic text files -----------------------------------------------------------------------------

def atomic_write(path: str, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` atomically: a locked temporary
    file in the same directory, fsync, the target's mode, then rename. A
    symlink stays a symlink (its target is written). Raises OSError; nothing is
    left behind on failure."""
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    mode = stat.S_IMODE(old.st_mode) if old else file_mode()
    parent, base = os.path.split(target)
    clean_debris(parent, base)
    tmp = Temp(parent, base, directory=False)
    try:
        with open(tmp.fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if old and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):  # keep the owner where we may (root editing a user's file)
                os.chown(tmp.path, old.st_uid, old.st_gid)
        os.chmod(tmp.path, mode)
        os.replace(tmp.path, target)
        tmp.path = None
    finally:
        tmp.release()


def makedirs(path: str) -> list[str]:
    """os.makedirs that returns the directories it created, outermost first,
    so that a failure can remove them again (``remove_dirs``)."""
    missing = []
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        missing.append(p)
        up = os.path.dirname(p)
        if up == p:
            break
        p = up
    missing.reverse()
    for d in missing:
        os.mkdir(d)
    return missing


def remove_dirs(created: list[str]) -> None:
    for d in reversed(created):
        try:
            os.rmdir(d)
        except OSError:
            break


_TEMP_NAME = re.compile(r"^\.(.+)" + re.escape(TMP_TAG) + r"\d+-[A-Za-z0-9_]{1,32}(?:\.keras|\.old)?$")


def user_path(path) -> str:
    """The path the user gave for a path inside one of nnspec's temporaries:
    ``d/.out.nnspec-tmp-12-ab/variables/x`` -> ``d/out``."""
    path = os.fsdecode(path)
    parts = path.split(os.sep)
    for i, part in enumerate(parts):
        m = _TEMP_NAME.match(part)
        if m:
            return os.sep.join(parts[:i] + [m.group(1)])
    return path


def explain(e: OSError, path: str | None = None, note: str = "") -> str:
    """'cannot write PATH: reason[note]; hint: ...' for an OSError."""
    where = user_path(e.filename) if e.filename else path
    code = e.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        hint = "the disk (or quota) is full: free some space and run it again"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "check the permissions of that path and of the directories above it"
    elif code == errno.ENOENT:
        hint = "a directory on that path does not exist: create it first"
    elif code == errno.EISDIR:
        hint = "that is a directory: give a file name"
    elif code == errno.ENOTDIR:
        hint = "a part of that path is a file, not a directory"
    else:
        hint = "check the path and its permissions"
    return f"cannot write {where}: {e.strerror or e}{note}; hint: {hint}"


# -- what compile may replace ----------------------------------------------------------------------

def _within(path: str, root: str) -> bool:
    """Is ``path`` ``root`` or inside it (both real paths)?"""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def relative_inside(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` if it lies strictly inside it (symlinks resolved), else None."""
    p, r = os.path.realpath(path), os.path.realpath(root)
    if p != r and _within(p, r):
        return os.path.relpath(p, r)
    return None


def list_files(root: str) -> list[str]:
    """Every non-directory under ``root``, relative, '/'-separated, sorted (symlinks not followed)."""
    out = []

    def fail(e):
        raise e
    for here, dirs, files in os.walk(root, onerror=fail):
        rel = os.path.relpath(here, root)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(out)


def _names(items) -> str:
    items = list(items)
    shown = ", ".join(items[:_SHOW])
    return shown + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def read_manifest(out_dir: str):
    """The parsed manifest.json of an output directory, or None if it has none or it is not JSON."""
    try:
        with open(os.path.join(out_dir, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def foreign_files(out_dir: str) -> tuple[bool, list[str]]:
    """(is an nnspec output, the files in it nnspec did not write). For a
    directory that is not an nnspec output, its top-level entries (a
    directory's name ends in '/'), without walking the tree below."""
    manifest = read_manifest(out_dir)
    if isinstance(manifest, dict):
        if manifest.get("written_by") == WRITTEN_BY and isinstance(manifest.get("files"), list):
            listed = {f for f in manifest["files"] if isinstance(f, str)}
            return True, [f for f in list_files(out_dir) if f not in listed]
        if "spec_sha256" in manifest and "nnspec" in manifest:  # written before manifests listed their files
            return True, [f for f in list_files(out_dir) if not _LEGACY_FILES.match(f)]
    with os.scandir(out_dir) as it:
        top = sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in it)
    return False, top


def check_output_dir(out_dir: str, spec_file: str | None = None) -> None:
    """Raise Refused unless ``nnspec compile -o out_dir`` may replace out_dir."""
    shown = out_dir
    out_dir = os.path.abspath(out_dir)
    real = os.path.realpath(out_dir)
    cwd = os.path.realpath(os.getcwd())
    if os.path.islink(out_dir):
        raise Refused(f"-o {shown} is a symbolic link; compile replaces a real directory only; hint: give "
                      f"the directory itself ({real}) or a new path")
    if _within(cwd, real):
        what = "the current directory" if real == cwd else "a parent of the current directory"
        raise Refused(f"-o {shown} is {what}; compile replaces the whole output directory, so it must be a "
                      "directory of its own; hint: give a new subdirectory, e.g. -o build/MODEL")
    if spec_file and _within(os.path.realpath(spec_file), real):
        raise Refused(f"-o {shown} contains the spec {spec_file}; compile replaces the whole output directory; "
                      "hint: give a new subdirectory, e.g. -o build/MODEL")
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise Refused(f"-o {shown} is a file, not a directory; compile writes a SavedModel directory and does "
                      "not replace files; hint: give a new directory name")
    try:
        empty = not os.listdir(out_dir)
    except OSError as e:
        raise Refused(f"cannot read -o {shown}: {e.strerror}; hint: check its permissions") from None
    if empty:
        return
    try:
        ours, foreign = foreign_files(out_dir)
    except OSError as e:
        raise Refused(f"cannot read all of -o {shown} ({e.filename}: {e.strerror}), so cannot tell whether "
                      "nnspec may replace it; hint: check its permissions, or give another -o") from None
    if not ours:
        raise Refused(f"-o {shown} already exists and is not an nnspec output (no {MANIFEST} written by nnspec); "
                      f"it holds {_names(foreign)}; compile replaces only an empty directory or its own "
                      "earlier output; hint: give a new directory, or move those files away yourself")
    if foreign:
        raise Refused(f"-o {shown} is an earlier nnspec output, but it also holds files nnspec did not write: "
                      f"{_names(foreign)}; compile would delete them with the directory; hint: move them out of "
                      f"{shown}, or give another -o")


def is_nnspec_keras(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            mark = json.loads(z.read(KERAS_MARK))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError):
        return False
    return isinstance(mark, dict) and mark.get("written_by") == WRITTEN_BY


def check_keras_file(keras_file: str, spec_file: str | None = None, force: bool = False) -> None:
    """Raise Refused unless ``--keras keras_file`` may be written (replaced)."""
    shown = keras_file
    if not keras_file.endswith(".keras"):
        raise Refused(f"--keras {shown} does not end in .keras; Keras writes that format only, and nnspec "
                      "will not replace another kind of file; hint: name it e.g. model.keras")
    real = os.path.realpath(keras_file)
    if spec_file and real == os.path.realpath(spec_file):
        raise Refused(f"--keras {shown} is the spec itself; hint: give another file name")
    if not os.path.lexists(real):
        return
    if os.path.isdir(real):
        raise Refused(f"--keras {shown} is a directory; hint: give a file name, e.g. {shown}/model.keras")
    if not os.path.isfile(real):
        raise Refused(f"--keras {shown} exists and is not a regular file; hint: give another file name")
    if not force and not is_nnspec_keras(real):
        raise Refused(f"--keras {shown} exists and was not written by nnspec (it has no {KERAS_MARK} entry); "
                      "hint: add --force to replace it, or give another file name")
