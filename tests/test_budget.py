"""Budgets: the number syntax, the over-budget diagnostic (figure, limit, position, hint), the
command line's limits over the spec's, the DSL form, and the commands that show figures whatever
the budget."""
import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clirun

import nnspec
from nnspec import budget, cli, schema
from nnspec.source.dsl import load_dsl
from nnspec.source.emit import to_dsl, to_yaml

ROOT = pathlib.Path(__file__).parent.parent
SI = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTES = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}

# x (4096) -> dense1 (1024) -> out (10): params by hand
X, H, O = 4096, 1024, 10
DENSE1 = X * H + H  # 4,195,328
OUT = H * O + O  # 10,250
PARAMS = DENSE1 + OUT
MACS = X * H + H * O  # a Dense: its kernel per example
ACT_ELEMS = X + H + O  # every tensor of one example, float32

SPEC = f"""nnspec: 1
name: m
budget: {{params: 1M}}
inputs:
  x: [{X}]
layers:
  - Dense: {{units: {H}, name: dense1}}
  - Dense: {{units: {O}, name: out}}
outputs:
  out: {{loss: mse}}
"""


# ---------------------------------------------------------------- the number syntax
def test_counts_and_bytes_as_documented():
    assert budget.parse("5M", "count") == 5_000_000
    assert budget.parse("1.5G", "count") == 1_500_000_000
    assert budget.parse("250k", "count") == budget.parse("250K", "count") == 250_000
    assert budget.parse("5000000", "count") == budget.parse(5000000, "count") == 5_000_000
    assert budget.parse(1e9, "count") == 10**9  # YAML 1.2 reads 1e9 as a float
    assert budget.parse("2GiB", "bytes") == 2 * 2**30
    assert budget.parse("512MB", "bytes") == 512 * 10**6
    assert budget.parse("1.5KiB", "bytes") == 1536
    assert budget.parse("1.0005k", "count") == 1000  # a fraction of a unit is rounded down
    assert budget.parse("0", "bytes") == 0


@given(st.integers(0, 10**15 - 1), st.text("0123456789", min_size=0, max_size=6),
       st.sampled_from(sorted(SI)), st.sampled_from(sorted(BYTES)))
def test_any_number_with_any_unit(whole, frac, si, unit):
    num = f"{whole}.{frac}" if frac else str(whole)
    scale = 10 ** len(frac)
    exact = whole * scale + (int(frac) if frac else 0)  # the number times 10**len(frac), in integers
    assert budget.parse(num + si, "count") == exact * SI[si] // scale
    assert budget.parse(num + unit, "bytes") == exact * BYTES[unit] // scale


@given(st.text("0123456789.kKMGTBimg -", max_size=8))
def test_the_schema_and_the_parser_agree(text):
    """The schema's patterns say which texts are limits; parse reads exactly those."""
    for kind, key in (("count", "params"), ("bytes", "activation_memory")):
        ok = schema.fast_check()({"nnspec": 1, "name": "m", "inputs": {"x": [1]}, "layers": [{"Dense": {"units": 1}}],
                                  "outputs": {"dense": None}, "budget": {key: text}})
        try:
            budget.parse(text, kind)
            parsed = True
        except ValueError:
            parsed = False
        assert ok == parsed, (kind, text)


@pytest.mark.parametrize("value, kind, hint", [
    ("2G", "bytes", "say which: 2GiB (powers of 1024) or 2GB (powers of 1000)"),
    ("5KB", "bytes", "say which: 5KiB (powers of 1024) or 5kB (powers of 1000)"),
    ("2 GiB", "bytes", "write it without spaces: 2GiB"),
    ("5m", "count", "units are case-sensitive: 5M"),
    ("2gib", "bytes", "units are case-sensitive: 2GiB"),
    ("2MiB", "count", "this is a count, not bytes: 2M"),
    (-5, "count", "a limit is 0 or more"),
    (1.5, "count", "a whole number, or write the fraction with a suffix (1.5M)"),
    ("5X", "count", "the suffixes are k, K, M, G, T"),
])
def test_bad_values_are_refused_with_a_hint(value, kind, hint):
    with pytest.raises(ValueError) as e:
        budget.parse(value, kind)
    assert e.value.args[1] == hint
    for bad in (True, None, [1], "1.5"):
        with pytest.raises(ValueError):
            budget.parse(bad, kind)


