"""`nnspec diff`: what it reports, its formats (JSON against a schema), exit codes, git."""
import json
import pathlib
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest

import clirun

from nnspec import api
from nnspec import diff as d

ROOT = pathlib.Path(__file__).parent.parent
LAB = (ROOT / "specs/lab_quake.yaml").read_text()


def changed_lab():
    """lab_quake with a wider trunk, a Dropout before it, another ttf weight and learning rate, no penalty."""
    return (LAB.replace("units: 32, activation: relu, name: trunk", "units: 64, activation: relu, name: trunk")
            .replace("  - Flatten: {}\n", "  - Flatten: {}\n  - Dropout: {rate: 0.2}\n")
            .replace("weight: 8,", "weight: 4,").replace("learning_rate: 0.008", "learning_rate: 0.01")
            .replace("  - {on: trunk, l2: 0.01}", "  - {on: trunk, l1: 0.001}"))


def spec(text, name="s.yaml"):
    s, diags = api.check_text(text, name)
    assert s is not None and not diags, diags
    return s


def run(*args, cwd=ROOT):  # test_git_external_diff_driver starts `nnspec diff` as a new process
    return clirun.nnspec(*args, cwd=cwd, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_reports_every_kind_of_change():
    r = d.compare(spec(LAB), spec(changed_lab()))
    assert not r["equivalent"]
    assert r["layers"]["added"] == [{"name": "dropout", "type": "Dropout", "shape": "(batch, 128)", "params": 0}]
    assert r["layers"]["removed"] == []
    trunk, *ripples = r["layers"]["changed"]
    assert trunk == {"name": "trunk", "args": [{"key": "units", "old": 32, "new": 64}],
                     "inputs": {"old": ["flatten"], "new": ["dropout"]},
                     "shape": {"old": "(batch, 32)", "new": "(batch, 64)"},
                     "params": {"old": 32 * 128 + 32, "new": 64 * 128 + 64}, "ripple": False}
    assert [(c["name"], c["params"], c["ripple"]) for c in ripples] == \
        [(n, {"old": 33, "new": 65}, True) for n in ("ttf", "tsf", "imminent")]
    assert r["outputs"] == [{"key": "ttf.weight", "old": 8, "new": 4}]
    assert r["training"] == [{"key": "optimizer.nadam.learning_rate", "old": 0.008, "new": 0.01}]
    assert r["penalties"] == {"added": ["l1(0.001) sum on trunk"], "removed": ["l2(0.01) sum on trunk"]}
    old, new = r["totals"]["old"]["params"], r["totals"]["new"]["params"]
    assert new - old == (64 - 32) * 128 + 32 + 3 * 32
    text = d.text(r)
    assert "! trunk: units 32 -> 64; from flatten -> dropout; shape (batch, 32) -> (batch, 64)" in text
    assert f"total params: {old:,} -> {new:,} (+{new - old:,}, +3.1%)" in text


def test_settings_beside_the_graph_are_changes(tmp_path):
    """A seed, a weights file, a budget limit, an input's range: not the graph, but a reviewer must see
    them change (a looser budget in a pull request); diff ignored them and called the specs equivalent."""
    head = "nnspec: 1\nname: m\n{extra}inputs: {{x: {x}}}\nlayers:\n  - Dense: {{units: 2, name: out}}\noutputs: {{out: null}}\n"
    (tmp_path / "w.keras").write_bytes(b"")
    old = spec(head.format(extra="seed: 1\nbudget: {params: 1k}\n", x="[4]"), str(tmp_path / "a.yaml"))
    new = spec(head.format(extra="seed: 2\nweights: w.keras\nbudget: {params: 5M, macs: 1G}\n",
                           x="{shape: [4], range: [0, 1]}"), str(tmp_path / "b.yaml"))
    r = d.compare(old, new)
    assert not r["equivalent"] and r["layers"] == {"added": [], "removed": [], "changed": []}
    assert r["settings"] == [{"key": "budget.macs", "old": None, "new": "1G"},
                             {"key": "budget.params", "old": "1k", "new": "5M"},
                             {"key": "seed", "old": 1, "new": 2}, {"key": "weights", "old": None, "new": "w.keras"}]
    assert r["inputs"] == [{"key": "x", "old": {"shape": "(batch, 4)", "dtype": "float32"},
                            "new": {"shape": "(batch, 4)", "dtype": "float32", "range": [0, 1]}}]
    assert "settings: budget.params 1k -> 5M" in d.text(r) and "**Settings**" in d.markdown(r)
    assert d.compare(old, old)["equivalent"]


def test_defaults_written_out_and_the_dsl_twin_are_equivalent():
    plain = spec(LAB)
    explicit = spec(LAB.replace("units: 1, name: tsf", "units: 1, use_bias: true, name: tsf"))
    assert d.compare(plain, explicit)["equivalent"]
    for yaml in sorted((ROOT / "specs").glob("*.yaml")):
        a, b = api.load(yaml), api.load(yaml.with_suffix(".nns"))
        assert d.compare(a, b)["equivalent"], yaml


def test_blocks_are_matched_after_expansion():
    text = (ROOT / "specs/resnet50.yaml").read_text()
    r = d.compare(spec(text), spec(text.replace("{filters: 64, out: 256, name: conv2_block2}",
                                                "{filters: 32, out: 256, name: conv2_block2}")))
    changed = {c["name"]: c for c in r["layers"]["changed"]}
    assert changed["conv2_block2_1_conv"]["args"] == [{"key": "filters", "old": 64, "new": 32}]
    assert not changed["conv2_block2_1_conv"]["ripple"]
    assert changed["conv2_block2_1_bn"]["ripple"] and "conv2_block3_1_conv" not in changed


JSON_SCHEMA = {
    "type": "object",
    "required": ["old", "new", "layers", "inputs", "outputs", "penalties", "training", "settings", "totals",
                 "equivalent"],
    "properties": {
        "old": {"type": ["string", "null"]}, "new": {"type": ["string", "null"]},
        "equivalent": {"type": "boolean"},
        "layers": {"type": "object", "required": ["added", "removed", "changed"], "properties": {
            "added": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
            "removed": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
            "changed": {"type": "array", "items": {
                "type": "object", "required": ["name", "ripple"],
                "properties": {"name": {"type": "string"}, "ripple": {"type": "boolean"},
                               "args": {"type": "array", "items": {"$ref": "#/$defs/change"}},
                               "params": {"$ref": "#/$defs/oldnew"}, "shape": {"$ref": "#/$defs/oldnew"},
                               "type": {"$ref": "#/$defs/oldnew"}, "inputs": {"$ref": "#/$defs/oldnew"}}}}},
            "additionalProperties": False},
        "inputs": {"type": "array", "items": {"$ref": "#/$defs/change"}},
        "outputs": {"type": "array", "items": {"$ref": "#/$defs/change"}},
        "training": {"type": "array", "items": {"$ref": "#/$defs/change"}},
        "settings": {"type": "array", "items": {"$ref": "#/$defs/change"}},
        "penalties": {"type": "object", "required": ["added", "removed"]},
        "totals": {"type": "object", "required": ["old", "new"], "properties": {
            "old": {"type": "object", "required": ["params"]}, "new": {"type": "object", "required": ["params"]}}},
    },
    "$defs": {
        "layer": {"type": "object", "required": ["name", "type", "shape", "params"],
                  "properties": {"params": {"type": "integer"}}},
        "change": {"type": "object", "required": ["key", "old", "new"]},
        "oldnew": {"type": "object", "required": ["old", "new"]},
    },
}


def test_json_matches_its_schema(tmp_path):
    (tmp_path / "new.yaml").write_text(changed_lab())
    r = run("diff", "specs/lab_quake.yaml", str(tmp_path / "new.yaml"), "--format", "json")
    assert r.returncode == 1, r.stderr
    jsonschema.validate(json.loads(r.stdout), JSON_SCHEMA)
    r = run("diff", "specs/lab_quake.yaml", "specs/lab_quake.nns", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["equivalent"] is True


def test_markdown_is_safe_in_a_pull_request_comment():
    r = d.compare(spec(LAB), spec(changed_lab()))
    evil = "a | <img src=x> ``x`\n| b |"  # values from an untrusted spec (strings of any kind)
    r["training"].append({"key": evil, "old": evil, "new": None})
    r["layers"]["changed"][0]["args"].append({"key": "k", "old": evil, "new": 1})
    md = d.markdown(r)
    assert md.count("\n") == d.markdown(d.compare(spec(LAB), spec(changed_lab()))).count("\n") + 1
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "CODE", md)  # code spans show text, never HTML
    assert "<img" not in outside and "``x" not in outside
    for line in md.splitlines():  # table rows keep their column count: no raw pipe inside a cell
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) in (4, 5), line


