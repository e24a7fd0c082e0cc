"""Run `nnspec ARGS` for a test and return what a process returns (subprocess.CompletedProcess:
returncode, stdout and stderr as text).

In the full run (CI) every call starts a new interpreter, `python -m nnspec ARGS`, as a user does.
In the fast tier (tests/tier.py) it forks this test process instead and runs nnspec.cli.main(ARGS)
in the child, with the working directory, environment, stdin, argv and file descriptors 0-2 a new
process would have (PYTHONPATH and the working directory go before sys.path, as `python -m` puts
them): a separate process, so exit codes, writes to descriptor 1 or 2 and changes to global state
stay the child's, without paying the interpreter's start and nnspec's imports (about 0.2 s a call).
What the fork cannot show is what a new interpreter imports: tests about imports, start-up or
signals pass ``process=True`` (always a new interpreter), or call subprocess themselves.
"""
from __future__ import annotations

import locale
import os
import pathlib
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import tier

ROOT = pathlib.Path(__file__).parent.parent


def nnspec(*args, cwd=ROOT, env=None, input=None, timeout=120, process=None) -> subprocess.CompletedProcess:
    """`nnspec ARGS` in ``cwd`` (None: this one's) with environment ``env`` (default: this one's) and
    ``input`` on stdin.
    ``process``: True, a new interpreter; False, a fork; None, a fork only in the fast tier."""
    args = [str(a) for a in args]
    cwd = os.getcwd() if cwd is None else cwd
    if process is None:
        process = not tier.FAST
    if env is None:
        env = dict(os.environ)
    if process or not hasattr(os, "fork"):
        return subprocess.run([sys.executable, "-m", "nnspec", *args], cwd=cwd, env=env, input=input,
                              capture_output=True, text=True, timeout=timeout)
    return _forked(args, str(cwd), env, input, timeout)


_WARM = ("nnspec.cli", "nnspec.cli_dsl", "nnspec.cli_review", "nnspec.cli_import", "nnspec.config",
         "nnspec.fastcheck", "nnspec.targets")


def _forked(args, cwd, env, input, timeout):
    import importlib
    for name in _WARM:  # imported once here, not again in every child (none of them imports TensorFlow)
        try:
            importlib.import_module(name)
        except ImportError:  # renamed or gone: only the children's speed depended on it
            pass
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if input is not None:
            inp.write(input.encode() if isinstance(input, str) else input)
            inp.seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 3
            try:
                os.dup2(inp.fileno(), 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdin = open(0, closefd=False)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                front = [cwd] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
                sys.path[:0] = front
                import nnspec
                sys.argv = [os.path.join(os.path.dirname(nnspec.__file__), "__main__.py"), *args]
                from nnspec.cli import main
                try:
                    code = main(args)
                except SystemExit as e:  # as sys.exit(main()) in nnspec/__main__.py ends
                    code = e.code
                if code is None:
                    code = 0
                elif not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
            except BaseException:  # an uncaught exception: Python's traceback and exit 1
                traceback.print_exc()
                code = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code & 0xFF)
        status = _wait(pid, timeout)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["nnspec", *args], timeout)
        enc = locale.getpreferredencoding(False)
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode(enc).replace("\r\n", "\n").replace("\r", "\n"))
        return subprocess.CompletedProcess(["nnspec", *args], os.waitstatus_to_exitcode(status), *texts)


def _wait(pid, timeout):
    """The child's wait status, or None after ``timeout`` seconds; woken when it ends (a pidfd on
    Linux), else by polling."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # an old kernel
            fd = None
        if fd is not None:
            try:
                ready, _, _ = select.select([fd], [], [], timeout)
            finally:
                os.close(fd)
            if not ready:
                return None
            return os.waitpid(pid, 0)[1]
    deadline, delay = time.monotonic() + timeout, 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
