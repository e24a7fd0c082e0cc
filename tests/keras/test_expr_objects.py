"""nnspec.keras.expr: expressions compiled to keras.ops, checked against a NumPy
reference; the Penalty layer, ExprLoss and ExprConstraint inside real models."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

keras = pytest.importorskip("keras")

from nnspec.expr import parse  # noqa: E402
from nnspec.keras.expr import ExprConstraint, ExprLoss, Penalty, compile_expr  # noqa: E402


# ---------------------------------------------------------------------------
# NumPy reference evaluator
# ---------------------------------------------------------------------------

def _np_logsumexp(x, axis=None, keepdims=False):
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_norm(x, axis=None, keepdims=False):
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))


NP_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
             "std": np.std, "var": np.var, "logsumexp": _np_logsumexp, "norm": _np_norm}
NP_ELEM = {"abs": np.abs, "square": np.square, "sqrt": np.sqrt, "exp": np.exp, "log": np.log,
           "log1p": np.log1p, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
           "relu": lambda x: np.maximum(x, 0), "softplus": lambda x: np.logaddexp(0, x),
           "sign": np.sign, "sin": np.sin, "cos": np.cos}


def _np_axis(node):
    if node[0] == "list":
        return tuple(_np_axis(a) for a in node[1])
    return int(ref(node, {}))


def ref(node, env):
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "name":
        return np.asarray(env[node[1]], dtype=np.float64)
    if kind == "neg":
        return -ref(node[1], env)
    if kind == "bin":
        a, b = ref(node[2], env), ref(node[3], env)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                "**": np.power}[node[1]](a, b)
    _, fn, pos, kw, _ = node
    args = [ref(a, env) for a in pos]
    if fn in NP_REDUCE:
        axis = _np_axis(kw["axis"]) if "axis" in kw else None
        keep = kw.get("keepdims", ("bool", False))[1]
        return NP_REDUCE[fn](np.asarray(args[0], dtype=np.float64), axis=axis, keepdims=keep)
    if fn in NP_ELEM:
        return NP_ELEM[fn](args[0])
    if fn == "clip":
        return np.minimum(np.maximum(args[0], args[1]), args[2])
    return {"maximum": np.maximum, "minimum": np.minimum}[fn](*args)


def run(text, env):
    out = compile_expr(parse(text))(env)
    return np.asarray(keras.ops.convert_to_numpy(out)) if not isinstance(out, float) else np.asarray(out)


RNG = np.random.default_rng(0)
ENV32 = {"x": RNG.normal(size=(4, 3)).astype("float32"),
         "y": RNG.normal(size=(4, 3)).astype("float32"),
         "hidden4": RNG.normal(size=(8, 6)).astype("float32"),
         "z_mean": RNG.normal(size=(8, 2)).astype("float32"),
         "z_log_var": RNG.normal(size=(8, 2)).astype("float32")}

FIXED = [
    "0.01 * mean(abs(hidden4))",
    "-0.5 * mean(sum(1 + z_log_var - square(z_mean) - exp(z_log_var), axis=-1))",
    "x ** 2", "x ** 3 - 2 * x", "1 / 2 * x", "x / 2", "2 ** -1 * y", "-x ** 2",
    "sum(x)", "sum(x, axis=0)", "sum(x, axis=[0, 1])", "mean(x, axis=-1, keepdims=true)",
    "max(x, axis=1)", "min(y)", "prod(x, axis=0)", "std(x)", "var(y, axis=0)",
    "logsumexp(x, axis=-1)", "logsumexp(x)", "norm(x)", "norm(x, axis=1, keepdims=true)",
    "abs(x) + square(y)", "sqrt(abs(x)) + log(abs(y) + 1) + log1p(abs(x))",
    "exp(x) * tanh(y) - sigmoid(x) + relu(y) + softplus(x) + sign(y) + sin(x) + cos(y)",
    "maximum(x, y) - minimum(x, 0)", "clip(x, -0.5, 0.5)", "clip(x, y, y + 1)",
    "mean(square(x - y), axis=-1)", "x - mean(x, axis=0)", "sum(x, axis=0) * y",
]


@pytest.mark.parametrize("text", FIXED)
def test_fixed_expressions_match_numpy(text):
    got = run(text, ENV32)
    want = ref(parse(text), ENV32)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


FOLDED = [f"{fn}({v}) * x" for fn in sorted(NP_ELEM) + sorted(NP_REDUCE) for v in ("0.7", "(-1.3)")
          if not (fn in ("log", "sqrt", "log1p") and v.startswith("("))] + \
    ["maximum(1, -2) * x", "minimum(1, -2) * x", "clip(3, -1, 2) * x", "clip(-3, -1, 2) * x",
     "(2 ** 0.5 - 3 / 4) * x", "sum(2, keepdims=true) * x", "softplus(-50) + sigmoid(-40) * x + exp(-1)"]


@pytest.mark.parametrize("text", FOLDED)
def test_constant_parts_match_numpy(text):
    env = {"x": ENV32["x"].astype("float64")}
    np.testing.assert_allclose(run(text, env), ref(parse(text), env), rtol=1e-12)


def test_readme_values_by_hand():
    h, zm, zv = ENV32["hidden4"], ENV32["z_mean"], ENV32["z_log_var"]
    np.testing.assert_allclose(run("0.01 * mean(abs(hidden4))", ENV32), 0.01 * np.abs(h).mean(), rtol=1e-5)
    kl = -0.5 * np.mean(np.sum(1 + zv - zm ** 2 - np.exp(zv), axis=-1))
    np.testing.assert_allclose(
        run("-0.5 * mean(sum(1 + z_log_var - square(z_mean) - exp(z_log_var), axis=-1))", ENV32), kl, rtol=1e-5)


def test_literals_are_floats():
    assert run("1 / 2", {}) == 0.5
    assert run("7 / 2 * 2", {}) == 7.0
    out = compile_expr(parse("x ** 2 + 1"))(ENV32)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    out64 = compile_expr(parse("x / 3"))({"x": ENV32["x"].astype("float64")})
    assert keras.backend.standardize_dtype(out64.dtype) == "float64"
    np.testing.assert_allclose(run("1 / 0 + x", ENV32), np.full((4, 3), np.inf))
    assert np.isnan(run("log(-1)", {}))
    # name-free parts fold to Python floats: they take x's dtype and keep float64 precision
    x64 = ENV32["x"].astype("float64")
    np.testing.assert_allclose(run("exp(1) * x / sqrt(abs(-2))", {"x": x64}), np.e * x64 / np.sqrt(2), rtol=1e-15)
    out = compile_expr(parse("log(3) * sigmoid(2) * x + max(2)"))(ENV32)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_compile_errors():
    with pytest.raises(ValueError, match="unknown function"):
        compile_expr(("call", "eval", [("num", 1)], {}, 1))
    with pytest.raises(ValueError, match="'q'"):
        compile_expr(parse("q + 1"))({"x": ENV32["x"]})
    with pytest.raises(ValueError, match="bad expression"):
        compile_expr("x +")


# ---------------------------------------------------------------------------
# Random expression trees (hypothesis), rendered to text, parsed, compared
# ---------------------------------------------------------------------------

SHAPE = (4, 3)
NAMES = ("a", "b", "c")


def _leaf(draw):
    if draw(st.integers(0, 3)):
        return draw(st.sampled_from(NAMES)), SHAPE
    v = draw(st.sampled_from([0, 1, 2, 3, 0.5, 0.25, 1.5, 0.01, 10]))
    return (f"(-{v})" if draw(st.booleans()) else str(v)), ()


def _pos(e):  # a strictly positive version of e (domain of log, sqrt, division)
    return f"(abs({e}) + 1)"


def _join(a, sa, b, sb):
    try:
        return a, b, np.broadcast_shapes(sa, sb)
    except ValueError:
        return a, f"mean({b})", sa


@st.composite
def exprs(draw, depth=4):
    if depth == 0 or draw(st.integers(0, 6)) == 0:
        return _leaf(draw)
    e, s = draw(exprs(depth=depth - 1))
    choice = draw(st.sampled_from(["bin", "bin", "div", "pow", "neg", "elem", "domain", "exp",
                                   "maxmin", "clip", "reduce", "reduce"]))
    if choice in ("bin", "div", "maxmin"):
        f, t = draw(exprs(depth=depth - 1))
        a, b, shape = _join(e, s, f, t)
        if choice == "bin":
            return f"({a} {draw(st.sampled_from('+-*'))} {b})", shape
        if choice == "div":
            return f"({a} / {_pos(b)})", shape
        return f"{draw(st.sampled_from(['maximum', 'minimum']))}({a}, {b})", shape
    if choice == "pow":
        if draw(st.booleans()):
            return f"({e} ** {draw(st.sampled_from([2, 3]))})", s
        return f"({_pos(e)} ** {draw(st.sampled_from(['0.5', '1.5', '(-1)', '2']))})", s
    if choice == "neg":
        return f"(-{e})", s
    if choice == "elem":
        fn = draw(st.sampled_from(["abs", "square", "tanh", "sigmoid", "relu", "softplus", "sin", "cos"]))
        return f"{fn}({e})", s
    if choice == "domain":
        return f"{draw(st.sampled_from(['log', 'sqrt', 'log1p']))}({_pos(e)})", s
    if choice == "exp":
        return f"exp(clip({e}, -3, 3))", s
    if choice == "clip":
        lo = draw(st.sampled_from(["-1", "-0.5", "0"]))
        return f"clip({e}, {lo}, {lo} + {draw(st.sampled_from(['0.5', '1', '2']))})", s
    fn = draw(st.sampled_from(["sum", "mean", "max", "min", "prod", "std", "var", "logsumexp", "norm"]))
    if fn == "prod":
        e = f"tanh({e})"
    if not s or draw(st.booleans()):
        keep = draw(st.booleans())
        return f"{fn}({e}{', keepdims=true' if keep else ''})", (tuple(1 for _ in s) if keep else ())
    r = len(s)
    axis = draw(st.sampled_from(list(range(-r, r)) + [[-1]] + ([[0, 1], [1, 0]] if r == 2 else [])))
    axes = {a % len(s) for a in (axis if isinstance(axis, list) else [axis])}
    keep = draw(st.booleans())
    shape = tuple(1 if i in axes else d for i, d in enumerate(s)) if keep else \
        tuple(d for i, d in enumerate(s) if i not in axes)
    return f"{fn}({e}, axis={axis}{', keepdims=true' if keep else ''})", shape


ENV64 = {n: RNG.normal(size=SHAPE) for n in NAMES}


@settings(max_examples=120, deadline=None)
@given(exprs())
def test_random_expressions_match_numpy(generated):
    text, shape = generated
    got = run(text, ENV64)
    want = np.asarray(ref(parse(text), ENV64))
    assert got.shape == want.shape == shape, text
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8, err_msg=text)


# ---------------------------------------------------------------------------
# Penalty layer inside a functional model
# ---------------------------------------------------------------------------

X = RNG.normal(size=(8, 5)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


def _model(penalty):
    """inp -> h (Dense 4) -> g (Dense 3) -> Penalty([g, h]) -> out (Dense 1)."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((5,), name="inp")
    h = keras.layers.Dense(4, activation="tanh", name="h")(inp)
    g = keras.layers.Dense(3, name="g")(h)
    p = penalty([g, h]) if penalty is not None else g
    out = keras.layers.Dense(1, name="out")(p)
    model = keras.Model(inp, out)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.0))
    return model