def test_a_bad_value_in_a_spec_is_one_positioned_diagnostic():
    text = SPEC.replace("budget: {params: 1M}", "budget:\n  params: 5M\n  macs: 2 G")
    diags = nnspec.check_text(text, "m.yaml")[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("bad-quantity", 5, 9)]
    assert diags[0].message == f'budget.macs: expected {budget.COUNT_TEXT}, found text "2 G"'
    assert diags[0].hint == "write it without spaces: 2G"
    diags = nnspec.check_text(SPEC.replace("params: 1M", "param: 1M"), "m.yaml")[1]
    assert [(d.code, d.span.line, d.span.col, d.hint) for d in diags] == [
        ("unknown-key", 3, 10, "did you mean 'params'?")]


# ---------------------------------------------------------------- the check
def test_over_budget_at_the_limits_line_with_figure_limit_and_the_largest_layers():
    diags = nnspec.check_text(SPEC, "m.yaml")[1]
    assert [(d.code, d.severity, d.span.line, d.span.col) for d in diags] == [("over-budget", "error", 3, 10)]
    d = diags[0]
    assert d.message == (f"the model has {PARAMS:,} params (4.21M), over the budget of 1M = 1,000,000 "
                         f"(budget: params) by {PARAMS - 10**6:,}")
    assert d.hint == "the largest: 'dense1' 4.2M params, 'out' 10.2K; shrink them, or raise the limit"
    assert nnspec.check_text(SPEC.replace("1M", "5M"), "m.yaml")[1] == []
    assert nnspec.check_text(SPEC.replace("1M", str(PARAMS)), "m.yaml")[1] == []  # at the limit is within it
    assert nnspec.check_text(SPEC.replace("1M", str(PARAMS - 1)), "m.yaml")[1][0].code == "over-budget"


def test_macs_and_activation_memory_state_the_batch_size():
    text = SPEC.replace("{params: 1M}", "{macs: 1M, activation_memory: 1KiB, batch_size: 8}")
    over = {d.message.split(",")[0]: d for d in nnspec.check_text(text, "m.yaml")[1]}
    assert len(over) == 2
    macs = next(d for d in over.values() if "MACs" in d.message)
    assert macs.message.startswith(f"the model needs {MACS:,} MACs per example (4.2M), over the budget of 1M")
    assert (macs.span.line, macs.span.col) == (3, 10)
    mem = next(d for d in over.values() if "activations" in d.message)
    need = ACT_ELEMS * 4 * 8
    assert mem.message == (f"the model needs {need:,} bytes of activations (160 KiB) at batch size 8 (budget: "
                           f"batch_size), over the budget of 1KiB = 1,024 (budget: activation_memory) by "
                           f"{need - 1024:,}")
    assert mem.hint.startswith("the largest: 'x' 128 KiB, 'dense1' 32 KiB, 'out' 320 B;")
    # the figures are summary's
    from nnspec import cost
    spec = nnspec.check_text(text, "m.yaml", budget=False)[0]
    assert cost.total_macs(spec) == MACS and cost.activation_bytes(spec, 8) == need


def test_the_callers_limits_override_and_add_to_the_specs():
    # the spec allows 1M params; the caller 5M (override) and 1M MACs (added)
    diags = nnspec.check_text(SPEC, "m.yaml", budget={"params": "5M", "macs": "1M"})[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("over-budget", 1, 1)]
    assert "over the budget of 1M = 1,000,000 (--max-macs)" in diags[0].message
    diags = nnspec.check_text(SPEC, "m.yaml", budget={"activation_memory": 100, "batch_size": 2})[1]
    mem = next(d for d in diags if "activations" in d.message)
    assert f"{ACT_ELEMS * 4 * 2:,} bytes of activations" in mem.message and "batch size 2 (--batch-size)" in mem.message
    assert nnspec.check_text(SPEC, "m.yaml", budget=False)[1] == []
    with pytest.raises(ValueError, match="params: expected a count"):
        nnspec.check_text(SPEC, "m.yaml", budget={"params": "5X"})


def test_unknown_sizes_are_a_warning_unless_what_can_be_counted_is_over():
    text = SPEC.replace(f"x: [{X}]", f"x: [null, {X}]")  # Dense over a sequence of unknown length
    d, = nnspec.check_text(text.replace("params: 1M", "macs: 1G"), "m.yaml")[1]
    assert (d.code, d.severity) == ("budget-unchecked", "warning")
    assert "nnspec cannot count 'dense1', 'out'" in d.message
    d, = nnspec.check_text(text, "m.yaml")[1]  # params do not depend on the length: counted, over
    assert d.code == "over-budget" and d.message.startswith(f"the model has {PARAMS:,} params")


