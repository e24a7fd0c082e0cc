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


def test_the_one_command_parser_parses_as_the_whole_one():
    """main builds only the named command's subparser (start-up): the namespaces it gives, and its
    usage errors, are those of the parser with every command; COMMANDS lists them all."""
    import argparse

    import pytest

    from nnspec import cli
    whole = cli._parser()
    sub = next(a for a in whole._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == cli.COMMANDS
    lines = [["validate", "-q", "--strict", "--target", "onnx", "--max-params", "5M", "a.yaml", "b"],
             ["summary", "x.yaml", "--expand", "--freeze", "a", "--batch-size", "3"],
             ["compile", "x.yaml", "-o", "out", "--keras", "m.keras", "--onnx", "--max-weights-bytes", "4G"],
             ["check", "x.yaml", "--train-steps", "2"], ["graph", "x.yaml", "-o", "g.svg"], ["fmt", "x.nns"],
             ["import", "m.keras", "-o", "s.yaml"], ["bounds", "m.keras", "--box", "x=0:1", "--method", "ibp"],
             ["explain", "rank-mismatch"], ["ops", "Dense"], ["schema"], ["inspect", "d"], ["diff", "a", "b"],
             ["convert", "a.yaml", "--to", "nns"]]
    for argv in lines:
        assert cli._command(argv) == argv[0]
        assert vars(cli._parser(argv[0]).parse_args(argv)) == vars(whole.parse_args(argv)), argv
    assert {line[0] for line in lines} == set(cli.COMMANDS)
    assert cli._command(["--version"]) is None and cli._command(["valdate", "x"]) is None and cli._command([]) is None
    for bad in (["validate", "--nope", "x.yaml"], ["validate", "--max-params", "lots", "x"], ["compile", "x.yaml"]):
        with pytest.raises(SystemExit) as one:
            cli._parser(bad[0]).parse_args(bad)
        with pytest.raises(SystemExit) as every:
            whole.parse_args(bad)
        assert one.value.code == every.value.code == 2


def test_help_width_is_argparse_own(monkeypatch):
    """cli._Formatter finds the terminal width as argparse does (through shutil.get_terminal_size)."""
    import argparse

    from nnspec import cli
    for columns in ("50", "200", "0", "-3", "wide", None):
        if columns is None:
            monkeypatch.delenv("COLUMNS", raising=False)
        else:
            monkeypatch.setenv("COLUMNS", columns)
        ours, theirs = cli._Formatter("nnspec"), argparse.HelpFormatter("nnspec")
        assert (ours._width, ours._max_help_position) == (theirs._width, theirs._max_help_position), columns


def test_the_command_ends_without_teardown_and_loses_no_output(tmp_path):
    """`nnspec` (cli.run) ends with os._exit when nothing is registered to run at exit: every byte of a
    long output still arrives, through a pipe and into a file, with main()'s exit code."""
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    schema = (root / "schemas" / "nnspec-v1.schema.json").read_text()
    assert len(schema) > 1 << 17  # more than a pipe's buffer
    out = subprocess.run([sys.executable, "-m", "nnspec", "schema"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == schema and out.stderr == ""
    with open(tmp_path / "out.json", "w") as f:
        code = subprocess.run([sys.executable, "-m", "nnspec", "schema"], cwd=root, stdout=f).returncode
    assert code == 0 and (tmp_path / "out.json").read_text() == schema
    bad = subprocess.run([sys.executable, "-m", "nnspec", "validate", str(tmp_path / "none.yaml")], cwd=root,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("nnspec: error: no such file")
    full = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'nnspec'; from nnspec.cli import run; "
                           "import atexit; atexit.register(lambda: print('at exit ran')); sys.argv[1:] = "
                           "['validate', '-q', 'specs/lab_quake.yaml']; run()"], cwd=root, capture_output=True,
                          text=True)
    assert full.returncode == 0 and full.stdout == "at exit ran\n"  # a callback: the interpreter's own exit