def _features(model):
    return keras.Model(model.input, [model.get_layer("g").output, model.get_layer("h").output]).predict(X, verbose=0)


def _np_penalty(kind, coef, reduce, tensors):
    red = np.sum if reduce == "sum" else np.mean
    total = 0.0
    for t in tensors:
        t = t.astype(np.float64)
        if kind in ("l1", "l1_l2"):
            total += (coef["l1"] if kind == "l1_l2" else coef) * red(np.abs(t))
        if kind in ("l2", "l1_l2"):
            total += (coef["l2"] if kind == "l1_l2" else coef) * red(np.square(t))
    return total


PENALTIES = [
    ("l1", 0.01, "sum"), ("l1", 0.3, "mean"), ("l2", 0.02, "sum"), ("l2", 0.5, "mean"),
    ("l1_l2", {"l1": 0.01, "l2": 0.03}, "sum"), ("l1_l2", {"l1": 0.2, "l2": 0.1}, "mean"),
]


@pytest.mark.parametrize("kind,coef,reduce", PENALTIES)
def test_penalty_loss_is_added_undivided(kind, coef, reduce):
    model = _model(Penalty(kind, coef=coef, reduce=reduce, names=["g", "h"], name="pen"))
    g, h = _features(model)
    pred = model.predict(X, verbose=0)
    mse = np.mean((pred.astype(np.float64) - Y) ** 2)
    pen = _np_penalty(kind, coef, reduce, [g, h])
    assert pen > 0.05 * mse  # the penalty weighs enough to be seen
    loss = model.train_on_batch(X, Y)
    np.testing.assert_allclose(loss, mse + pen, rtol=1e-5)
    # value() reports the same term
    layer = model.get_layer("pen")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.value([g, h])), pen, rtol=1e-5)


