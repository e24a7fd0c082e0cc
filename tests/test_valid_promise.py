"""'valid' is a promise: what `nnspec validate` accepts must build, train and
serve in Keras. These are the static halves of issue 9 ("Trust"): specs that
passed validate and then failed in Keras (or inside nnspec) now get one
positioned diagnostic, and mutated shipped specs never crash the validator."""
import json
import pathlib
import random

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnspec
from tier import examples

SPECS = sorted((pathlib.Path(__file__).parent.parent / "specs").glob("*.yaml"))


def check(text: str):
    spec, diags = nnspec.check_text(text.encode(), "t.yaml")
    return spec, diags


def errors(text: str):
    return [d for d in check(text)[1] if d.severity == "error"]


def codes(text: str):
    return [(d.code, d.span.line, d.span.col) for d in errors(text)]


# ---------------------------------------------------------------- mutation
def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _replace(data, path, value):
    if not path:
        return value
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


_VALUES = st.one_of(st.integers(-3, 100), st.lists(st.integers(0, 3), max_size=2),
                    st.dictionaries(st.sampled_from(["a", "name", "units"]), st.integers(0, 3), max_size=2),
                    st.none(), st.sampled_from(["", "x", "_x", "self", "dense", "$in", "a b", "relu"]),
                    st.booleans(), st.floats(-2, 2, allow_nan=False))
_DOCS = [yaml.safe_load(p.read_text()) for p in SPECS]


def _mutate(data, index: int, value):
    data = json.loads(json.dumps(data))
    paths = list(_paths(data))
    return _replace(data, paths[index % len(paths)], value)


def _assert_no_crash(data):
    text = yaml.safe_dump(data, sort_keys=False)
    spec, diags = nnspec.check_text(text.encode(), "m.yaml")  # must not raise
    for d in diags:
        assert d.span.line >= 1 and d.message, d


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.integers(0, len(_DOCS) - 1), st.integers(0, 10**6), _VALUES)
def test_mutated_shipped_specs_never_crash(which, index, value):
    _assert_no_crash(_mutate(_DOCS[which], index, value))


def test_mutated_names_and_common_args_never_crash():
    """Every `name`, `from`, `trainable`, `activity_regularizer` and block argument
    of every shipped spec, replaced by each kind of value (deterministic)."""
    rnd = random.Random(9)
    values = [5, [1], {"a": 1}, None, "x y", True, 1.5, "_x"]
    for data in _DOCS:
        paths = list(_paths(data))
        wanted = [i for i, p in enumerate(paths)
                  if p and p[-1] in ("name", "from", "trainable", "activity_regularizer", "layer")]
        for i in rnd.sample(wanted, min(len(wanted), examples(6))):  # 2 in the fast tier
            for v in rnd.sample(values, 3):
                _assert_no_crash(_mutate(data, i, v))


# ---------------------------------------------------------------- names
ONE = """nnspec: 1
name: {model}
inputs:
  {inp}: [8]
layers:
  - Dense: {{units: 4, name: {layer}}}
outputs:
  {layer}: {{loss: mse}}
"""


@pytest.mark.parametrize("model,inp,layer,pos,words", [
    ("m", "x", "_x", (6, 29), "starts with '_'"),
    ("_m", "x", "out", (2, 7), "model name '_m'"),
    ("m", "self", "out", (4, 3), "reserved"),
    ("m", "lambda", "out", (4, 3), "Python keyword"),
    ("m", "class", "out", (4, 3), "Python keyword"),
    ("m", "_in", "out", (4, 3), "starts with '_'"),
])
def test_names_tensorflow_refuses(model, inp, layer, pos, words):
    errs = errors(ONE.format(model=model, inp=inp, layer=layer))
    assert len(errs) == 1, errs
    assert (errs[0].code, (errs[0].span.line, errs[0].span.col)) == ("bad-name", pos)
    assert words in errs[0].message


