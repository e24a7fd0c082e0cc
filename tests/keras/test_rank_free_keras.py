"""Op.rank_free, each op record's word on whether Keras pins a layer's input rank when it builds it,
against Keras: a layer called again (shared, `reuse:`) on an input of another rank, one axis of size 1
more or one axis less. nnspec accepts the call exactly where Keras runs it. Where nnspec's shape rule
refuses that rank even for a layer of its own, the shape rule decides, not sharing: not asked here."""
import json
import warnings

import pytest

import nnspec
from nnspec.keras import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from nnspec.keras.layers import call_layer, make_layer  # noqa: E402
from nnspec.ops import CATALOG  # noqa: E402
from test_valid_promise_keras import OP_CASES  # noqa: E402 (every op, with args and input shapes)

INDICES = {"CategoryEncoding"}  # integer inputs


def _errors(op, args, shapes, others=None):
    """nnspec's error codes for the layer on ``shapes``, called again on ``others`` (when given)."""
    dtype = "int32" if op in INDICES else "float32"
    first = {f"a{i}": {"shape": s, "dtype": dtype} for i, s in enumerate(shapes)}
    second = {f"b{i}": {"shape": s, "dtype": dtype} for i, s in enumerate(others or [])}
    source = list(first) if len(first) > 1 else "a0"
    again = list(second) if len(second) > 1 else "b0"
    text = f"""nnspec: 1
name: r
inputs: {json.dumps({**first, **second})}
layers:
  - {op}: {json.dumps({**args, "name": "n", "from": source})}
""" + (f"  - reuse: {{layer: n, from: {json.dumps(again)}, name: n2}}\n" if others else "") + \
        "outputs: {n: {loss: mse}" + (", n2: {loss: mse}}\n" if others else "}\n")
    _, diags = nnspec.check_text(text.encode(), "r.yaml")
    return [d.code for d in diags if d.severity == "error"]


def _keras_runs_again(op_name, args, shapes, others) -> bool:
    op = CATALOG[op_name]
    dtype = "int32" if op_name in INDICES else "float32"
    layer = make_layer(op, op.fill(args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call_layer(op, layer, [keras.Input(tuple(s), dtype=dtype) for s in shapes])
        try:
            call_layer(op, layer, [keras.Input(tuple(s), dtype=dtype) for s in others])
        except Exception:  # noqa: BLE001 - Keras's InputSpec, or the built weights, refuse the rank
            return False
    return True


TRIED = [(op, args, shapes, [[1, *s] for s in shapes]) for op, (args, shapes) in sorted(OP_CASES.items())] + [
    (op, args, shapes, [s[1:] for s in shapes]) for op, (args, shapes) in sorted(OP_CASES.items())
    if all(len(s) > 1 for s in shapes)]
CASES = [c for c in TRIED if not _errors(c[0], c[1], c[3])]  # a layer of its own takes the other rank


def test_the_cases_cover_both_answers():
    """Both kinds of op are among the cases: rank-free ones and ones whose rank Keras pins."""
    assert {CATALOG[c[0]].rank_free for c in CASES} == {True, False}


@pytest.mark.parametrize("op,args,shapes,others", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_a_shared_layer_on_another_rank_is_what_keras_does(op, args, shapes, others):
    errors = _errors(op, args, shapes, others)
    assert errors in ([], ["shared-layer-mismatch"])
    assert (errors == []) == _keras_runs_again(op, args, shapes, others)
