"""Time and peak memory of `nnspec validate` on hostile specs (tests/attacks.py).

    python bench/hostile.py                     # every attack at 1 MiB, one process each
    python bench/hostile.py --size 8 block_bomb # 8 MiB variants, some attacks only
    python bench/hostile.py --timeout 60 --mem-gb 5

Each attack runs in a fresh `python -m nnspec validate -q FILE` process; the
figures are that child's CPU time (user + system), wall time and peak resident
memory (ru_maxrss from wait4), its exit code and the first line it printed.
A child is killed after --timeout seconds and limited to --mem-gb of address
space, so a runaway attack cannot take the machine down.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from attacks import ATTACKS, MiB  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def measure(path, timeout=60.0, mem_gb=5.0, root=ROOT):
    """(exit code or 'timeout'/'killed', cpu s, wall s, peak MB, first output line)."""
    limit = int(mem_gb * 1024 ** 3)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out = tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "nnspec", "validate", "-q", str(path)], cwd=root, env={**ENV, "PYTHONPATH": str(root)},
                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=cap)
    timed_out = []

    def kill():
        timed_out.append(True)
        os.kill(p.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    first = out.read(4000).decode("utf-8", "replace").strip().splitlines()
    first = first[0] if first else ""
    if "MemoryError" in first or p.returncode == 3 and "Memory" in first:
        first = "MemoryError: " + first
    code = "timeout" if timed_out else p.returncode
    return code, ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss / 1024, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help="attacks to run (default: all)")
    ap.add_argument("--size", type=float, default=1.0, help="largest file, MiB (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--mem-gb", type=float, default=5.0)
    ap.add_argument("--root", default=str(ROOT), help="the nnspec tree to run (e.g. a copy of an older one)")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nnspec-hostile-"))
    size = int(args.size * MiB)
    print(f"{'attack':28} {'bytes':>9} {'exit':>7} {'cpu s':>7} {'wall s':>7} {'peak MB':>8}  {'code':22} output")
    for name in args.names or ATTACKS:
        suffix, raw = ATTACKS[name](size)
        path = tmp / f"{name}{suffix}"
        path.write_bytes(raw)
        code, cpu, wall, mb, first = measure(path, args.timeout, args.mem_gb, args.root)
        first = first.replace(str(path), path.name)
        tag = re.search(r"\[([a-z0-9-]+)\]$", first)
        tag = tag.group(1) if tag else ("internal-error" if "internal error" in first else "-")
        print(f"{name:28} {len(raw):9,} {code!s:>7} {cpu:7.2f} {wall:7.2f} {mb:8.0f}  {tag:22} {first[:150]}",
              flush=True)
        path.unlink()


if __name__ == "__main__":
    main()
