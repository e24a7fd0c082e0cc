"""nnspec.record against dataclasses: the records on the validate path keep the meaning they had."""
import dataclasses

import pytest

from nnspec.record import field, record, replace


def _pair(frozen):
    @dataclasses.dataclass(frozen=frozen)
    class D:
        a: int
        b: int = 2
        via: tuple = dataclasses.field(default=(), compare=False)
        meta: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @record(frozen=frozen)
    class R:
        a: int
        b: int = 2
        via: tuple = field(default=(), compare=False)
        meta: dict = field(default_factory=dict, compare=False, repr=False)
    return D, R


@pytest.mark.parametrize("frozen", [False, True])
def test_same_behaviour_as_dataclasses(frozen):
    D, R = _pair(frozen)
    for make in (lambda C: C(1), lambda C: C(1, 3), lambda C: C(a=1, b=3, via=(1,)), lambda C: C(1, 2, (), {"k": 1})):
        d, r = make(D), make(R)
        assert (r.a, r.b, r.via, r.meta) == (d.a, d.b, d.via, d.meta)
        assert repr(r).replace(".R(", ".D(") == repr(d)
    assert (R(1, via=(5,)) == R(1)) == (D(1, via=(5,)) == D(1)) is True  # via is not compared
    assert (R(1) == R(2)) == (D(1) == D(2)) is False
    assert R(1).meta is not R(1).meta  # a fresh dict each
    assert R(1) != D(1) and R(1).__eq__(1) is NotImplemented
    with pytest.raises(TypeError):
        R()
    with pytest.raises(TypeError):
        R(1, c=3)
    if frozen:
        assert hash(R(1, via=(5,))) == hash(R(1)) and hash(D(1, via=(5,))) == hash(D(1))
        assert {R(1), R(1), R(2)} == {R(1), R(2)}
        with pytest.raises(AttributeError):
            R(1).a = 3
        with pytest.raises(AttributeError):
            del R(1).a
    else:
        with pytest.raises(TypeError):
            hash(R(1))
        with pytest.raises(TypeError):
            hash(D(1))
        r = R(1)
        r.a = 3
        assert r.a == 3


def test_replace_and_post_init():
    calls = []

    @record
    class P:
        name: str
        layer: str = ""

        def __post_init__(self):
            calls.append(self.name)
            if not self.layer:
                self.layer = self.name

    p = P("x")
    q = replace(p, name="y")
    assert (p.name, p.layer, q.name, q.layer) == ("x", "x", "y", "x") and calls == ["x", "y"]
    with pytest.raises(TypeError):
        replace(p, nope=1)


def test_a_required_field_after_a_default_is_refused():
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 1
            b: int