def test_the_dsl_says_budget_with_bare_quantities():
    nns = to_dsl({"nnspec": 1, "name": "m", "budget": {"params": "1M", "activation_memory": "2GiB"},
                  "inputs": {"x": [X]}, "layers": [{"Dense": {"units": H, "name": "dense1"}}],
                  "outputs": {"dense1": None}})
    assert "budget {params: 1M, activation_memory: 2GiB}\n" in nns
    doc, diags = load_dsl(nns, "m.nns")
    assert diags == [] and doc.data["budget"] == {"params": "1M", "activation_memory": "2GiB"}
    d, = nnspec.check_text(nns, "m.nns")[1]
    assert d.code == "over-budget" and (d.span.line, d.span.col) == (3, 9)
    one = to_dsl({**doc.data, "budget": {"params": "5M"}})
    assert "budget {params: 5M}\n" in one  # a map, not call syntax
    assert "budget: {params: 1M, activation_memory: 2GiB}\n" in to_yaml(doc.data)


# ---------------------------------------------------------------- the command line
def run(*args):
    return clirun.nnspec(*args, cwd=ROOT)


def test_cli_flags(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC.replace("budget: {params: 1M}\n", ""))
    assert run("validate", "-q", str(spec), "--max-params", "5M").returncode == 0
    r = run("validate", str(spec), "--max-params", "1M", "--format", "github")
    assert r.returncode == 1
    assert r.stdout.startswith(f"::error file={spec},line=1,col=1,title=nnspec over-budget::the model has "
                               f"{PARAMS:,} params")
    r = run("validate", str(spec), "--max-activation-memory", "2G")
    assert r.returncode == 2 and "argument --max-activation-memory: expected a number of bytes" in r.stderr
    assert "hint: say which: 2GiB (powers of 1024) or 2GB (powers of 1000)" in r.stderr
    r = run("validate", str(spec), "--batch-size", "0")
    assert r.returncode == 2 and "argument --batch-size" in r.stderr
    # 5,130 floats an example: 20,520 bytes at batch 1, within 24KiB (24,576); 41,040 at batch 2, over
    r = run("validate", str(spec), "--max-activation-memory", "24KiB", "--batch-size", "1", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = run("validate", str(spec), "--max-activation-memory", "24KiB", "--batch-size", "2", "--format", "json")
    d, = json.loads(r.stdout)
    assert r.returncode == 1 and d["code"] == "over-budget" and (d["line"], d["column"]) == (1, 1)
    assert d["message"].startswith(f"the model needs {ACT_ELEMS * 4 * 2:,} bytes of activations")

def test_summary_graph_and_diff_show_an_over_budget_spec(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC)
    assert cli.main(["validate", "-q", str(spec)]) == 1
    assert cli.main(["summary", str(spec)]) == 0
    assert cli.main(["graph", str(spec), "-o", str(tmp_path / "m.mmd")]) == 0
    assert cli.main(["diff", str(spec), str(spec)]) == 0
    # compile refuses it as validate does, before TensorFlow loads
    r = run("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "[over-budget]" in r.stderr and "load tensorflow" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_the_readme_shows_what_nnspec_says(monkeypatch):
    monkeypatch.chdir(ROOT)
    from nnspec import report
    readme = (ROOT / "README.md").read_text()
    shown = next(line for line in readme.splitlines() if line.endswith("[over-budget]"))
    assert shown == report.text(nnspec.validate("nnspec/codes/over_budget.yaml"))
    for text in ("5M", "1.5G", "250k", "5000000"):
        assert f"`{text}`" in readme and budget.parse(text, "count") > 0
    for text in ("2GiB", "512MB"):
        assert f"`{text}`" in readme and budget.parse(text, "bytes") > 0


def test_long_numbers_are_refused_before_any_work():
    assert budget.parse("9" * 30, "count") == 10**30 - 1
    with pytest.raises(ValueError) as e:
        budget.parse("9" * 31, "count")
    assert e.value.args[1].startswith("at most 30 digits")
    r = run("validate", "specs/lab_quake.yaml", "--batch-size", "\u00b2")  # a digit to str.isdigit, not to int
    assert r.returncode == 2 and "argument --batch-size: expected a whole number of at least 1" in r.stderr