BLOCK = """nnspec: 1
name: m
inputs:
  x: [8]
blocks:
  two:
    params: {{}}
    layers:
      - Dense: {{units: 4{inner}}}
      - Dense: {{units: 4}}
layers:
  - two: {{{call}}}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("inner,call,pos", [
    ("", "name: [1]", (12, 17)),
    ("", "name: 5", (12, 17)),
    ("", "name: {a: 1}", (12, 17)),
    ("", "name: _b", (12, 17)),
    ("", "name: 'a b'", (12, 17)),
    (", name: [1]", "name: b", (9, 33)),
    (", name: 7", "name: b", (9, 33)),
    (", name: null", "name: b", None),
])
def test_block_names_checked(inner, call, pos):
    errs = errors(BLOCK.format(inner=inner, call=call))
    if pos is None:
        assert errs == []
        return
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("bad-name", *pos)]


def test_block_call_trainable_false_freezes_every_layer():
    spec, diags = check(BLOCK.format(inner="", call="name: b, trainable: false"))
    assert diags == []
    assert spec.params["b_dense"] == (0, 36) and spec.params["b"] == (0, 20)
    assert spec.params["out"] == (5, 0)
    assert [n.trainable for n in spec.nodes] == [False, False, True]


def test_block_call_activity_regularizer_goes_to_its_output_layer():
    spec, diags = check(BLOCK.format(inner="", call="name: b, activity_regularizer: {l2: 0.1}"))
    assert diags == []
    assert spec.node("b").activity_regularizer == {"l2": 0.1}
    assert spec.node("b_dense").activity_regularizer is None


@pytest.mark.parametrize("call,code,pos", [
    ("name: b, trainable: 3", "bad-type", (12, 31)),
    ("name: b, activity_regularizer: {l7: 1}", "unknown-key", (12, 43)),
    ("name: b, from: 5", "bad-from", (12, 26)),
])
def test_block_call_common_args_checked_at_the_call(call, code, pos):
    errs = errors(BLOCK.format(inner="", call=call))
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [(code, *pos)], errs


def test_block_call_activity_regularizer_conflict():
    errs = errors(BLOCK.format(inner="", call="name: b, activity_regularizer: {l2: 0.1}").replace(
        "      - Dense: {units: 4}\nlayers", "      - Dense: {units: 4, activity_regularizer: {l1: 0.1}}\nlayers"))
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("bad-block-argument", 12, 20)], errs


# ---------------------------------------------------------------- constraint and loss expressions
CONSTRAINT = """nnspec: 1
name: m
inputs:
  x: [8]
layers:
  - {layer}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("layer,code", [
    ('Dense: {units: 4, kernel_constraint: {expr: "sum(w)"}, name: out}', "constraint-shape"),
    ('Dense: {units: 4, kernel_constraint: {expr: "w / mean(w, axis=5)"}, name: out}', "bad-expression"),
    ('Dense: {units: 4, bias_constraint: {expr: "w / norm(w, axis=1)"}, name: out}', "bad-expression"),
    ('Dense: {units: 4, kernel_constraint: {expr: "w / norm(w, axis=1)"}, name: out}', "bad-expression"),
    ('Dense: {units: 4, kernel_constraint: {expr: "sum(w, axis=0, keepdims=true)"}, name: out}',
     "constraint-shape"),
    ('Dense: {units: 4, kernel_constraint: {expr: "w / norm(w, axis=0)"}, name: out}', None),
    ('Dense: {units: 4, kernel_constraint: {expr: "w / (1 + abs(w))"}, name: out}', None),
    ('Dense: {units: 4, bias_constraint: {expr: "clip(w, -1, 1)"}, name: out}', None),
])
def test_constraint_expression_keeps_the_weight_shape(layer, code):
    errs = errors(CONSTRAINT.format(layer=layer))
    if code is None:
        assert errs == []
    else:
        assert [(e.code, e.span.line) for e in errs] == [(code, 6)], errs
        assert errs[0].span.col > 20  # at the expression, not the layer


def test_constraint_inside_a_wrapper_is_checked():
    errs = errors("""nnspec: 1
name: m
inputs:
  x: [4, 3]
layers:
  - Bidirectional: {layer: {LSTM: {units: 2, recurrent_constraint: {expr: "max(w)"}}}}
  - Dense: {units: 1, name: out}
outputs:
  out: {loss: mse}
""")
    assert [(e.code, e.span.line) for e in errs] == [("constraint-shape", 6)], errs


