"""Which tier this run is, and what that changes.

The fast tier is a run that deselects the tests marked slow (`pytest -m "not slow"`, the README's
quick local loop); every other run, CI's plain `pytest` above all, is the full one.
NNSPEC_TEST_TIER=fast or =full overrides the guess. tests/conftest.py sets FAST before any test
module is imported.

What the fast tier does more cheaply, never with fewer assertions (the full run keeps all of it):
- hypothesis tests draw about a fifth of their examples (`examples(N)`, below);
- most `nnspec ...` command lines run in a fork of the test process instead of a new interpreter
  (tests/clirun.py); the tests about the process itself (imports, start-up, signals) always start one.
"""
from __future__ import annotations

import os
import re

FAST = False


def examples(n: int) -> int:
    """``max_examples`` for a hypothesis test: ``n`` in the full run, about ``n / 5`` (at least 2,
    at most n) in the fast tier. An explicit ``@settings(max_examples=...)`` overrides any
    hypothesis profile, hence this helper."""
    return max(2, min(n, round(n / 5))) if FAST else n


def is_fast(markexpr: str) -> bool:
    """True when NNSPEC_TEST_TIER says fast, or when ``markexpr`` (pytest's -m) deselects every test
    marked slow, whatever its other markers (e.g. "not slow", "not slow and not bounds")."""
    forced = os.environ.get("NNSPEC_TEST_TIER", "").strip().lower()
    if forced in ("fast", "full"):
        return forced == "fast"
    if not markexpr.strip():
        return False
    try:
        from _pytest.mark.expression import Expression
        expr = Expression.compile(markexpr)
        names = sorted(set(re.findall(r"(?:\w|:|\+|-|\.|\[|\])+", markexpr)) - {"and", "or", "not", "slow"})
        for bits in range(2 ** min(len(names), 12)):
            on = {n for i, n in enumerate(names) if bits >> i & 1} | {"slow"}
            if expr.evaluate(lambda name, /, on=on, **kwargs: name in on):
                return False
        return True
    except Exception:  # another pytest's expression module, or markers with arguments: the README's spelling
        return " ".join(markexpr.split()) == "not slow"
