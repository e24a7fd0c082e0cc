"""nnspec bounds (issue 10) on numpy networks, no TensorFlow: soundness against 100,000 random inputs
(hypothesis over random networks with BatchNormalization, convolutions, pooling and residual Adds),
exactness against two references written here (enumerating the ReLU activation patterns with one
linear program each, and a MILP of another formulation), the issue's three examples, and the
command line's errors. The forward passes that judge the bounds are written here too, from the
layers' definitions, not taken from nnspec.bounding."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec.bounding import net as N
from nnspec.bounding.compute import compute

ACTS = {"relu": lambda x, a: np.maximum(x, 0), "leaky_relu": lambda x, a: np.where(x > 0, x, a * x),
        "sigmoid": lambda x, a: 1 / (1 + np.exp(-x)), "tanh": lambda x, a: np.tanh(x),
        "softplus": lambda x, a: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0),
        "elu": lambda x, a: np.where(x > 0, x, a * (np.exp(np.minimum(x, 0)) - 1))}


# ---------------------------------------------------------------- the reference forward pass
def ref_conv(x, k, b, stride, padding):
    """x (B, H, W, C), k (kh, kw, C, F): Keras Conv2D, channels last."""
    kh, kw = k.shape[:2]
    B, H, W, _ = x.shape
    if padding == "same":
        oh, ow = -(-H // stride), -(-W // stride)
        ph, pw = max((oh - 1) * stride + kh - H, 0), max((ow - 1) * stride + kw - W, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (H - kh) // stride + 1, (W - kw) // stride + 1
    out = np.zeros((B, oh, ow, k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
            out += np.einsum("bhwc,cf->bhwf", patch, k[i, j])
    return out + (0 if b is None else b)


def ref_pool(x, size, mode):
    """2x2 windows, stride 2, 'valid'."""
    B, H, W, C = x.shape
    x = x[:, :H // size * size, :W // size * size].reshape(B, H // size, size, W // size, size, C)
    return x.max(axis=(2, 4)) if mode == "max" else x.mean(axis=(2, 4))


def ref_forward(layers, x):
    saved = {}
    for op, p in layers:
        if op == "dense":
            x = x @ p["w"] + p["b"]
        elif op == "conv":
            x = ref_conv(x, p["w"], p["b"], p["stride"], p["padding"])
        elif op == "bn":
            x = p["gamma"] * (x - p["mean"]) / np.sqrt(p["var"] + p["eps"]) + p["beta"]
        elif op == "act":
            x = ACTS[p["kind"]](x, p["alpha"])
        elif op == "save":
            saved[p] = x
        elif op == "add":
            x = x + saved[p]
        elif op == "pool":
            x = ref_pool(x, 2, p)
        elif op == "flatten":
            x = x.reshape(x.shape[0], -1)
    return x


def to_net(layers, in_shape) -> N.Net:
    net = N.Net()
    x = net.input("x", in_shape)
    saved = {}
    for op, p in layers:
        if op == "dense":
            x = N.dense(net, x, p["w"], p["b"])
        elif op == "conv":
            x = N.conv(net, x, p["w"], p["b"], p["stride"], p["padding"])
        elif op == "bn":
            x = N.batchnorm(net, x, p["gamma"], p["beta"], p["mean"], p["var"], p["eps"])
        elif op == "act":
            x = net.act(x, p["kind"], p["alpha"])
        elif op == "save":
            saved[p] = x
        elif op == "add":
            x = N.merge(net, [x, saved[p]], [1, 1])
        elif op == "pool":
            x = (N.max_pool if p == "max" else N.average_pool)(net, x, 2)
        elif op == "flatten":
            x = N.reshape(net, x, (math.prod(net.shape(x)),))
    net.outputs["y"] = x
    return net


def random_layers(rng, image: bool, acts, depth: int, width: int):
    def bn(n):
        return ("bn", {"gamma": rng.normal(size=n), "beta": rng.normal(size=n), "mean": rng.normal(size=n),
                       "var": rng.uniform(0.2, 3, size=n), "eps": 1e-3})

    def act():
        kind = acts[rng.integers(len(acts))]
        return ("act", {"kind": kind, "alpha": float(rng.choice([0.1, 0.3, 1.0, 1.7]))})

    layers = []
    if image:
        c = 2
        f = int(rng.integers(2, 4))
        layers += [("conv", {"w": rng.normal(size=(3, 3, c, f)), "b": rng.normal(size=f), "stride": 1,
                             "padding": "same"}), bn(f), act(), ("save", 0),
                   ("conv", {"w": rng.normal(size=(3, 3, f, f)) / 3, "b": None, "stride": 1, "padding": "same"}),
                   ("add", 0), act(), ("pool", ["max", "avg"][rng.integers(2)]),
                   ("conv", {"w": rng.normal(size=(2, 2, f, f)), "b": rng.normal(size=f),
                             "stride": int(rng.integers(1, 3)), "padding": "valid"}), act(), ("flatten", None)]
        n = None
    else:
        n = None
    for d in range(depth):
        layers.append(("dense", {"w": None, "b": rng.normal(size=width)}))
        layers += [bn(width)] if rng.random() < 0.5 else []
        layers.append(act())
        if d and rng.random() < 0.5:
            layers += [("save", d), ("dense", {"w": None, "b": np.zeros(width)}), act(), ("add", d)]
    layers.append(("dense", {"w": None, "b": rng.normal(size=2)}))
    return layers, n


def fill_dense(layers, rng, n_in):
    """Dense kernels of the sizes their inputs have."""
    size = n_in
    for op, p in layers:
        if op == "dense":
            if p["w"] is None:
                p["w"] = rng.normal(size=(size, len(p["b"]))) / math.sqrt(size)
            size = p["w"].shape[1]
    return layers


@pytest.mark.slow  # seconds of sampling and solving: CI runs it, the fast tier does not
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), image=st.booleans(), smooth=st.booleans(), method=st.sampled_from(["ibp",
       "crown"]))
def test_sound_on_random_networks(seed, image, smooth, method):
    """100,000 random inputs from the box never leave [lower, upper]."""
    rng = np.random.default_rng(seed)
    acts = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu"] if smooth else ["relu", "leaky_relu"]
    layers, _ = random_layers(rng, image, acts, int(rng.integers(1, 4)), int(rng.integers(2, 9)))
    in_shape = (5, 5, 2) if image else (int(rng.integers(2, 5)),)
    if image:
        probe = ref_forward([x for x in layers if x[0] != "dense" and x[0] != "bn" or x[0] == "bn" and
                             len(x[1]["gamma"]) != len(x[1]["beta"]) + 1][:0] or layers[:layers.index(("flatten",
                             None)) + 1], np.zeros((1,) + in_shape))
        fill_dense(layers, rng, probe.shape[1])
    else:
        fill_dense(layers, rng, in_shape[0])
    lo = rng.uniform(-2, 1, size=in_shape)
    hi = lo + rng.uniform(0, 1.5, size=in_shape) * (rng.random(in_shape) < 0.9)  # some point intervals
    net = to_net(layers, in_shape)
    got = compute(net, {"x": (lo, hi)}, method)["y"]
    x = rng.uniform(lo, hi, size=(100_000,) + in_shape)
    x[:len(x) // 10] = np.where(rng.random((len(x) // 10,) + in_shape) < 0.5, lo, hi)  # corners too
    y = ref_forward(layers, x)
    tol = 1e-9 * (1 + np.abs(y).max())
    assert (y >= got["lower"] - tol).all() and (y <= got["upper"] + tol).all()
    assert (got["lower"] <= got["upper"]).all()


def test_crown_never_looser_than_ibp():
    rng = np.random.default_rng(3)
    tighter = 0
    for _ in range(20):
        layers, _ = random_layers(rng, False, ["relu"], 3, 8)
        fill_dense(layers, rng, 3)
        net = to_net(layers, (3,))
        box = {"x": (-np.ones(3), np.ones(3))}
        i, c = compute(net, box, "ibp")["y"], compute(net, box, "crown")["y"]
        assert (c["lower"] >= i["lower"]).all() and (c["upper"] <= i["upper"]).all()
        tighter += ((c["upper"] - c["lower"]).sum() < (i["upper"] - i["lower"]).sum() - 1e-9)
    assert tighter >= 15


# ---------------------------------------------------------------- exactness
def relu_mlp(rng, n_in, widths, n_out=1):
    layers, size = [], n_in
    for w in widths:
        layers += [("dense", {"w": rng.normal(size=(size, w)), "b": rng.normal(size=w) * 0.5}),
                   ("act", {"kind": "relu", "alpha": 0.0})]
        size = w
    layers.append(("dense", {"w": rng.normal(size=(size, n_out)), "b": rng.normal(size=n_out)}))
    return layers


def brute_force(layers, lo, hi):
    """min and max of each output by enumerating every ReLU activation pattern: one LP each."""
    from scipy.optimize import linprog
    dense = [p for op, p in layers if op == "dense"]
    n_relu = sum(p["w"].shape[1] for p in dense[:-1])
    n_out = dense[-1]["w"].shape[1]
    best_lo, best_hi = np.full(n_out, np.inf), np.full(n_out, -np.inf)
    for pattern in itertools.product((0, 1), repeat=n_relu):
        A, c = np.eye(len(lo)), np.zeros(len(lo))  # the current layer as A x + c
        rows, rhs, k = [], [], 0
        for p in dense[:-1]:
            A, c = p["w"].T @ A, p["w"].T @ c + p["b"]
            on = np.array(pattern[k:k + len(c)])
            k += len(c)
            # active: A x + c >= 0; inactive: A x + c <= 0
            sign = np.where(on == 1, -1.0, 1.0)
            rows.append(sign[:, None] * A)
            rhs.append(-sign * c)
            A, c = A * on[:, None], c * on
        last = dense[-1]
        A, c = last["w"].T @ A, last["w"].T @ c + last["b"]
        for o in range(n_out):
            for s in (1, -1):
                r = linprog(s * A[o], A_ub=np.vstack(rows), b_ub=np.concatenate(rhs), bounds=list(zip(lo, hi)),
                            method="highs")
                if r.status == 0:
                    v = s * r.fun + c[o]
                    best_lo[o], best_hi[o] = min(best_lo[o], v), max(best_hi[o], v)
    return best_lo, best_hi


def other_milp(layers, lo, hi):
    """Another MILP: a variable for every pre- and post-activation, stable neurons included, big-M
    from interval arithmetic written here."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    dense = [p for op, p in layers if op == "dense"]
    n_in = len(lo)
    var_lo, var_hi, integ = list(lo), list(hi), [0] * n_in
    A_rows, b_lo, b_hi = [], [], []
    cur = list(range(n_in))
    cl, ch = np.array(lo, float), np.array(hi, float)

    def new(l, h, i=0):
        var_lo.append(l)
        var_hi.append(h)
        integ.append(i)
        return len(var_lo) - 1
    for li, p in enumerate(dense):
        W, b = p["w"], p["b"]
        pl = b + np.maximum(W, 0).T @ cl + np.minimum(W, 0).T @ ch
        ph = b + np.maximum(W, 0).T @ ch + np.minimum(W, 0).T @ cl
        pre = [new(pl[j] - 1, ph[j] + 1) for j in range(W.shape[1])]
        for j, v in enumerate(pre):  # v - W[:, j] . cur = b_j
            A_rows.append({v: 1.0, **{u: -W[i, j] for i, u in enumerate(cur)}})
            b_lo.append(b[j])
            b_hi.append(b[j])
        if li == len(dense) - 1:
            out = pre
            break
        post = []
        for j, v in enumerate(pre):
            L, U = min(pl[j], 0) - 1, max(ph[j], 0) + 1
            y, z = new(0, U), new(0, 1, 1)
            A_rows += [{y: 1.0, v: -1.0}, {y: 1.0, v: -1.0, z: -L}, {y: 1.0, z: -U}]
            b_lo += [0, -np.inf, -np.inf]
            b_hi += [np.inf, -L, 0]
            post.append(y)
        cur, cl, ch = post, np.maximum(pl, 0), np.maximum(ph, 0)
    M = np.zeros((len(A_rows), len(var_lo)))
    for r, row in enumerate(A_rows):
        for k, v in row.items():
            M[r, k] += v
    res_lo, res_hi = [], []
    for v in out:
        c = np.zeros(len(var_lo))
        c[v] = 1
        vals = []
        for s in (1, -1):
            r = milp(s * c, constraints=LinearConstraint(M, b_lo, b_hi), integrality=integ,
                     bounds=Bounds(var_lo, var_hi), options={"mip_rel_gap": 0})
            vals.append(s * r.fun)
        res_lo.append(vals[0])
        res_hi.append(vals[1])
    return np.array(res_lo), np.array(res_hi)