def test_expr_penalty_over_two_tensors():
    text = "0.5 * mean(square(g)) + 0.1 * sum(abs(h), axis=[0, 1]) - 0.01 * sum(g * 1)"
    model = _model(Penalty("expr", expr=text, names=["g", "h"], name="pen"))
    g, h = _features(model)
    pred = model.predict(X, verbose=0)
    mse = np.mean((pred.astype(np.float64) - Y) ** 2)
    pen = ref(parse(text), {"g": g, "h": h})
    by_hand = 0.5 * np.mean(g.astype(np.float64) ** 2) + 0.1 * np.abs(h).sum() - 0.01 * g.sum()
    np.testing.assert_allclose(pen, by_hand, rtol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(X, Y), mse + pen, rtol=1e-5)


def test_expr_penalty_names_order_and_default():
    g = RNG.normal(size=(8, 3)).astype("float32")
    h = RNG.normal(size=(8, 4)).astype("float32")
    p = Penalty("expr", expr="sum(h) - 2 * sum(g)")
    assert p.names == ["h", "g"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(p.value([h, g])), h.sum() - 2 * g.sum(), rtol=1e-5)
    p2 = Penalty("expr", expr="sum(h) - 2 * sum(g)", names=["g", "h"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(p2.value([g, h])), h.sum() - 2 * g.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="unknown name"):
        Penalty("expr", expr="sum(h) + sum(q)", names=["h"])
    with pytest.raises(ValueError, match="reduce to a number"):
        Penalty("expr", expr="abs(h)").value([h])
    with pytest.raises(ValueError, match="kind"):
        Penalty("l3", coef=1.0)
    with pytest.raises(ValueError, match="coef"):
        Penalty("l1_l2", coef=0.1)


def test_penalty_is_identity():
    layer = Penalty("l2", coef=0.1, name="pen")
    with_pen = _model(layer)
    plain = keras.Model(with_pen.input, with_pen.get_layer("out")(with_pen.get_layer("g").output))
    np.testing.assert_array_equal(with_pen.predict(X, verbose=0), plain.predict(X, verbose=0))
    g, h = _features(with_pen)
    out = layer([keras.ops.convert_to_tensor(g), keras.ops.convert_to_tensor(h)])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), g)
    assert with_pen.get_layer("pen").output.shape == (None, 3)
    assert layer.compute_output_shape([(None, 3), (None, 4)]) == (None, 3)
    # dtypes are kept (no autocast) even for integers and float64
    ints = keras.ops.convert_to_tensor(np.arange(6).reshape(2, 3))
    assert keras.backend.standardize_dtype(Penalty("l1", coef=1.0)([ints]).dtype) == "int32" or \
        keras.backend.standardize_dtype(Penalty("l1", coef=1.0)([ints]).dtype) == "int64"
    f64 = keras.ops.convert_to_tensor(g.astype("float64"))
    assert keras.backend.standardize_dtype(Penalty("l1", coef=1.0)([f64]).dtype) == "float64"


