"""The command line: exit codes, formats, usage errors."""
import json
import pathlib
import subprocess
import sys

import clirun

ROOT = pathlib.Path(__file__).parent.parent


def run(*args, process=None):
    return clirun.nnspec(*args, cwd=ROOT, process=process)


def test_validate_ok_and_summary():
    r = run("validate", "specs/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "specs/lab_quake.yaml: ok" in r.stdout
    s = run("summary", "specs/lab_quake.yaml", process=True)  # each command starts as a process at least once
    assert s.returncode == 0
    assert "Total params:" in s.stdout and "trunk" in s.stdout


def test_validate_invalid_exit_1_text():
    r = run("validate", "nnspec/codes/lstm_after_lstm.yaml")
    assert r.returncode == 1
    assert ("nnspec/codes/lstm_after_lstm.yaml:7:5: error: LSTM 'lstm2' needs (batch, time, features) "
            "but 'lstm1' gives (batch, 4); hint: return_sequences: true on 'lstm1'") in r.stdout
    assert "Traceback" not in r.stderr


def test_json_format():
    r = run("validate", "--format", "json", "nnspec/codes/dangling_from.yaml")
    assert r.returncode == 1
    diags = json.loads(r.stdout)
    assert diags[0]["code"] == "unknown-reference" and diags[0]["line"] == 7 and diags[0]["hint"]


def test_github_format():
    r = run("validate", "--format", "github", "nnspec/codes/cycle.yaml")
    assert r.returncode == 1
    assert r.stdout.startswith("::error file=nnspec/codes/cycle.yaml,line=6,col=38,title=nnspec cycle::")


def test_strict_makes_warnings_fail():
    assert run("validate", "nnspec/codes/unused_layer.yaml", process=True).returncode == 0
    assert run("validate", "--strict", "nnspec/codes/unused_layer.yaml").returncode == 1


def test_usage_errors_exit_2():
    assert run("validate", "no/such/file.yaml").returncode == 2
    assert run("frobnicate").returncode == 2
    r = run("ops", "Dens")
    assert r.returncode == 2 and "did you mean 'Dense'" in r.stderr


def test_schema_command_prints_committed_file():
    r = run("schema", process=True)
    assert r.stdout == (ROOT / "schemas" / "nnspec-v1.schema.json").read_text()


def test_ops_shows_where_an_op_lives():
    r = run("ops", "Conv2D", process=True)
    assert r.returncode == 0 and "nnspec/ops/conv.py" in r.stdout and "filters: required" in r.stdout


def test_import_tells_a_file_from_a_function_by_the_whole_text_without_tensorflow():
    """`nnspec import MODEL` reads MODEL as module:function only when all of it is one (a trailing
    line break makes it a file name), and decides so before TensorFlow is imported."""
    code = ("import sys; from nnspec.keras.importing.loading import is_function_ref as f; "
            "print(f('pkg.mod:make'), f('pkg.mod:make\\n'), f('pkg.mod:make\\nx'), 'tensorflow' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["True", "False", "False", "False"], r.stderr
    r = run("import", "no/such/model.keras", process=True)
    assert r.returncode == 2 and "no such file: no/such/model.keras" in r.stderr