@pytest.mark.slow  # seconds of sampling and solving: CI runs it, the fast tier does not
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(2, 4), widths=st.sampled_from([(3,), (4,), (2, 2), (3, 3),
                                                                                        (2, 3, 2)]))
def test_exact_equals_enumeration(seed, n_in, widths):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(seed)
    layers = relu_mlp(rng, n_in, widths, n_out=2)
    lo = rng.uniform(-1, 0, size=n_in)
    hi = lo + rng.uniform(0.1, 2, size=n_in)
    got = compute(to_net(layers, (n_in,)), {"x": (lo, hi)}, "exact")["y"]
    want_lo, want_hi = brute_force(layers, lo, hi)
    assert np.allclose(got["lower"], want_lo, atol=1e-6) and np.allclose(got["upper"], want_hi, atol=1e-6)
    for e in range(2):  # every witness is in the box and attains its bound
        for side in ("lower", "upper"):
            w = got["witnesses"][side][e]["x"]
            assert (w >= lo).all() and (w <= hi).all()
            assert abs(ref_forward(layers, w[None])[0, e] - got[side][e]) < 1e-6


@pytest.mark.slow  # seconds of sampling and solving: CI runs it, the fast tier does not
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(2, 4), widths=st.sampled_from([(10, 10), (15, 15),
                                                                                        (10, 10, 10)]))
