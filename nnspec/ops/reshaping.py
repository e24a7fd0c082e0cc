"""Ops of the reshaping family."""
from __future__ import annotations

from .base import Arg, Op, ShapeError  # noqa: F401

OPS: tuple[Op, ...] = ()
