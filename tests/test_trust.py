"""No code runs on the spec's authority: permission to import comes from the person running
nnspec (--allow-import, [tool.nnspec] in the pyproject.toml of the working directory), never
from the spec; some objects are refused whoever allows them. Fast: nothing here builds a model."""
from __future__ import annotations

import os
import pathlib
import sys

import pytest

import clirun

import nnspec
from nnspec import config
from nnspec.api import check_text
from nnspec.trust import refused

ROOT = pathlib.Path(__file__).parent.parent

EVIL = """import pathlib
pathlib.Path({marker!r}).write_text("imported")

def loss(y_true, y_pred):
    return y_pred
"""

SPEC = """nnspec: 1
name: trust
{head}
inputs: {{x: [4]}}
layers:
  - Dense: {{units: 1, name: y}}
outputs:
  y: {{loss: {{custom: "evil_mod:loss"}}}}
"""


def _cli(*args, cwd, pythonpath=""):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), pythonpath) if p)}
    return clirun.nnspec(*args, cwd=cwd, env=env)


@pytest.fixture
def evil(tmp_path):
    """A module shipped beside the spec (as in a pull request) that leaves a marker when imported."""
    marker = tmp_path / "MARKER"
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "evil_mod.py").write_text(EVIL.format(marker=str(marker)))
    work = tmp_path / "work"
    work.mkdir()
    return marker, str(mods), work


def _codes(text, allow=()):
    return [d.code for d in check_text(text, "t.yaml", allow_import=allow)[1]]


def test_a_spec_cannot_grant_itself_imports(evil):
    marker, mods, work = evil
    (work / "s.yaml").write_text(SPEC.format(head="allow_import: [evil_mod]"))
    r = _cli("validate", "s.yaml", cwd=work, pythonpath=mods)
    assert r.returncode == 1, r.stdout + r.stderr
    line = [x for x in r.stdout.splitlines() if "error" in x]
    assert len(line) == 1 and line[0].startswith("s.yaml:3:1: error: a spec cannot allow imports"), r.stdout
    assert "rename allow_import to requires_import" in line[0] and "--allow-import evil_mod" in line[0]
    assert 'allow_import = ["evil_mod"] under [tool.nnspec] in pyproject.toml' in line[0]
    assert line[0].endswith("[allow-import-in-spec]")
    assert not marker.exists()


def test_the_dsl_keyword_gives_the_same_error():
    text = 'nnspec 1\nmodel m\nallow_import [mypkg]\ninput x [4]\ny = Dense(units=1)\noutput y\n'
    diags = check_text(text, "t.nns")[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("allow-import-in-spec", 3, 1)]


def test_declared_but_not_allowed_says_which_flag():
    diags = check_text(SPEC.format(head="requires_import: [evil_mod]"), "t.yaml")[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("import-not-allowed", 8, 22)]
    assert "declares (requires_import) but you have not allowed" in diags[0].message
    assert diags[0].hint == ('run with --allow-import evil_mod, or add allow_import = ["evil_mod"] under '
                             '[tool.nnspec] in pyproject.toml')


def test_undeclared_and_not_allowed():
    diags = check_text(SPEC.format(head=""), "t.yaml")[1]
    assert [d.code for d in diags] == ["import-not-allowed"]
    assert diags[0].hint.startswith("declare it in the spec with requires_import: [evil_mod], and run with "
                                    "--allow-import evil_mod")


def test_allowed_by_the_caller_validates():
    assert _codes(SPEC.format(head="requires_import: [evil_mod]"), allow=("evil_mod",)) == []
    assert _codes(SPEC.format(head=""), allow=("evil_mod",)) == []
    spec, _ = check_text(SPEC.format(head="requires_import: [evil_mod]"), "t.yaml", allow_import=("evil_mod",))
    assert spec.allow_import == ("evil_mod",) and spec.requires_import == ("evil_mod",)
    assert spec.custom_modules == ("evil_mod",)


def test_validate_and_summary_never_import_what_the_spec_names(evil):
    marker, mods, work = evil
    (work / "s.yaml").write_text(SPEC.format(head="requires_import: [evil_mod]"))
    for cmd in ("validate", "summary"):
        assert _cli(cmd, "s.yaml", cwd=work, pythonpath=mods).returncode == 1
        r = _cli(cmd, "s.yaml", "--allow-import", "evil_mod", cwd=work, pythonpath=mods)
        assert r.returncode == 0, r.stderr
    (work / "pyproject.toml").write_text('[tool.nnspec]\nallow_import = ["evil_mod"]\n')
    for cmd in ("validate", "summary"):
        r = _cli(cmd, "s.yaml", cwd=work, pythonpath=mods)
        assert r.returncode == 0, r.stderr
    assert not marker.exists()