def test_exact_equals_another_milp(seed, n_in, widths):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(seed)
    layers = relu_mlp(rng, n_in, widths)
    lo, hi = -np.ones(n_in), np.ones(n_in)
    got = compute(to_net(layers, (n_in,)), {"x": (lo, hi)}, "exact")["y"]
    want_lo, want_hi = other_milp(layers, lo, hi)
    scale = 1 + np.abs(want_hi).max()
    assert np.allclose(got["lower"], want_lo, atol=1e-6 * scale) and np.allclose(got["upper"], want_hi,
                                                                                 atol=1e-6 * scale)
    for side in ("lower", "upper"):
        w = got["witnesses"][side][0]["x"]
        assert abs(ref_forward(layers, w[None])[0, 0] - got[side][0]) < 1e-6 * scale


def test_exact_through_max_pool_and_leaky_relu():
    """Windows of max and leaky ReLUs: exact equals the max and min over a fine grid's superset,
    and its witnesses attain it."""
    pytest.importorskip("scipy")
    rng = np.random.default_rng(5)
    layers = [("conv", {"w": rng.normal(size=(2, 2, 1, 2)), "b": rng.normal(size=2), "stride": 1,
                        "padding": "valid"}), ("act", {"kind": "leaky_relu", "alpha": 0.3}), ("pool", "max"),
              ("flatten", None), ("dense", {"w": rng.normal(size=(2, 1)), "b": np.zeros(1)})]
    lo, hi = -np.ones((3, 3, 1)), np.ones((3, 3, 1))
    got = compute(to_net(layers, (3, 3, 1)), {"x": (lo, hi)}, "exact")["y"]
    x = rng.uniform(-1, 1, size=(200_000, 3, 3, 1))
    y = ref_forward(layers, x)
    assert y.min() >= got["lower"][0] - 1e-9 and y.max() <= got["upper"][0] + 1e-9
    for side in ("lower", "upper"):
        w = got["witnesses"][side][0]["x"]
        assert abs(ref_forward(layers, w[None])[0, 0] - got[side][0]) < 1e-9


