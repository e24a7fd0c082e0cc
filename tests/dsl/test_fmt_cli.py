"""`nnspec fmt`: .nns files and directories; YAML is refused with a hint."""
from __future__ import annotations

import os
import shutil

from nnspec import cli

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")
MESSY = "nnspec 1\nmodel  m   # the model\ninput x [4]\nDense( units = 3 )\noutput dense   loss mse\n"
TIDY = "nnspec 1\nmodel m  # the model\n\ninput x [4]\n\nDense(units=3)\n\noutput dense  loss mse\n"


def test_fmt_refuses_yaml_with_a_hint(tmp_path, capsys):
    y = tmp_path / "m.yaml"
    y.write_text("nnspec: 1\nname:   m\n")
    assert cli.main(["fmt", str(y)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"nnspec: error: {y} is YAML; nnspec fmt formats the text form (.nns) only; hint: keep "
                           f"the YAML layout your own, or use nnspec convert {y} --to nns to get the text form")
    assert y.read_text() == "nnspec: 1\nname:   m\n"
    assert "Traceback" not in err and "syntax error" not in err


def test_fmt_takes_directories_recursively(tmp_path, capsys):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for p in ("top.nns", "a/b/deep.nns", ".hidden/skip.nns"):
        (tmp_path / p).write_text(MESSY)
    (tmp_path / "a" / "m.yaml").write_text("nnspec: 1\nname:   m\n")  # found, not touched
    assert cli.main(["fmt", "--check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [f"would reformat {tmp_path / 'top.nns'}",  # validate's order
                                f"would reformat {tmp_path / 'a' / 'b' / 'deep.nns'}"]
    assert cli.main(["fmt", str(tmp_path)]) == 0
    assert (tmp_path / "top.nns").read_text() == TIDY and (tmp_path / "a/b/deep.nns").read_text() == TIDY
    assert (tmp_path / ".hidden/skip.nns").read_text() == MESSY
    assert (tmp_path / "a" / "m.yaml").read_text() == "nnspec: 1\nname:   m\n"
    capsys.readouterr()
    assert cli.main(["fmt", "--check", str(tmp_path)]) == 0


def test_fmt_check_on_the_shipped_specs_directory(tmp_path, capsys):
    d = tmp_path / "specs"
    shutil.copytree(SPECS, d)
    assert cli.main(["fmt", "--check", str(d)]) == 0, capsys.readouterr()


def test_fmt_usage_errors(tmp_path, capsys):
    assert cli.main(["fmt", str(tmp_path / "missing.nns")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "only.yaml").write_text("nnspec: 1\n")
    assert cli.main(["fmt", str(tmp_path)]) == 2
    assert "no *.nns specs under" in capsys.readouterr().err