def test_penalty_passes_the_mask_on():
    keras.utils.set_random_seed(3)
    inp = keras.Input((5,), dtype="int32")
    emb = keras.layers.Embedding(10, 4, mask_zero=True)(inp)
    lstm = keras.layers.LSTM(3)
    masked = keras.Model(inp, lstm(Penalty("l2", coef=0.1)([emb])))
    direct = keras.Model(inp, lstm(emb))
    x = np.array([[1, 2, 0, 0, 0], [3, 0, 0, 0, 0]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(masked(x)), keras.ops.convert_to_numpy(direct(x)))


# ---------------------------------------------------------------------------
# ExprLoss, ExprConstraint, and a .keras round trip in safe mode
# ---------------------------------------------------------------------------

def test_expr_loss_values():
    yt = RNG.integers(0, 2, size=(8, 3))
    yp = RNG.uniform(0.1, 0.9, size=(8, 3)).astype("float32")
    per_sample = ExprLoss("mean(square(y_true - y_pred), axis=-1)")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(per_sample(yt, yp)),
                               np.mean((yt - yp.astype(np.float64)) ** 2), rtol=1e-5)
    summed = ExprLoss("sum(abs(y_true - y_pred), axis=-1)", reduction="sum")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(summed(yt, yp)), np.abs(yt - yp).sum(), rtol=1e-5)
    scalar = ExprLoss("0.5 * mean(square(y_pred - y_true))")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scalar(yt, yp)), 0.5 * np.mean((yp - yt) ** 2), rtol=1e-5)
    skew = ExprLoss("mean(y_pred - 2 * y_true, axis=-1)")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(skew(yt, yp)), np.mean(yp - 2.0 * yt), rtol=1e-5)
    assert ExprLoss.from_config(per_sample.get_config()).expr == per_sample.expr
    with pytest.raises(ValueError, match="unknown name"):
        ExprLoss("mean(square(y - y_pred))")