def test_pyproject_of_the_working_directory_grants(evil):
    marker, mods, work = evil
    (work / "sub").mkdir()
    (work / "s.yaml").write_text(SPEC.format(head="requires_import: [evil_mod]"))
    (work / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.nnspec]\nallow_import = ["evil_mod"]\n')
    assert _cli("validate", "s.yaml", cwd=work).returncode == 0
    assert _cli("validate", "../s.yaml", cwd=work / "sub").returncode == 0  # the nearest one above cwd
    r = _cli("validate", "s.yaml", "--no-config", cwd=work)
    assert r.returncode == 1 and "import-not-allowed" in r.stdout


def test_pyproject_read_by_its_keys_however_written(tmp_path):
    """config skips the TOML parser for a pyproject.toml that cannot hold [tool.nnspec]; one that spells
    the table with an escape or a dotted key is read all the same."""
    from nnspec import config
    p = tmp_path / "pyproject.toml"
    for text in ('[tool."nn\\u0073pec"]\nallow_import = ["mine"]\n', 'tool.nnspec.allow_import = ["mine"]\n',
                 '[tool]\n"nnspec" = {allow_import = ["mine"]}\n', "[ tool . 'nnspec' ]\nallow_import = ['mine']\n",
                 'tool = {nnspec = {allow_import = ["mine"]}}\n', '[ "tool" ]\nnnspec.allow_import = ["mine"]\n',
                 '[project]\nname = "nnspec"\n\n[tool.nnspec]  # ours\nallow_import = ["mine"]\n'):
        p.write_text(text)
        assert config.read(str(p)) == {"allow_import": ["mine"]}, text
    p.write_text('[project]\nname = "x"\n[tool.black]\nline-length = 100\n')
    assert config.read(str(p)) == {"allow_import": []}


def test_pyproject_naming_nnspec_otherwise_is_not_parsed(tmp_path, monkeypatch):
    """A project that depends on nnspec, or is nnspec, names it without a tool.nnspec table: the TOML
    parser is not loaded for it (a tenth of validating one spec)."""
    from nnspec import config

    def parse(text, path):
        raise AssertionError("parsed")
    monkeypatch.setattr(config, "_toml_loads", parse)
    p = tmp_path / "pyproject.toml"
    p.write_text('[project]\nname = "nnspec"\ndependencies = ["nnspec>=0.1", "nnspec[onnx]"]\n\n[project.scripts]\n'
                 'nnspec = "nnspec.cli:main"\n\n[tool.setuptools.packages.find]\ninclude = ["nnspec*"]\n')
    assert config.read(str(p)) == {"allow_import": []}
    p.write_text('[tool.nnspec]\nallow_import = ["mine"]\n')
    with pytest.raises(AssertionError):
        config.read(str(p))


def test_pyproject_beside_the_spec_grants_nothing(evil, tmp_path):
    marker, mods, work = evil
    shipped = tmp_path / "pr"
    shipped.mkdir()
    (shipped / "s.yaml").write_text(SPEC.format(head="requires_import: [evil_mod]"))
    (shipped / "pyproject.toml").write_text('[tool.nnspec]\nallow_import = ["evil_mod"]\n')
    r = _cli("validate", str(shipped / "s.yaml"), cwd=work)
    assert r.returncode == 1 and "import-not-allowed" in r.stdout


@pytest.mark.parametrize("text, message", [
    ('[tool.nnspec]\nallow_import = "evil_mod"\n', "must be a list of module names"),
    ('[tool.nnspec]\nallow-import = ["evil_mod"]\n', "unknown key 'allow-import' under [tool.nnspec]; hint: did you "
                                                    "mean 'allow_import'"),
    ('[tool.nnspec\n', "not valid TOML"),
    ('[tool.nnspec]\nallow_import = ["os"]\n', "'os' is never allowed"),
    ('[tool]\nnnspec = 3\n', "tool.nnspec must be a table"),
])
def test_a_bad_config_is_one_clear_error(evil, text, message):
    marker, mods, work = evil
    (work / "s.yaml").write_text(SPEC.format(head=""))
    (work / "pyproject.toml").write_text(text)
    r = _cli("validate", "s.yaml", cwd=work)
    assert r.returncode == 2 and r.stderr.startswith("nnspec: error: "), r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_config_others_can_write_is_not_trusted(tmp_path):
    p = tmp_path / "pyproject.toml"
    p.write_text('[tool.nnspec]\nallow_import = ["mypkg"]\n')
    os.chmod(p, 0o666)
    with pytest.raises(config.ConfigError, match="writable by others"):
        config.allowed_imports(tmp_path)
    os.chmod(p, 0o644)
    assert config.allowed_imports(tmp_path) == (("mypkg",), str(p))