def test_loss_expression_axes_checked_against_the_output_rank():
    text = """nnspec: 1
name: m
inputs:
  x: [8]
layers:
  - Dense: {{units: 4, name: out}}
outputs:
  out: {{loss: {{expr: "{e}"}}}}
"""
    assert codes(text.format(e="mean(abs(y_true - y_pred), axis=5)")) == [("bad-expression", 8, 22)]
    assert codes(text.format(e="mean(abs(y_true - y_pred), axis=[0, 2])")) == [("bad-expression", 8, 22)]
    assert codes(text.format(e="mean(abs(y_true - y_pred), axis=-1)")) == []


# ---------------------------------------------------------------- reuse
REUSE = """nnspec: 1
name: m
inputs:
  a: [4]
  b: [6, 4]
layers:
  - {layer}: {{{args}name: d, from: a}}
  - reuse: {{layer: d, from: b, name: d2}}
  - Flatten: {{}}
  - Concatenate: {{from: [d, flatten], name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("layer,args,ok", [
    ("BatchNormalization", "", False),
    ("Dense", "units: 4, ", True),
    ("LayerNormalization", "", True),
])
def test_reuse_on_another_rank(layer, args, ok):
    errs = errors(REUSE.format(layer=layer, args=args))
    if ok:
        assert errs == []
    else:
        assert [(e.code, e.span.line, e.span.col) for e in errs] == [("shared-layer-mismatch", 8, 5)], errs
        assert "input rank" in errs[0].message


# ---------------------------------------------------------------- input dtypes
DTYPE = """nnspec: 1
name: m
inputs:
  x: {{shape: {shape}, dtype: {dtype}}}
layers:
{layers}
  - Dense: {{units: 1, name: out}}
outputs:
  out: {{loss: mse}}
"""


@pytest.mark.parametrize("dtype,shape,layers,want", [
    ("uint8", [8, 8, 1], "  - Conv2D: {filters: 2, kernel_size: 3}\n  - Flatten: {}", ("input-dtype", 6, 5)),
    ("int64", [8, 8, 1], "  - Conv2D: {filters: 2, kernel_size: 3}\n  - Flatten: {}", ("input-dtype", 6, 5)),
    # Flatten keeps the integer dtype: the Conv1D after it is refused, at its own line
    ("int32", [8, 8], "  - Flatten: {}\n  - Reshape: {target_shape: [64, 1]}\n  - Conv1D: {filters: 2, kernel_size: 3}"
     "\n  - Flatten: {name: f2}", ("input-dtype", 8, 5)),
    ("uint8", [8, 8, 1], "  - Rescaling: {scale: 0.004}\n  - Conv2D: {filters: 2, kernel_size: 3}\n  - Flatten: {}",
     None),
    ("bool", [8], "  - Dropout: {rate: 0.5}", ("input-dtype", 6, 5)),
    ("bool", [8], "  - ReLU: {}", ("input-dtype", 6, 5)),
    ("int32", [8], "  - ReLU: {}", None),
    ("uint8", [8], "  - Dense: {units: 4}", None),
    ("int32", [8, 3], "  - TimeDistributed: {layer: {Dense: {units: 2}}}\n  - Flatten: {}", None),
    ("int32", [4, 8, 3], "  - TimeDistributed: {layer: {Conv1D: {filters: 2, kernel_size: 1}}}\n  - Flatten: {}",
     ("input-dtype", 6, 5)),
])
def test_input_dtype_checked_at_the_consuming_layer(dtype, shape, layers, want):
    errs = errors(DTYPE.format(dtype=dtype, shape=shape, layers=layers))
    got = [(e.code, e.span.line, e.span.col) for e in errs]
    if want is None:
        assert got == []
    else:
        assert got[:1] == [want] and len(got) == 1, errs


def test_float_into_embedding_warns():
    spec, diags = check(DTYPE.format(dtype="float32", shape=[8], layers="  - Embedding: {input_dim: 10, output_dim: 2}"
                                     "\n  - Flatten: {}"))
    assert [(d.code, d.severity, d.span.line) for d in diags] == [("float-indices", "warning", 6)]
    spec, diags = check(DTYPE.format(dtype="int32", shape=[8], layers="  - Embedding: {input_dim: 10, output_dim: 2}"
                                     "\n  - Flatten: {}"))
    assert diags == []


# ---------------------------------------------------------------- model size
BIG = """nnspec: 1
name: big
inputs:
  x: [100000]