def test_expr_constraint_values():
    w = RNG.normal(size=(3, 4)).astype("float32")
    c = ExprConstraint("w / (1 + abs(w))")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c(keras.ops.convert_to_tensor(w))),
                               w / (1 + np.abs(w)), rtol=1e-6)
    unit = ExprConstraint("w / norm(w, axis=0, keepdims=true)")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unit(w)), w / np.linalg.norm(w, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        ExprConstraint("norm(w)")(w)
    with pytest.raises(ValueError, match="unknown name"):
        ExprConstraint("x * 2")
    assert ExprConstraint.from_config(c.get_config()).expr == c.expr


def _roundtrip_model():
    keras.utils.set_random_seed(2)
    inp = keras.Input((5,), name="inp")
    h = keras.layers.Dense(4, activation="tanh", name="h",
                           kernel_constraint=ExprConstraint("w / (1 + abs(w))"))(inp)
    p = Penalty("expr", expr="0.1 * mean(square(h))", names=["h"], name="pen")([h])
    q = Penalty("l1_l2", coef={"l1": 0.01, "l2": 0.02}, reduce="mean", name="pen2")([p, inp])
    out = keras.layers.Dense(1, name="out")(q)
    model = keras.Model(inp, out)
    model.compile(loss=ExprLoss("mean(abs(y_true - y_pred), axis=-1)"), optimizer=keras.optimizers.SGD(0.0))
    return model


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras saving + NumPy 2
def test_keras_file_round_trip_safe_mode(tmp_path):
    model = _roundtrip_model()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # default safe_mode=True
    assert isinstance(loaded.get_layer("pen"), Penalty)
    assert loaded.get_layer("pen").expr == "0.1 * mean(square(h))"
    assert loaded.get_layer("pen2").coef == {"l1": 0.01, "l2": 0.02}
    assert isinstance(loaded.loss, ExprLoss) and loaded.loss.expr == "mean(abs(y_true - y_pred), axis=-1)"
    assert isinstance(loaded.get_layer("h").kernel.constraint, ExprConstraint)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    w_saved = model.get_layer("h").kernel.numpy()
    first = model.train_on_batch(X, Y)
    assert first > 0
    np.testing.assert_allclose(loaded.train_on_batch(X, Y), first, rtol=1e-6)
    # lr 0: the update is zero, then the constraint squashes the kernel, identically in both
    w0 = model.get_layer("h").kernel.numpy()
    np.testing.assert_allclose(w0, w_saved / (1 + np.abs(w_saved)), rtol=1e-6)
    np.testing.assert_allclose(loaded.get_layer("h").kernel.numpy(), w0, rtol=1e-6)
    second = model.train_on_batch(X, Y)
    assert second != first
    np.testing.assert_allclose(loaded.train_on_batch(X, Y), second, rtol=1e-6)