# ---------------------------------------------------------------- the issue's examples
def _example(kernels):
    net = N.Net()
    x = net.input("x", (2,))
    for k in kernels:
        x = N.dense(net, x, np.array(k, float))
    net.outputs["dense_1"] = x
    return net


@pytest.mark.parametrize("kernels, want, wl, wu", [
    ([[[1], [1]]], (0.0, 2.0), [0, 0], [1, 1]),
    ([[[-0.5], [1]]], (-0.5, 1.0), [1, 0], [0, 1]),
    ([[[1, 1], [1, 1]], [[1], [1]]], (0.0, 4.0), [0, 0], [1, 1]),
])
@pytest.mark.parametrize("method", ["ibp", "crown", "exact"])
def test_issue_examples(kernels, want, wl, wu, method):
    if method == "exact":
        pytest.importorskip("scipy")
    got = compute(_example(kernels), {"x": (0, 1)}, method)["dense_1"]
    assert got["lower"].tolist() == [want[0]] and got["upper"].tolist() == [want[1]]
    if method == "exact":
        assert got["witnesses"]["lower"][0]["x"].tolist() == wl
        assert got["witnesses"]["upper"][0]["x"].tolist() == wu


# ---------------------------------------------------------------- the API, the JSON shape, the command line
def test_json_shape_is_the_issues():
    """The issue's example, byte for byte in structure."""
    pytest.importorskip("scipy")
    import json

    import nnspec
    from nnspec.cli import _bounds_json
    result = nnspec.bounds(_example([[[-0.5], [1]]]), box={"x": (0, 1)}, method="exact")
    assert json.loads(_bounds_json(result)) == {
        "method": "exact", "outputs": {"dense_1": {"lower": [-0.5], "upper": [1.0], "witnesses": {
            "lower": [{"x": [1.0, 0.0]}], "upper": [{"x": [0.0, 1.0]}]}}}}
    crown = json.loads(_bounds_json(nnspec.bounds(_example([[[1, 1], [1, 1]], [[1], [1]]]), {"x": (0, 1)})))
    assert crown == {"method": "crown", "outputs": {"dense_1": {"lower": [0.0], "upper": [4.0]}}}