layers:
  - Dense: {units: 8, name: small}
  - Dense: {units: 100000, name: out}
outputs:
  out: {loss: mse}
"""


def test_validate_warns_when_the_weights_exceed_2_gib():
    spec, diags = check(BIG.replace("units: 8", "units: 6000"))
    assert [(d.code, d.severity, d.span.line) for d in diags] == [("model-too-large", "warning", 7)]
    assert "need 4,800,4" in diags[0].message and "Dense 'out'" in diags[0].message
    spec, diags = check(BIG)
    assert diags == []


def _cli(*argv):
    import os

    import clirun
    return clirun.nnspec(*argv, cwd=pathlib.Path(__file__).parent.parent,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.parametrize("command", ["check", "compile"])
def test_compile_and_check_refuse_weights_over_the_limit_before_building(tmp_path, command):
    path = tmp_path / "big.yaml"
    path.write_text(BIG.replace("units: 8", "units: 6000"))
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    r = _cli(command, str(path), *extra)
    assert r.returncode == 1, r.stderr
    line = [x for x in r.stderr.splitlines() if "model-too-large" in x]
    assert len(line) == 1 and line[0].startswith(f"{path}:7:5: error: the model's weights need 4,800,4")
    assert "--max-weights-bytes" in line[0]
    assert not (tmp_path / "out").exists()
    # the flag sets the limit, with a unit suffix; the small model is refused under a tiny one
    path.write_text(BIG)
    r = _cli(command, str(path), "--max-weights-bytes", "1K", *extra)
    assert r.returncode == 1 and "more than the limit of 1,024 bytes" in r.stderr, r.stderr
    r = _cli(command, str(path), "--max-weights-bytes", "lots", *extra)
    assert r.returncode == 2 and "--max-weights-bytes" in r.stderr


# ---------------------------------------------------------------- from the fuzzer (/work/wt/FINDINGS.md)
@pytest.mark.parametrize("layer,want", [
    ("Dense: {units: 2, bias_constraint: {unit_norm: {axis: 1}}, name: out}", ("bad-argument", 6, 40)),
    ("Dense: {units: 2, kernel_constraint: {max_norm: {axis: [0, 0]}}, name: out}", ("bad-argument", 6, 42)),
    ("Dense: {units: 2, kernel_constraint: {min_max_norm: {axis: -3}}, name: out}", ("bad-argument", 6, 42)),
    ("Dense: {units: 2, kernel_constraint: {max_norm: {axis: [0, 1]}}, name: out}", None),
    ("Dense: {units: 2, kernel_constraint: {unit_norm: {axis: -1}}, bias_constraint: {unit_norm: {axis: 0}}, "
     "name: out}", None),
])
def test_named_constraint_axes_checked_against_the_weight_rank(layer, want):
    got = codes(CONSTRAINT.format(layer=layer))
    assert got == ([want] if want else []), got


NO_GRAD = """nnspec: 1
name: m
inputs:
  x: [4]
layers:
  - Dense: {{units: 2, name: features{extra}}}
  - Dropout: {{rate: 0.5, from: x, name: drop}}
