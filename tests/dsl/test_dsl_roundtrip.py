"""Property: random valid spec data survives YAML -> DSL -> YAML and DSL -> YAML -> DSL."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec import api
from nnspec.source.dsl import load_dsl
from nnspec.source.emit import to_dsl, to_yaml
from nnspec.source.yaml_loader import load_yaml
from tier import examples

KEYWORDS = ["input", "output", "model", "seed", "on", "penalty", "layers", "dtype", "repeat", "expr", "true"]
names = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), st.sampled_from(KEYWORDS))
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
floats = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
acts = st.sampled_from(["relu", "tanh", "sigmoid", None, "linear"])


@st.composite
def specs(draw):
    width = draw(st.integers(1, 8))
    inputs = {"x": [width]}
    if draw(st.booleans()):
        inputs = {"x": {"shape": [width], "dtype": "float32"}}
    layers, defined, used = [], ["x"], set()
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["Dense", "Dropout", "ActivityRegularization", "Activation", "BatchNormalization"]))
        args = {}
        if op == "Dense":
            args["units"] = width
            if draw(st.booleans()):
                args["activation"] = draw(acts)
            if draw(st.booleans()):
                args["kernel_initializer"] = draw(st.sampled_from(
                    ["glorot_uniform", {"truncated_normal": {"stddev": 0.02}}, {"zeros": {}}, {"ones": None}]))
            if draw(st.booleans()):
                args["kernel_regularizer"] = draw(st.sampled_from(
                    [{"l2": 0.01}, {"l1_l2": {"l1": 0.1, "l2": 0.2}}]))
            if draw(st.booleans()):
                args["kernel_constraint"] = draw(st.sampled_from(
                    ["non_neg", {"max_norm": {"max_value": 2.0, "axis": [0]}}, {"weight_norm": {}},
                     {"expr": "w / maximum(norm(w, axis=0, keepdims=true), 1)"}]))
        elif op == "Dropout":
            args["rate"] = draw(st.floats(0, 0.9))
        elif op == "ActivityRegularization":
            args["l1"] = draw(floats)
        elif op == "Activation":
            args["activation"] = draw(acts.filter(lambda a: a is not None))
        if draw(st.booleans()):
            args["trainable"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            src = draw(st.sampled_from(defined))
            args["from"] = draw(st.sampled_from([src, [src]]))
        name = draw(names)
        if name not in defined and draw(st.booleans()):
            args["name"] = name
            defined.append(name)
        layers.append({op: args})
    last = layers[-1][next(iter(layers[-1]))]
    if "name" not in last:
        last["name"] = "out_" + str(len(layers))
        defined.append(last["name"])
    outputs = {last["name"]: draw(st.one_of(
        st.none(),
        st.fixed_dictionaries({"loss": st.sampled_from(["mse", {"huber": {"delta": 2.0}},
                                                         {"expr": "mean(square(y_true - y_pred))"}])},
                              optional={"weight": floats, "metrics": st.sampled_from([["mae"], [], ["mae", "mse"]])})))}
    data = {"nnspec": 1, "name": draw(names.filter(lambda n: n not in ("true",)))}
    if draw(st.booleans()):
        data["description"] = draw(text)
    if draw(st.booleans()):
        data["seed"] = draw(st.integers(0, 2**31 - 1))
    if draw(st.booleans()):  # limits as numbers and as quantities (bare 5M and 2GiB in the DSL)
        count = st.one_of(st.integers(0, 10**12), st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3})?[kKMGT]", fullmatch=True))
        data["budget"] = draw(st.fixed_dictionaries({}, optional={
            "params": count, "macs": count, "batch_size": st.integers(1, 64),
            "activation_memory": st.one_of(st.integers(0, 2**40), st.from_regex(
                r"[0-9]{1,4}(\.[0-9]{1,3})?(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)", fullmatch=True))}))
    data.update({"inputs": inputs, "layers": layers, "outputs": outputs})
    pens = []
    for _ in range(draw(st.integers(0, 3))):
        on = draw(st.sampled_from(defined[1:] or ["x"]))
        pens.append(draw(st.sampled_from([
            {"on": on, "l2": 0.01}, {"on": [on], "l1": 0.5, "reduce": "mean"},
            {"on": on, "l1_l2": {"l1": 0.1, "l2": 0.2}}, {"expr": f"0.01 * sum(square({on}))"},
            {"expr": f" 0.5*mean(abs({on}))"}])))
    if pens:
        data["penalties"] = pens
    if draw(st.booleans()):
        data["training"] = {"optimizer": draw(st.sampled_from(
            ["adam", {"sgd": {"learning_rate": 0.1, "nesterov": True}}, {"nadam": {}}]))}
    return data


@settings(max_examples=examples(150), deadline=None)
@given(specs())
def test_both_round_trips(data):
    nns = to_dsl(data)
    doc, diags = load_dsl(nns, "h.nns")
    assert not diags, (nns, [d.format() for d in diags])
    assert doc.data == data, nns
    yml = to_yaml(data)
    ydoc, ydiags = load_yaml(yml, "h.yaml")
    assert not ydiags and ydoc.data == data, yml
    # canonical texts are fixed points
    assert to_yaml(doc.data) == yml
    assert to_dsl(ydoc.data) == nns
    # and the pipeline sees the same spec from both
    dspec, dd = api._check_doc(doc, [], "h.nns")
    yspec, yd = api._check_doc(ydoc, [], "h.yaml")
    assert [(d.code, d.message) for d in dd] == [(d.code, d.message) for d in yd]
    if dspec is not None:
        assert [(n.name, n.op, n.args, n.inputs) for n in dspec.nodes] == \
            [(n.name, n.op, n.args, n.inputs) for n in yspec.nodes]


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), floats, st.floats(-1e300, 1e300), text,
              names, st.from_regex(r"[0-9]{1,3}(\.[0-9])?(k|M|GiB|B|e|x)[0-9]?", fullmatch=True)),  # 5M: bare
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.one_of(names, text), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(names, values, min_size=1, max_size=4))
def test_any_layer_arguments_round_trip(args):
    """Arbitrary values (odd strings, keywords, nested maps and lists, null) as layer arguments."""
    args.pop("name", None)
    args.pop("from", None)
    data = {"nnspec": 1, "name": "m", "inputs": {"x": [3]}, "layers": [{"Dense": args}], "outputs": {"dense": None}}
    nns = to_dsl(data)
    doc, diags = load_dsl(nns, "h.nns")
    assert not diags, (nns, [d.format() for d in diags])
    assert doc.data == data, nns
    assert load_yaml(to_yaml(data))[0].data == data