def test_exit_codes_and_errors(tmp_path):
    r = run("diff", "specs/lab_quake.yaml", "specs/lab_quake.yaml")
    assert r.returncode == 0 and "equivalent" in r.stdout
    r = run("diff", "specs/lab_quake.yaml", "nnspec/codes/cycle.yaml")
    assert r.returncode == 2 and "cycle.yaml:" in r.stderr and "does not validate" in r.stderr
    r = run("diff", "specs/lab_quake.yaml")
    assert r.returncode == 2 and "two specs" in r.stderr
    r = run("diff", "specs/lab_quake.yaml", "nope.yaml")
    assert r.returncode == 2 and "no such file: nope.yaml" in r.stderr
    r = run("diff", "/dev/null", "specs/lab_quake.yaml")
    assert r.returncode == 1 and "+ trunk: Dense" in r.stdout


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("no git")
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "m.yaml").write_text(LAB)
    git("add", "m.yaml")
    git("commit", "-qm", "one")
    (tmp_path / "m.yaml").write_text(changed_lab())
    return tmp_path, git


def test_rev_path_reads_from_git(repo):
    path, git = repo
    r = run("diff", "main:m.yaml", "m.yaml", cwd=path)
    assert r.returncode == 1 and "--- main:m.yaml" in r.stdout and "! trunk: units 32 -> 64" in r.stdout
    r = run("diff", "nosuchrev:m.yaml", "m.yaml", cwd=path)
    assert r.returncode == 2 and "cannot read nosuchrev:m.yaml from git" in r.stderr


def test_git_external_diff_driver(repo):
    """The two lines the README documents: .gitattributes `*.yaml diff=nnspec` and diff.nnspec.command."""
    path, git = repo
    (path / ".gitattributes").write_text("*.yaml diff=nnspec\n")
    git("config", "diff.nnspec.command", f"{sys.executable} -m nnspec diff")
    out = subprocess.run(["git", "diff", "m.yaml"], cwd=path, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "--- a/m.yaml" in out.stdout and "! trunk: units 32 -> 64" in out.stdout


def test_readme_sample_is_current():
    """The README's sample: lab_quake with the changes of changed_lab(), as a pull-request comment."""
    r = d.compare(spec(LAB, "main:specs/lab_quake.yaml"), spec(changed_lab(), "specs/lab_quake.yaml"))
    readme = (ROOT / "README.md").read_text()
    sample = readme.split("<!-- diff sample -->\n")[1]
    assert sample == d.markdown(r), "regenerate the README's sample"