outputs:
  features: {features}
  drop: {{loss: mse}}
{penalties}"""


@pytest.mark.parametrize("extra,features,penalties,want", [
    ("", "null", "", [("no-gradient", 10, 3)]),
    (", trainable: false", "null", "", []),  # nothing to train: Keras runs it
    ("", "{loss: mse}", "", []),
    (", kernel_regularizer: {l2: 0.01}", "null", "", []),
    # a regularizer of a weight that is not built adds nothing (fuzzer, seed 31 graph 377)
    (", use_bias: false, bias_regularizer: {l2: 0.01}", "null", "", [("no-gradient", 10, 3)]),
    (", use_bias: true, bias_regularizer: {l2: 0.01}", "null", "", []),
    # Keras's L1L2 with both factors 0 returns a constant: no gradient (fuzzer, seed 5 graph 104)
    (", kernel_regularizer: {l1_l2: {}}", "null", "", [("no-gradient", 10, 3)]),
    (", activity_regularizer: l1_l2", "null", "", [("no-gradient", 10, 3)]),
    (", kernel_regularizer: {l1_l2: {l2: 0.1}}", "null", "", []),
    (", kernel_regularizer: {l2: 0.0}", "null", "", []),  # 0 * sum(w**2): a zero gradient, not none
    (", activity_regularizer: {l2: 0.01}", "null", "", []),
    ("", "null", "penalties: [{on: features, l2: 0.1}]\n", []),
])
def test_trainable_weights_must_reach_a_loss(extra, features, penalties, want):
    assert codes(NO_GRAD.format(extra=extra, features=features, penalties=penalties)) == want


@pytest.mark.parametrize("embedding", ["Embedding: {input_dim: 2, output_dim: 3, name: emb}",
                                       "TimeDistributed: {layer: {Embedding: {input_dim: 2, output_dim: 3}}, "
                                       "name: emb}"])
def test_no_gradient_crosses_into_an_embeddings_indices(embedding):
    """A Dense whose output only feeds an Embedding's indices gets no gradient (Keras casts the
    indices to int32): fit failed with "No gradients provided" (fuzzer, seed 31 graph 1725)."""
    text = f"""nnspec: 1
name: m
inputs:
  x: [3, 4]
layers:
  - Dense: {{units: 2, name: d}}
  - {embedding}
  - Embedding: {{input_dim: 2, output_dim: 3, name: frozen, trainable: false}}
outputs:
  frozen: {{loss: mse}}
"""
    assert [c for c in codes(text) if c[0] == "no-gradient"] == [("no-gradient", 10, 3)]


@pytest.mark.parametrize("shape,metric,want", [
    ([3, 4], "r2_score", [("metric-rank", 8, 33)]),
    ([3, 4], "f1_score", [("metric-rank", 8, 33)]),
    ([4], "r2_score", []),
    ([3, 4], "mae", []),
])
def test_matrix_metrics_need_a_rank_2_output(shape, metric, want):
    assert codes(f"""nnspec: 1
name: m
inputs:
  x: {shape}
layers:
  - Dense: {{units: 2, name: a}}
outputs:
  a: {{loss: mse, metrics: [mae, {metric}]}}
""") == want


@pytest.mark.parametrize("output,want", [
    ("{loss: sparse_categorical_crossentropy, metrics: [accuracy, mse]}", [("metric-target", 8, 66)]),
    ("{loss: sparse_categorical_crossentropy, metrics: [sparse_top_k_categorical_accuracy, accuracy]}", []),
    ("{loss: mse, metrics: [{sparse_top_k_categorical_accuracy: {}}]}", [("metric-target", 8, 28)]),
    ("{loss: huber, metrics: [accuracy, mae, categorical_accuracy]}", []),
    ("{metrics: [mae, sparse_categorical_accuracy]}", [("metric-target", 8, 22)]),  # no loss: the first metric
    ("{metrics: [sparse_categorical_accuracy, accuracy]}", []),
    ("{loss: {expr: 'mean(square(y_true - y_pred))'}, metrics: [sparse_categorical_accuracy]}", []),
])
def test_metrics_take_the_target_the_loss_takes(output, want):
    """One target per output: class labels for a sparse loss, values shaped like the output for any other
    (tests/keras/test_valid_promise_keras.py measures every metric against Keras)."""
    assert codes(f"""nnspec: 1
name: m
inputs:
  x: [3, 4]
layers:
  - Dense: {{units: 4, name: a}}
outputs:
  a: {output}
""") == want