def test_text_table():
    import nnspec
    from nnspec.cli import _bounds_text
    net = N.Net()
    x = net.input("x", (2,))
    net.outputs["y"] = N.dense(net, x, np.array([[1.0, -1.0], [2.0, 0.5]]))
    text = _bounds_text(nnspec.bounds(net, {"x": (0, 1)}, "ibp"))
    assert text.splitlines()[0].startswith("method: ibp (sound, not exact")
    assert text.splitlines()[2:] == ["output y, shape (2,):", "  element  lower  upper  width",
                                     "  [0]          0      3      3", "  [1]         -1    0.5    1.5"]


def _codes_of(excinfo):
    return [d.code for d in excinfo.value.diagnostics]


def test_box_errors():
    import nnspec
    from nnspec.diagnostics import SpecError
    net = _example([[[1], [1]]])
    with pytest.raises(SpecError) as e:
        nnspec.bounds(net, box={})
    assert _codes_of(e) == ["bounds-no-box"] and "--box x=LO:HI" in e.value.diagnostics[0].hint
    with pytest.raises(SpecError) as e:
        nnspec.bounds(net, box={"x": (0, 1), "y": (0, 1)})
    assert _codes_of(e) == ["bounds-bad-box"] and "its inputs: x" in e.value.diagnostics[0].message
    with pytest.raises(SpecError) as e:
        nnspec.bounds(net, box={"x": ([0, 2], [1, 1])})
    assert _codes_of(e) == ["bounds-bad-box"] and "lo > hi (at element [1]: 2 > 1)" in e.value.diagnostics[0].message
    with pytest.raises(SpecError) as e:
        nnspec.bounds(net, box={"x": (np.zeros(3), np.ones(3))})
    assert _codes_of(e) == ["bounds-bad-box"]


def test_exact_refuses_smooth_activations():
    import nnspec
    from nnspec.diagnostics import SpecError
    net = N.Net()
    x = net.input("x", (2,))
    h = net.act(N.dense(net, x, np.ones((2, 2))), "sigmoid", layer="squash")
    net.outputs["y"] = N.dense(net, h, np.ones((2, 1)))
    with pytest.raises(SpecError) as e:
        nnspec.bounds(net, {"x": (0, 1)}, "exact")
    assert _codes_of(e) == ["bounds-not-exact"] and "'squash'" in e.value.diagnostics[0].message
    assert "--method crown" in e.value.diagnostics[0].hint


def test_exact_without_scipy_names_the_extra(monkeypatch):
    import sys

    import nnspec
    from nnspec.diagnostics import SpecError
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(SpecError) as e:
        nnspec.bounds(_example([[[1], [1]]]), {"x": (0, 1)}, "exact")
    assert _codes_of(e) == ["missing-extra"] and "nnspec[bounds]" in e.value.diagnostics[0].hint


def _run(*argv, process=None):
    import clirun
    return clirun.nnspec("bounds", *argv, cwd=None, process=process)


