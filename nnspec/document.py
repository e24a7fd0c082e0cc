"""The document every stage reads: plain data and where each piece came from.

The loaders (``source.yaml_loader``, ``source.dsl``) make one; block expansion,
the schema and resolve read it, and every diagnostic takes its position from it.
It imports nothing of nnspec's but ``Span``.
"""
from __future__ import annotations

from .record import field, record

from .diagnostics import Span


@record
class Document:
    """Plain data (dict/list/str/int/float/bool/None) and where each piece came from."""

    file: str
    data: object
    pos: dict = field(default_factory=dict)  # path -> (kline, kcol, vline, vcol[, via]), 1-based
    text: str = ""
    meta: dict = field(default_factory=dict)  # e.g. blocks: {"calls": {call name: block name}}

    def span(self, path=(), key: bool = False) -> Span:
        """The span of the node at ``path`` (its key with ``key=True``),
        falling back to the nearest ancestor that has a position."""
        path = tuple(path)
        while True:
            p = self.pos.get(path)
            if p is not None:
                via = p[4] if len(p) > 4 else ()
                if key and p[0]:
                    return Span(self.file, p[0], p[1], via)
                return Span(self.file, p[2], p[3], via)
            if not path:
                return Span(self.file, 1, 1)
            path = path[:-1]
            key = False
