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
``__post_init__`` runs after ``__init__`` when the class defines it.
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


def _make(cls, frozen: bool):
    names = [n for n in cls.__dict__.get("__annotations__", {})]
    env = {"_object_setattr": object.__setattr__}
    params, body = [], []
    fields = {}
    for n in names:
        spec = cls.__dict__.get(n, _MISSING)
        f = spec if isinstance(spec, Field) else Field(default=spec)
        fields[n] = f
        if f.default_factory is not _MISSING:
            env[f"_factory_{n}"] = f.default_factory
            params.append(f"{n}=_MISSING")
            value = f"_factory_{n}() if {n} is _MISSING else {n}"
            env["_MISSING"] = _MISSING
        elif f.default is not _MISSING:
            env[f"_default_{n}"] = f.default
            params.append(f"{n}=_default_{n}")
            value = n
        else:
            if any(p.find("=") > 0 for p in params):
                raise TypeError(f"{cls.__name__}: field {n!r} without a default follows one with a default")
            params.append(n)
            value = n
        if isinstance(spec, Field):  # the class attribute was the field's description, not its default
            if f.default is _MISSING:
                delattr(cls, n)
            else:
                setattr(cls, n, f.default)
        body.append(f"  _object_setattr(self, {n!r}, {value})" if frozen else f"  self.{n} = {value}")
    if "__post_init__" in cls.__dict__ or hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    cls.__record_fields__ = tuple(names)
    cls.__record_repr__ = tuple(n for n in names if fields[n].repr)
    cls.__record_compare__ = tuple(n for n in names if fields[n].compare)
    cls.__record_init__ = {n: fields[n] for n in names}
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