SPEC = """nnspec: 1
name: tiny
inputs: {x: {shape: [2], range: [0, 1]}}
layers:
  - Dense: {units: 1}
outputs: {dense: {loss: mse}}
"""


def test_cli_spec_without_weights(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    r = _run(str(spec), process=True)
    code = "bounds-no-weights"
    assert r.returncode == 1 and f"[{code}]" in r.stderr and "--weights FILE" in r.stderr
    assert "tensorflow" not in r.stderr.lower()


@pytest.mark.parametrize("box, says", [
    ("x", "is not INPUT=LO:HI or INPUT=FILE.npz"),
    ("x=a:b", "'a:b' is not LO:HI"),
    ("x=0", "'0' is not LO:HI"),
    ("x=missing.npz", "cannot read missing.npz"),
])
def test_cli_bad_box(tmp_path, box, says):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    r = _run(str(spec), "--box", box)
    assert r.returncode == 1 and "[bounds-bad-box]" in r.stderr and says in r.stderr, r.stderr


def test_cli_npz_without_arrays(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    np.savez(tmp_path / "b.npz", low=np.zeros(2))
    r = _run(str(spec), "--box", f"x={tmp_path / 'b.npz'}")
    assert r.returncode == 1 and "holds no arrays lo and hi (it holds low)" in r.stderr


def test_cli_missing_model():
    r = _run("no/such/model.keras", "--box", "x=0:1")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_supported_list_comes_from_the_op_catalog():
    from nnspec.bounding.keras_layers import BUILDERS, supported
    from nnspec.ops import CATALOG
    names = supported()
    for want in ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "Activation", "ReLU",
                 "LeakyReLU", "ELU", "Add", "Subtract", "Average", "Concatenate", "Flatten", "Reshape",
                 "ZeroPadding1D", "ZeroPadding2D", "AveragePooling2D", "MaxPooling2D", "GlobalAveragePooling2D",
                 "Dropout"):
        assert want in names
    assert "LSTM" not in names and "Multiply" not in names
    assert {CATALOG[n].bounds for n in names} <= set(BUILDERS)


def test_readme_transcript_is_what_bounds_prints():
    """The README's three examples: each `$ nnspec bounds` line prints what follows it (the same
    networks, built here as numpy records)."""
    pytest.importorskip("scipy")
    import pathlib
    import shlex

    import nnspec
    from nnspec.cli import _bounds_json, _bounds_text
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("$ nnspec bounds sum.keras")
    transcript = readme[start:readme.index("```", start)]
    kernels = {"sum.keras": [[[1], [1]]], "mixed.keras": [[[-0.5], [1]]], "deep.keras": [[[1, 1], [1, 1]], [[1], [1]]]}
    runs = transcript.split("$ nnspec bounds ")[1:]
    assert len(runs) == 4
    for run in runs:
        command, _, shown = run.partition("\n")
        argv = shlex.split(command)
        method = argv[argv.index("--method") + 1] if "--method" in argv else "crown"
        result = nnspec.bounds(_example(kernels[argv[0]]), {"x": (0, 1)}, method)
        printed = _bounds_json(result) if "json" in argv else _bounds_text(result)
        assert shown.rstrip("\n") == printed, command


def test_ops_says_whether_bounds_takes_the_type():
    import clirun
    ok = clirun.nnspec("ops", "Conv2D", cwd=None).stdout
    no = clirun.nnspec("ops", "LSTM", cwd=None).stdout
    assert ok.rstrip().endswith("nnspec bounds: supported") and no.rstrip().endswith("nnspec bounds: not supported")


def test_solver_prints_stay_off_standard_output(capfd, monkeypatch):
    """HiGHS's C++ code sometimes prints a debug line to file descriptor 1 itself; on standard output it
    broke `nnspec bounds --format json` (seen in CI). The solver runs with its output on stderr."""
    import os

    import scipy.optimize
    from scipy.optimize import Bounds
    from nnspec.bounding import exact
    real = scipy.optimize.milp

    def noisy(*args, **kwargs):
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "milp", noisy)
    print("before")
    res = exact._solve(np.array([1.0, -1.0]), bounds=Bounds([0.0, 0.0], [1.0, 2.0]))
    print("after")
    assert res.fun == pytest.approx(-2.0)
    out, err = capfd.readouterr()
    assert out == "before\nafter\n" and "HighsMipSolverData" in err