def test_without_tomllib_a_nnspec_table_is_an_error_not_ignored(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    p = tmp_path / "pyproject.toml"
    p.write_text('[tool.nnspec]\nallow_import = ["mypkg"]\n')
    with pytest.raises(config.ConfigError, match="needs Python 3.11 or the tomli package"):
        config.allowed_imports(tmp_path)
    p.write_text('[project]\nname = "x"\n')
    assert config.allowed_imports(tmp_path) == ((), str(p))


def test_refused_modules_cannot_be_allowed_on_the_command_line(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC.format(head=""))
    for bad in ("os", "builtins", "keras.saving", "not a module"):
        r = _cli("validate", "s.yaml", "--allow-import", bad, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith(f"nnspec: error: --allow-import {bad}: "), r.stderr


LOADERS = """nnspec: 1
name: loaders
requires_import: [keras, mypkg]
inputs: {{x: [4]}}
layers:
  - Custom: {{class: "{ref}", args: {{filepath: saved}}, output_shape: [4]}}
  - Dense: {{units: 1, name: y}}
outputs:
  y: {{}}
"""


@pytest.mark.parametrize("ref", [
    "keras.layers:TFSMLayer", "keras.layers:Lambda", "keras.src.export.tfsm_layer:TFSMLayer",
    "keras.src.layers.core.lambda_layer:Lambda", "tensorflow.keras.layers:TFSMLayer", "keras.layers:StringLookup",
    "keras.layers:TextVectorization", "keras.saving:load_model", "keras.models:load_model", "keras.layers:deserialize",
    "os:system", "builtins:eval", "subprocess:Popen", "pickle:loads", "importlib:import_module", "os.path:join",
    "tensorflow.saved_model:load", "tensorflow:py_function", "keras.callbacks:TensorBoard",
    "keras.datasets.mnist:load_data", "keras.applications:ResNet50",
])
def test_loaders_are_refused_whoever_allows_them(ref):
    root = ref.split(".")[0].split(":")[0]
    diags = check_text(LOADERS.format(ref=ref), "t.yaml", allow_import=("keras", "mypkg", root))[1]
    assert [(d.code, d.span.line) for d in diags] == [("import-refused", 6)], [d.format() for d in diags]
    assert refused(ref)


def test_own_layers_and_keras_layers_are_not_refused():
    for ref in ("mypkg.layers:Scale", "keras.layers:Dense", "keras.losses:Huber", "mypkg:load_model"):
        assert refused(ref) is None, ref


def test_serialized_keras_objects_in_custom_args_are_refused():
    text = LOADERS.format(ref="keras.layers:Masking").replace(
        "{filepath: saved}", "{mask_value: {class_name: TFSMLayer, module: keras.layers, config: {filepath: x}}}")
    diags = check_text(text, "t.yaml", allow_import=("keras",))[1]
    assert [(d.code, d.span.line) for d in diags] == [("import-refused", 6)]
    assert "class_name" in diags[0].message


def test_python_api_reads_no_config_unless_asked(evil, monkeypatch):
    marker, mods, work = evil
    (work / "s.yaml").write_text(SPEC.format(head="requires_import: [evil_mod]"))
    (work / "pyproject.toml").write_text('[tool.nnspec]\nallow_import = ["evil_mod"]\n')
    monkeypatch.chdir(work)
    assert [d.code for d in nnspec.validate("s.yaml")] == ["import-not-allowed"]
    assert nnspec.validate("s.yaml", allow_import=config.allowed_imports()[0]) == []


def test_declaring_a_refused_module_is_an_error():
    diags = check_text(SPEC.format(head="requires_import: [evil_mod, subprocess]"), "t.yaml")[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags][0] == ("import-refused", 3, 29)
