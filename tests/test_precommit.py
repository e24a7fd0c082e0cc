"""pre-commit: the shipped hooks (.pre-commit-hooks.yaml) run by the real pre-commit tool on a
temporary git repository, and validate's --skip-non-specs, which the validate hook uses."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from nnspec import cli

ROOT = pathlib.Path(__file__).parent.parent
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
BROKEN = "nnspec: 1\nname: m\ninputs: {x: [10, 3]}\nlayers:\n  - LSTM: {units: 4, name: lstm1}\n" \
         "  - LSTM: {units: 4, name: lstm2}\n  - Dense: {units: 1, name: out}\noutputs: {out: {loss: mse}}\n"
BROKEN_SAYS = "specs/bad.yaml:6:5: error: LSTM 'lstm2' needs (batch, time, features) but 'lstm1' gives (batch, 4)"
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"


def test_skip_non_specs(tmp_path, capsys):
    (tmp_path / "ci.yml").write_text(WORKFLOW)
    (tmp_path / "bad.yaml").write_text("# broken, but a spec: its nnspec line says so\nnnspec: 1\nname: [\n")
    (tmp_path / "quoted.yaml").write_text('"nnspec": 1\nname: m\n')
    shutil.copy(ROOT / "specs/lab_quake.yaml", tmp_path / "good.yaml")
    assert cli.main(["validate", "--skip-non-specs", str(tmp_path / "ci.yml")]) == 0  # nothing left: ok
    assert cli.main(["validate", str(tmp_path / "ci.yml")]) == 1  # without the flag it is checked
    capsys.readouterr()
    assert cli.main(["validate", "--skip-non-specs", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'ci.yml'}: skipped, not a spec (no top-level nnspec: line)" in out
    assert f"{tmp_path / 'good.yaml'}: ok" in out
    assert f"{tmp_path / 'bad.yaml'}:4:1: error: YAML syntax error" in out
    assert f"{tmp_path / 'quoted.yaml'}:1:1: error: missing required key 'inputs'" in out


def test_the_hooks_run_commands_that_exist():
    assert [h["id"] for h in HOOKS] == ["nnspec-validate", "nnspec-fmt"]
    for hook in HOOKS:
        assert hook["language"] == "python"
        argv = hook["entry"].split()
        assert argv[0] == "nnspec"
        cli._parser().parse_args(argv[1:] + hook.get("args", []) + ["specs/x.nns"])  # exits 2 on a bad flag
    validate, fmt = (re.compile(h["files"]) for h in HOOKS)
    for name in ("specs/lab_quake.yaml", "specs/lab_quake.nns", "a/b.yml"):
        assert validate.search(name)
    assert not validate.search("README.md") and not validate.search("x.yaml.orig")
    assert fmt.search("specs/lab_quake.nns") and not fmt.search("specs/lab_quake.yaml")


def _git(*args, cwd, env=None):
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def _snapshot(dest: pathlib.Path, env) -> str:
    """This working tree (committed or not, untracked files not ignored by git included) as the
    one commit of a new repository: what pre-commit would fetch from a release. Its hash."""
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    dest.mkdir()
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # a file deleted but not yet staged is listed too
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git("init", "-q", cwd=dest, env=env)
    _git("add", "-A", cwd=dest, env=env)
    _git("commit", "-q", "-m", "snapshot", cwd=dest, env=env)
    return _git("rev-parse", "HEAD", cwd=dest, env=env).strip()


# pip's words when it cannot reach its index (a machine without network): no version at all of a
# package PyPI has (setuptools, to build nnspec), or the connection's own error
OFFLINE = re.compile(r"\(from versions: none\)|Failed to establish a new connection|Temporary failure in name "
                     r"resolution|Network is unreachable|Connection refused|Max retries exceeded|Could not fetch URL")


@pytest.mark.slow
def test_the_shipped_hooks_with_the_real_pre_commit(tmp_path):
    """Commit a good spec (the hooks pass) and a broken one (the commit is refused, with the
    diagnostic's position); the hook's environment is the light install."""
    pytest.importorskip("pre_commit", reason="pre-commit is not installed (it is in the test extra: "
                                             "pip install -e '.[test]')")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "cache"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_CONFIG_NOSYSTEM="1")
    rev = _snapshot(tmp_path / "nnspec", env)
    user = tmp_path / "user"
    (user / "specs").mkdir(parents=True)
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {tmp_path / 'nnspec'}\n    rev: {rev}\n    hooks:\n"
        "      - id: nnspec-validate\n      - id: nnspec-fmt\n")
    _git("init", "-q", cwd=user, env=env)

    def pre_commit(*args):
        return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=user, env=env, capture_output=True,
                              text=True, timeout=600)

    r = pre_commit("install-hooks")  # a virtualenv with `pip install .` of the snapshot
    log = tmp_path / "cache/pre-commit.log"  # pip's output, when it failed
    why = r.stdout + r.stderr + (log.read_text() if log.exists() else "")
    if r.returncode != 0 and OFFLINE.search(why):
        pytest.skip("pre-commit could not install the hook's environment: pip could not reach its package index "
                    f"(no network?): {OFFLINE.search(why).group(0)}")
    assert r.returncode == 0, why
    site = list((tmp_path / "cache").glob("repo*/py_env-*/lib/python*/site-packages"))
    assert len(site) == 1, site
    installed = {p.name.lower() for p in site[0].iterdir()}
    assert {"nnspec", "lark", "jsonschema", "yaml"} <= installed
    assert not {"tensorflow", "keras", "numpy"} & installed  # the light install

    assert pre_commit("install").returncode == 0  # the git hook: `git commit` runs pre-commit
    shutil.copy(ROOT / "specs/lab_quake.yaml", user / "specs/good.yaml")
    shutil.copy(ROOT / "specs/lab_quake.nns", user / "specs/good.nns")
    (user / ".github/workflows").mkdir(parents=True)
    (user / ".github/workflows/ci.yml").write_text(WORKFLOW)  # other YAML: skipped
    _git("add", "-A", cwd=user, env=env)
    r = subprocess.run(["git", "commit", "-m", "good"], cwd=user, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr  # git hooks write to stderr
    assert re.search(r"nnspec validate\.+Passed", out) and re.search(r"nnspec fmt\.+Passed", out)

    (user / "specs/bad.yaml").write_text(BROKEN)
    (user / "specs/messy.nns").write_text("nnspec 1\nmodel  m\ninput x [4]\nDense( units = 3 )\noutput dense\n")
    _git("add", "-A", cwd=user, env=env)
    r = subprocess.run(["git", "commit", "-m", "broken"], cwd=user, env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert re.search(r"nnspec validate\.+Failed", out) and BROKEN_SAYS in out
    assert re.search(r"nnspec fmt\.+Failed", out) and "would reformat specs/messy.nns" in out
    assert _git("rev-list", "--count", "HEAD", cwd=user, env=env).strip() == "1"  # refused


def _readme_yaml(first_line):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, first_line
    return yaml.safe_load(found[0])


def test_the_readme_config_names_shipped_hooks_and_flags_that_exist():
    config = _readme_yaml("repos:")
    hooks = {h["id"]: h for h in HOOKS}
    for hook in config["repos"][0]["hooks"]:
        shipped = hooks[hook["id"]]
        args = hook.get("args", shipped.get("args", []))
        cli._parser().parse_args(shipped["entry"].split()[1:] + args + ["x.yaml"])


def test_the_readme_workflow_runs_commands_that_exist():
    import shlex
    workflow = _readme_yaml("name: nnspec")
    runs = [step["run"] for step in workflow["jobs"]["specs"]["steps"] if "run" in step]
    commands = [line.strip() for run in runs for line in run.splitlines() if line.strip().startswith("nnspec ")]
    assert [c.split()[1] for c in commands] == ["validate", "diff"]
    for command in commands:
        argv = shlex.split(command.replace("$BASE", "main").split(" > ")[0])
        args = cli._parser().parse_args(argv[1:])
        assert args.format in ("github", "markdown")
