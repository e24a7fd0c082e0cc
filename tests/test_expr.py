"""The expression language: parses what the docs show, refuses everything else
with a positioned ExprError, never evaluates anything."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.expr import ExprError, infer_rank, names, parse
from tier import examples

RANKS = {"hidden4": 2, "z_mean": 2, "z_log_var": 2, "x": 4, "y_true": 2, "y_pred": 2}


@pytest.mark.parametrize("text,rank", [
    ("0.01 * mean(abs(hidden4))", 0),
    ("-0.5 * mean(sum(1 + z_log_var - square(z_mean) - exp(z_log_var), axis=-1))", 0),
    ("sum(x, axis=[1, 2])", 2),
    ("sum(x, axis=[1, 2], keepdims=true)", 4),
    ("maximum(y_true, y_pred) - minimum(y_true, 0.5)", 2),
    ("clip(x, 0, 1) ** 2", 4),
    ("2 ** -1", 0),
])
def test_valid(text, rank):
    assert infer_rank(parse(text), RANKS) == rank


def test_precedence_is_pythons():
    assert parse("-x ** 2") == ("neg", ("bin", "**", ("name", "x", 2), ("num", 2)))
    assert parse("1 - 2 - 3")[2][0] == "bin"  # left associative: (1 - 2) - 3


@pytest.mark.parametrize("text,col", [
    ("__import__('os')", 12), ("x.y.z", 4), ("x[0", 4), ("mean(x", 7), ("lambda: 1", 7), ("x = 1", 3),
])
def test_refused_with_column(text, col):
    with pytest.raises(ExprError) as e:
        parse(text)
    assert e.value.col == col


@pytest.mark.parametrize("text,word", [
    ("maen(x)", "mean"), ("sum(x, axis=4)", "out of range"), ("sum(x, axes=1)", "keyword"),
    ("abs(x, x)", "positional"), ("unknown_name + 1", "unknown name"),
    ("os.system(1)", "unknown function"),  # a dotted name is one tensor (enc.state_h), never an attribute
])
def test_semantic_errors(text, word):
    with pytest.raises(ExprError) as e:
        infer_rank(parse(text), RANKS)
    assert word in e.value.message + (e.value.hint or "")


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_only_exprerror(text):
    try:
        tree = parse(text)
    except ExprError:
        return
    names(tree)


_leaf = st.one_of(st.sampled_from(["x", "hidden4", "z_mean"]), st.integers(0, 99).map(str))


def _expr(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["abs", "square", "exp", "mean", "sum"]), children).map(lambda t: f"{t[0]}({t[1]})"),
        children.map(lambda c: f"-{c}"),
    )


@settings(max_examples=examples(200), deadline=None)
@given(st.recursive(_leaf, _expr, max_leaves=12))
def test_generated_expressions_parse_and_keep_names(text):
    tree = parse(text)
    used = {n for n, _ in names(tree)}
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) - {"abs", "square", "exp", "mean", "sum"}
    assert used == words
    infer_rank(tree, RANKS)
