"""Plain records: what ``dataclasses.dataclass`` generates for us, without its import.

``import dataclasses`` loads ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``): 8-11 ms
of a `nnspec validate` whose whole budget above the interpreter and PyYAML is about 20 ms
(bench/validate_speed.py --startup). The records on the validate path (Span, Diagnostic, the op
catalog's Op and Arg, the IR) use this instead; its surface is the part of dataclasses they
used, with the same meaning:

    @record                      # __init__ (positional or keyword), __repr__, __eq__; unhashable
    @record(frozen=True)         # also immutable and hashable by the compared fields
    class Span:
        file: str
        line: int = 0
        via: tuple = field(default=(), compare=False)
        meta: dict = field(default_factory=dict)

    replace(span, line=3)        # a copy with some fields changed (dataclasses.replace)

Fields are the class's annotations in order (names only: they are never evaluated);
``__post_init__`` runs after ``__init__`` when the class defines it. A frozen record's __init__
(and __post_init__) set fields through ``self.__dict__``.
"""
from __future__ import annotations

_MISSING = object()


class Field:
    __slots__ = ("default", "default_factory", "compare", "repr")

    def __init__(self, default=_MISSING, default_factory=_MISSING, compare=True, repr=True):
        self.default, self.default_factory, self.compare, self.repr = default, default_factory, compare, repr


def field(*, default=_MISSING, default_factory=_MISSING, compare: bool = True, repr: bool = True) -> Field:
    """A field with a factory for its default, or left out of equality or repr."""
    return Field(default, default_factory, compare, repr)


def _repr(self) -> str:
    return f"{type(self).__qualname__}(" + ", ".join(
        f"{n}={getattr(self, n)!r}" for n in type(self).__record_repr__) + ")"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in self.__record_compare__)


def _hash(self) -> int:
    return hash(tuple(getattr(self, n) for n in self.__record_compare__))


def _frozen_setattr(self, name, value):
    raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")


def _frozen_delattr(self, name):
    raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")


def _initializer(cls, names: tuple, fields: dict):
    """A generic __init__ over the fields (Python compiles no code for it: the first compile() of a
    process costs 1-1.5 ms, a twentieth of validate's start-up budget)."""
    count, known = len(names), frozenset(names)
    required = tuple(n for n in names if fields[n].default is _MISSING and fields[n].default_factory is _MISSING)
    defaults = {n: f.default for n, f in fields.items() if f.default is not _MISSING}
    factories = tuple((n, f.default_factory) for n, f in fields.items() if f.default_factory is not _MISSING)
    post_init = hasattr(cls, "__post_init__")
    name = cls.__name__

    def __init__(self, *args, **kwargs):
        if len(args) > count:
            raise TypeError(f"{name}() takes {count} positional arguments but {len(args)} were given")
        values = dict(zip(names, args))
        if kwargs:
            for k in kwargs:
                if k not in known:
                    raise TypeError(f"{name}() got an unexpected keyword argument {k!r}")
                if k in values:
                    raise TypeError(f"{name}() got multiple values for argument {k!r}")
            values.update(kwargs)
        if len(values) < count:
            for n in required:
                if n not in values:
                    raise TypeError(f"{name}() missing required argument {n!r}")
            for n, d in defaults.items():
                if n not in values:
                    values[n] = d
            for n, factory in factories:
                if n not in values:
                    values[n] = factory()
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _make(cls, frozen: bool):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    fields = {}
    seen_default = False
    for n in names:
        spec = cls.__dict__.get(n, _MISSING)
        f = spec if isinstance(spec, Field) else Field(default=spec)
        fields[n] = f
        has_default = f.default is not _MISSING or f.default_factory is not _MISSING
        if seen_default and not has_default:
            raise TypeError(f"{cls.__name__}: field {n!r} without a default follows one with a default")
        seen_default |= has_default
        if isinstance(spec, Field):  # the class attribute was the field's description, not its default
            if f.default is _MISSING:
                delattr(cls, n)
            else:
                setattr(cls, n, f.default)
    if "__init__" not in cls.__dict__:  # a class may write its own, the same, where speed counts (Span)
        cls.__init__ = _initializer(cls, names, fields)
    cls.__record_fields__ = names
    cls.__record_repr__ = tuple(n for n in names if fields[n].repr)
    cls.__record_compare__ = tuple(n for n in names if fields[n].compare)
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq
    if frozen:
        cls.__hash__ = _hash
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    elif "__hash__" not in cls.__dict__:
        cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass is
    return cls


def record(cls=None, *, frozen: bool = False):
    """Make ``cls`` a record (see the module docstring); ``@record`` or ``@record(frozen=True)``."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def replace(obj, **changes):
    """A copy of the record ``obj`` with ``changes`` (field name -> value)."""
    unknown = set(changes) - set(type(obj).__record_fields__)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{n: changes[n] if n in changes else getattr(obj, n) for n in type(obj).__record_fields__})


def is_record(obj) -> bool:
    return hasattr(type(obj), "__record_fields__")
