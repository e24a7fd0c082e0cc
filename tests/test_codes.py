"""The diagnostic code registry (nnspec/codes): every code nnspec emits is declared there and
emitted through its constant, every declared code is emitted somewhere, each has an example that
produces it and a fix that removes it (or says why not, and which test produces it), and
`nnspec explain` and docs/diagnostics.md print them."""
import ast
import functools
import pathlib
import re
from fnmatch import fnmatch

import jsonschema
import pytest

import nnspec
from nnspec import codes
from nnspec.cli import main
from nnspec.codes import REGISTRY, explain

ROOT = pathlib.Path(__file__).parent.parent
PKG = ROOT / "nnspec"
CODES_DIR = PKG / "codes"
SOURCES = sorted(p for p in PKG.rglob("*.py") if p.parent != CODES_DIR)
NAMES = {v: k for k, v in vars(codes).items() if k.isupper() and isinstance(v, str) and v in REGISTRY}
CODE_LIKE = re.compile(r"[a-z][a-z0-9.]*(-[a-z0-9.]+)*\Z")
# calls whose first argument is a diagnostic code
CODE_FIRST = {"Diagnostic", "_Refused", "DslRefused"}


def _const_name(code: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", code.upper())


def _how_to_register(code: str) -> str:
    return (f"declare it in nnspec/codes/__init__.py, in its section:\n"
            f'    {_const_name(code)} = _code("{code}", "<what it means, in one line>")\n'
            f"  emit it as codes.{_const_name(code)}, and add its example nnspec/codes/{code.replace('-', '_')}.yaml: "
            f"first line '# expect: {code} LINE:COL [words]', last lines its fix ('# fix LINE: TEXT'; "
            "see nnspec/codes/explain.py)")


@functools.lru_cache(maxsize=None)
def _nodes(path) -> tuple:
    """Every node of the source file, in ast.walk's order; parsed once for the tests below."""
    return tuple(ast.walk(ast.parse(path.read_text())))


@pytest.fixture(scope="module", autouse=True)
def _forget_the_trees():
    yield
    _nodes.cache_clear()  # half a million nodes would slow every later garbage collection


def _code_positions(nodes):
    """(node, what) for every expression (of ``nodes``) that stands where a diagnostic code goes."""
    for node in nodes:
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in CODE_FIRST and node.args:
                yield node.args[0], f"{name}(...)"
            if name == "error" and node.args:  # passes/blocks.py: self.error(code, message, span)
                yield node.args[0], "error(...)"
            for kw in node.keywords:
                if kw.arg == "code":
                    yield kw.value, f"{name}(code=...)"
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            args = node.args.args + node.args.kwonlyargs
            defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults + \
                node.args.kw_defaults
            for a, default in zip(args, defaults):
                if a.arg == "code" and default is not None:
                    yield default, "a default code"
        elif isinstance(node, ast.Compare):
            sides = [node.left] + node.comparators
            if any(isinstance(s, ast.Attribute) and s.attr == "code" or isinstance(s, ast.Name) and s.id == "code"
                   for s in sides):
                for s in sides:
                    yield from ((e, "a code comparison") for e in (s.elts if isinstance(s, (ast.Tuple, ast.Set,
                                                                                              ast.List)) else [s]))


def test_codes_are_emitted_through_the_registry():
    problems = []
    for path in SOURCES:
        rel = path.relative_to(ROOT)
        for node, what in _code_positions(_nodes(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE_LIKE.match(node.value):
                if node.value in REGISTRY:
                    problems.append(f"{rel}:{node.lineno}: {what} writes the code {node.value!r} as text: "
                                    f"write codes.{NAMES[node.value]}")
                else:
                    problems.append(f"{rel}:{node.lineno}: {what} uses {node.value!r}, which is not a registered "
                                    f"diagnostic code: {_how_to_register(node.value)}")
        for node in _nodes(path):  # a registered code written as text anywhere (a tuple, a dict)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in REGISTRY \
                    and ("-" in node.value or "." in node.value):
                problems.append(f"{rel}:{node.lineno}: the code {node.value!r} as text: write "
                                f"codes.{NAMES[node.value]}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_every_registered_code_is_emitted():
    used = set()
    for path in SOURCES:
        for node in _nodes(path):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "codes":
                used.add(node.attr)
    unknown = used - set(NAMES.values())
    assert not unknown, f"codes.{sorted(unknown)} are not in nnspec/codes/__init__.py"
    unused = [f"codes.{name} ({code})" for code, name in NAMES.items() if name not in used]
    assert not unused, f"declared but never emitted by nnspec: {unused}; remove them or emit them"
    assert set(NAMES) == set(REGISTRY)


@pytest.mark.parametrize("code", list(REGISTRY))
def test_each_code_has_an_example_and_a_fix(code):
    c = REGISTRY[code]
    assert c.summary and "\n" not in c.summary and c.severity in ("error", "warning")
    if c.example is None:
        assert c.no_example and c.tested_in, f"{code}: give example= or no_example= and tested_in="
        assert f'"{code}"' in (ROOT / c.tested_in).read_text(), f"{c.tested_in} does not produce {code}"
        return
    path = CODES_DIR / c.example
    assert path.exists(), (f"{code}: add its example {path.relative_to(ROOT)}: first line "
                           f"'# expect: {code} LINE:COL [words]', last lines its fix ('# fix LINE: TEXT')")
    ex = explain.parse(path.name, path.read_bytes())
    assert ex.code == code and ex.has_fix
    diags = nnspec.validate(path, allow_import=ex.run_allow, targets=ex.targets)
    assert [d.severity for d in diags if d.code == code][:1] == [c.severity]


def test_every_example_names_a_registered_code():
    for name in explain.example_names():
        code = explain.read(name).code
        assert code in REGISTRY, f"nnspec/codes/{name} expects {code!r}: {_how_to_register(code)}"


def test_examples_moved_out_of_tests():
    assert not (ROOT / "tests" / "invalid").exists(), (
        "the examples live in nnspec/codes/ (installed with nnspec, printed by nnspec explain): "
        "git mv tests/invalid/* nnspec/codes/, and give each its fix")


def test_examples_are_package_data():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nnspec"]
    for name in explain.example_names():
        assert any(fnmatch(f"codes/{name}", g) for g in globs), f"pyproject.toml does not install codes/{name}"


def test_docs_table_is_generated():
    assert (ROOT / "docs" / "diagnostics.md").read_text() == explain.markdown(), (
        "docs/diagnostics.md is stale: run `nnspec explain --format markdown -o docs/diagnostics.md`")


# codes without an example, produced here

def test_unreadable(tmp_path):
    for path in (tmp_path, tmp_path / "missing.yaml"):
        diags = nnspec.validate(path)
        assert [(d.code, d.span.file, d.span.line) for d in diags] == [("unreadable", str(path), 0)]


def test_schema_fallback():
    """A JSON Schema rule without a message of its own still gives one positioned diagnostic."""
    from nnspec import schema
    from nnspec.source.yaml_loader import load_yaml
    doc, _ = load_yaml(b"x: 3\n", "f.yaml")
    error = next(jsonschema.Draft7Validator({"properties": {"x": {"multipleOf": 2}}}).iter_errors(doc.data))
    [d] = schema.translate(error, doc)
    assert (d.code, d.span.line, d.span.col) == ("schema", 1, 4)
    assert "3 is not a multiple of 2" in d.message


def test_shape_mismatch_is_the_default(monkeypatch, tmp_path):
    from nnspec.ops import CATALOG
    from nnspec.ops.base import ShapeError
    from nnspec.record import replace

    def shape(args, shapes):
        raise ShapeError("does not fit")
    monkeypatch.setitem(CATALOG, "Dense", replace(CATALOG["Dense"], shape=shape))
    spec = tmp_path / "s.yaml"
    spec.write_text("nnspec: 1\nname: m\ninputs: {x: [4]}\nlayers:\n  - Dense: {units: 2, name: out}\n"
                    "outputs: {out: {loss: mse}}\n")
    [d] = nnspec.validate(spec)
    assert (d.code, d.message, d.span.line) == ("shape-mismatch", "Dense 'out' does not fit", 5)


# nnspec explain

def test_explain_prints_summary_example_diagnostic_and_fix(capsys):
    assert main(["explain", "rank-mismatch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rank-mismatch (error): a layer gets a tensor with another number of axes")
    assert "  7 |   - LSTM: {units: 4, name: lstm2}\n" in out
    # the README's example diagnostic, for this file
    assert ("lstm_after_lstm.yaml:7:5: error: LSTM 'lstm2' needs (batch, time, features) but 'lstm1' gives "
            "(batch, 4); hint: return_sequences: true on 'lstm1' [rank-mismatch]") in out
    assert ("The fix:\n  line 6:\n  -   - LSTM: {units: 4, name: lstm1}\n"
            "  +   - LSTM: {units: 4, name: lstm1, return_sequences: true}\n") in out
    assert out.endswith("\nMore examples in nnspec/codes/: conv1d_after_dense.yaml, conv2d_rank3.yaml\n")


def test_readme_shows_explain_as_it_prints():
    readme = (ROOT / "README.md").read_text()
    shown = readme[readme.index("$ nnspec explain rank-mismatch\n"):]
    shown = shown[shown.index("\n") + 1:shown.index("```")]
    assert shown == explain.explain("rank-mismatch")


@pytest.mark.parametrize("code", list(REGISTRY))
def test_explain_every_code(code, capsys):
    assert main(["explain", code]) == 0
    out = capsys.readouterr().out
    c = REGISTRY[code]
    assert out.startswith(f"{code} ({c.severity}): {c.summary}\n")
    if c.example is None:
        assert f"No example spec: {c.no_example}." in out
        return
    path = CODES_DIR / c.example
    ex = explain.parse(path.name, path.read_bytes())
    # what nnspec validate says of the file itself, named as explain names it
    d = next(d for d in nnspec.validate(path, allow_import=ex.run_allow, targets=ex.targets) if d.code == code)
    assert d.format().split("\n")[0].replace(str(path), path.name) in out
    assert "The fix:\n" in out


def test_explain_lists_every_code(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^  (\S+)  ", out, re.M)
    assert listed == list(REGISTRY)


def test_explain_unknown_code(capsys):
    assert main(["explain", "rank-mismach"]) == 2
    err = capsys.readouterr().err
    assert err == ("nnspec: error: unknown diagnostic code 'rank-mismach'; hint: did you mean 'rank-mismatch'? "
                   "nnspec explain lists them\n")
    assert main(["explain", "rank-mismatch", "--format", "markdown"]) == 2


def test_explain_markdown_output(tmp_path):
    out = tmp_path / "d.md"
    assert main(["explain", "--format", "markdown", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.count("\n| `") == len(REGISTRY)
    assert "| `rank-mismatch` | error |" in text


# structured fields, not parsed messages

def _literal_text(node) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_text(node.left) + _literal_text(node.right)
    return ""


def test_shape_rules_say_what_they_got_in_fields():
    """The shapes pass names the tensor a rule got ("but 'lstm1' gives (batch, 4)") from ShapeError.found's
    fields; a message written with ' but gets ' by hand would be left as it is."""
    by_hand = []
    for path in SOURCES:
        for node in _nodes(path):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("ShapeError") \
                    and node.args and " but gets " in _literal_text(node.args[0]):
                by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not by_hand, f"write ShapeError.found(needs, got, hint, after=...) instead: {by_hand}"


def test_found_keeps_its_parts_through_wrappers(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("nnspec: 1\nname: m\ninputs: {x: [3], y: [5], z: [5, 4]}\nlayers:\n"
                    "  - Dense: {units: 4, name: d, from: x}\n"
                    "  - Bidirectional: {layer: {LSTM: {units: 2}}, name: b, from: d}\n"
                    "  - TimeDistributed: {layer: {Conv1D: {filters: 2, kernel_size: 1}}, name: t, from: z}\n"
                    "  - Add: {from: [x, y], name: s}\n"
                    "outputs: {b: {loss: mse}, t: {loss: mse}, s: {loss: mse}}\n")
    messages = [d.message for d in nnspec.validate(spec)]
    assert messages == [
        # the input it got, named, through the wrapper
        "Bidirectional 'b' wraps LSTM, which needs (batch, time, features) but 'd' gives (batch, 4)",
        # a shape that is not the input's (one time step of it) is left as the rule wrote it
        "TimeDistributed 't' wraps Conv1D, which needs (batch, steps, channels) but gets (batch, 4) "
        "(per time step, without the time axis)",
        # several inputs: each named with its shape
        "Add 's' needs inputs of equal shape but gets 'x' (batch, 3), 'y' (batch, 5)"]


def test_rank_hint_reads_what_the_layer_needs_not_tensor_names(tmp_path):
    """A producer named 'timeline' does not make Conv2D want a sequence (the hint read the whole message,
    tensor names included, for 'time' and 'steps')."""
    spec = tmp_path / "s.yaml"
    spec.write_text("nnspec: 1\nname: m\ninputs: {x: [3]}\nlayers:\n  - Dense: {units: 4, name: timeline}\n"
                    "  - Conv2D: {filters: 2, kernel_size: 1, name: c}\noutputs: {c: {loss: mse}}\n")
    [d] = nnspec.validate(spec)
    assert d.hint == "add the missing axes with Reshape: {target_shape: [4, 1, 1]}"
    spec.write_text(spec.read_text().replace("Conv2D: {filters: 2, kernel_size: 1, name: c}",
                                             "LSTM: {units: 2, name: c}"))
    [d] = nnspec.validate(spec)
    assert d.hint == "add Reshape: {target_shape: [4, 1]} (or RepeatVector) before 'c' to make a sequence"


@pytest.mark.parametrize("layers,expected", [
    # a misspelt argument stands for the missing one: one diagnostic, in flow and in block style
    ("[Dense: {unit: 2, name: out}]", [("unknown-argument", 4, 18)]),
    ("\n  - Dense:\n      unit: 2\n      name: out", [("unknown-argument", 6, 7)]),
    # but not for another layer's missing argument on the same line
    ("[Dense: {unit: 2}, Dense: {name: out}]", [("unknown-argument", 4, 18), ("missing-argument", 4, 28)]),
])
def test_follow_on_missing_argument_is_dropped_by_path(layers, expected, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"nnspec: 1\nname: m\ninputs: {{x: [4]}}\nlayers: {layers}\noutputs: {{out: {{loss: mse}}}}\n")
    assert [(d.code, d.span.line, d.span.col) for d in nnspec.validate(spec)] == expected


_FILL = {"units": 4, "filters": 4, "kernel_size": 3, "pool_size": 2, "rate": 0.1, "target_shape": [4], "size": 2,
         "num_heads": 2, "key_dim": 2, "layer": {"LSTM": {"units": 2}}, "input_dim": 5, "output_dim": 3,
         "padding": 1, "cropping": 1, "n": 2}


def test_sequence_input_is_what_the_shape_rules_say():
    """Op.sequence_input (set in each op record) gives the hint "return_sequences: true on 'lstm1'" for a
    (batch, features) input; the shape rules say in their own words which ops need a time axis.
    The two agree, op by op."""
    from nnspec.ops import CATALOG
    from nnspec.ops.base import ShapeError
    says, checked = set(), set()
    for name, op in CATALOG.items():
        if op.shape is None:
            continue
        args = op.fill({a.name: _FILL.get(a.name, 1) for a in op.args if a.required})
        try:
            op.shape(args, [(None, 4)] * max(op.inputs[0], 1))
        except ShapeError as e:
            checked.add(name)
            if e.code == codes.RANK_MISMATCH and e.needs and ("time" in e.needs or "steps" in e.needs):
                says.add(name)
        except Exception:  # noqa: BLE001 - args this test cannot fill: not checked
            continue
        else:
            checked.add(name)
    flagged = {n for n, op in CATALOG.items() if op.sequence_input}
    assert flagged <= checked  # every flagged op was tried
    assert says == flagged
