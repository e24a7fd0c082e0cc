"""Files the CLI writes and refuses to touch, without TensorFlow: schema -o,
convert -o, fmt, compile's refusals (checked before TensorFlow loads), check's
bounds, inspect on a malformed manifest, and nnspec.fsutil itself."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

import clirun

from nnspec import cli, fsutil

ROOT = pathlib.Path(__file__).parent.parent
SPEC = ROOT / "specs" / "lab_quake.yaml"
NNS = ROOT / "specs" / "lab_quake.nns"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(*args, cwd=ROOT, process=None):
    return clirun.nnspec(*args, cwd=cwd, env=ENV, process=process)


def assert_clean_error(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.stderr.count("nnspec: error:") == 1, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def snapshot(root: pathlib.Path) -> dict:
    """Every entry under root: relative path -> (mode, bytes or link target or 'dir')."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            out[str(p.relative_to(root))] = (st.st_mode, os.readlink(p))
        elif p.is_dir():
            out[str(p.relative_to(root))] = (st.st_mode, "dir")
        else:
            out[str(p.relative_to(root))] = (st.st_mode, p.read_bytes())
    return out


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- schema -o, convert -o, fmt ----------------------------------------------------------------------

def test_schema_to_a_missing_directory_is_a_clean_error(tmp_path):
    r = run("schema", "-o", str(tmp_path / "missing" / "dir" / "x.json"))
    assert_clean_error(r, 1, f"cannot write {tmp_path / 'missing' / 'dir' / 'x.json'}: ", "does not exist")
    assert fsutil.TMP_TAG not in r.stderr
    assert os.listdir(tmp_path) == []


def test_schema_output_is_atomic_and_keeps_mode_and_symlink(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    if os.geteuid() == 0:
        os.chown(target, 4321, 4322)  # root rewriting a user's file keeps it the user's
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    r = run("schema", "-o", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert target.read_text() == (ROOT / "schemas" / "nnspec-v1.schema.json").read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    if os.geteuid() == 0:
        assert (target.stat().st_uid, target.stat().st_gid) == (4321, 4322)
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]  # no temporary file left


def test_convert_to_a_directory_is_a_clean_error(tmp_path):
    d = tmp_path / "outdir"
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    r = run("convert", str(SPEC), "--to", "nns", "-o", str(d), process=True)
    assert_clean_error(r, 1, "is a directory", "hint:")
    assert snapshot(tmp_path) == before


def test_fmt_keeps_a_symlink_and_the_mode(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "m.nns"
    target.write_text(NNS.read_text().replace("output ttf  loss mae", "output ttf   loss   mae"))
    os.chmod(target, 0o604)
    link = tmp_path / "m.nns"
    link.symlink_to(target)
    r = run("fmt", str(link), process=True)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == NNS.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert os.listdir(real) == ["m.nns"] and sorted(os.listdir(tmp_path)) == ["m.nns", "real"]


def _unformatted(tmp_path):
    p = tmp_path / "m.nns"
    p.write_text(NNS.read_text().replace("output ttf  loss mae", "output ttf   loss   mae"))
    return p


def test_fmt_in_an_unwritable_folder_is_a_clean_error(tmp_path, monkeypatch, capsys):
    """Root may write anywhere, so the refusal of the file system is simulated."""
    p = _unformatted(tmp_path)
    before = snapshot(tmp_path)

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))
    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refuse)
    assert cli.main(["fmt", str(p)]) == 1
    err = capsys.readouterr().err
    assert "nnspec: error: cannot write" in err and "Permission denied" in err and "hint:" in err
    assert "internal error" not in err
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_fmt_in_a_read_only_folder_for_real(tmp_path):
    p = _unformatted(tmp_path)
    text = p.read_text()
    os.chmod(tmp_path, 0o555)
    try:
        r = run("fmt", str(p))
    finally:
        os.chmod(tmp_path, 0o755)
    assert_clean_error(r, 1, "Permission denied")
    assert p.read_text() == text and os.listdir(tmp_path) == ["m.nns"]


def test_atomic_write_failure_leaves_nothing(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    p.write_text("old")

    def full(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fsutil.os, "fsync", full)
    with pytest.raises(OSError) as e:
        fsutil.atomic_write(str(p), "new")
    assert "the disk (or quota) is full" in fsutil.explain(e.value, str(p))
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_new_files_get_the_umask_mode(tmp_path, umask022):
    fsutil.atomic_write(str(tmp_path / "a.txt"), "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    os.umask(0o077)
    fsutil.atomic_write(str(tmp_path / "b.txt"), "x")
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600


# -- compile: refused before TensorFlow loads, nothing touched --------------------------------------

@pytest.fixture
def project(tmp_path):
    """A user's working directory: sources, a README and the spec."""
    (tmp_path / "README.md").write_text("my project\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('train')\n")
    shutil.copy(SPEC, tmp_path / "spec.yaml")
    return tmp_path


@pytest.mark.parametrize("out", [".", "..", "src/.."])
def test_compile_refuses_the_working_directory_and_its_parents(project, out):
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", out, cwd=project)
    assert_clean_error(r, 1, f"-o {out} is ", "current directory", "hint:")
    assert "load tensorflow" not in r.stderr  # refused before any work
    assert snapshot(project) == before


def test_compile_refuses_a_directory_holding_the_spec(project):
    (project / "specs").mkdir()
    shutil.move(project / "spec.yaml", project / "specs" / "spec.yaml")
    before = snapshot(project)
    r = run("compile", "specs/spec.yaml", "-o", "specs", cwd=project)
    assert_clean_error(r, 1, "contains the spec")
    assert snapshot(project) == before


def test_compile_refuses_a_user_directory_and_names_its_files(project):
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", "src", cwd=project, process=True)
    assert_clean_error(r, 1, "-o src already exists and is not an nnspec output", "holds train.py")
    assert snapshot(project) == before


def test_compile_refuses_an_nnspec_output_with_files_the_user_added(project):
    out = project / "build"
    (out / "assets" / "nnspec").mkdir(parents=True)
    files = ["saved_model.pb", "assets/nnspec/manifest.json"]
    (out / "saved_model.pb").write_bytes(b"pb")
    (out / "assets" / "nnspec" / "manifest.json").write_text(json.dumps(
        {"written_by": "nnspec", "files": files, "nnspec": "0.1.0", "spec_sha256": "x"}))
    (out / "notes.txt").write_text("my notes")
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", "build", cwd=project)
    assert_clean_error(r, 1, "files nnspec did not write: notes.txt")
    assert snapshot(project) == before


def test_compile_refuses_a_file_as_output(project):
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", "README.md", cwd=project)
    assert_clean_error(r, 1, "is a file, not a directory")
    assert snapshot(project) == before


def test_compile_keras_never_overwrites_the_spec_or_a_foreign_file(project):
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", "out", "--keras", "spec.yaml", cwd=project)
    assert_clean_error(r, 2, "does not end in .keras")
    (project / "theirs.keras").write_bytes(b"PK not ours")
    before = snapshot(project)
    r = run("compile", "spec.yaml", "-o", "out", "--keras", "theirs.keras", cwd=project)
    assert_clean_error(r, 1, "--keras theirs.keras exists and was not written by nnspec", "--force")
    assert snapshot(project) == before


# -- check bounds ----------------------------------------------------------------------------------

def test_check_refuses_a_huge_batch_before_allocating():
    r = run("check", "specs/resnet50.yaml", "--batch-size", "1000000000", process=True)
    assert_clean_error(r, 2, "--batch-size 1000000000 needs about", "GiB", "hint: use --batch-size")
    r = run("check", "specs/lab_quake.yaml", "--train-steps", "100000000")
    assert_clean_error(r, 2, "--train-steps 100000000", "hint:")


def test_check_bound_admits_every_example_at_the_default_batch():
    import nnspec
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        assert cli.activation_bytes(nnspec.load(path), 8) <= cli.CHECK_MAX_BYTES, path


# -- inspect on a malformed manifest -----------------------------------------------------------------

GOOD = {"model": "m", "spec_file": "m.yaml", "spec_sha256": "ab", "nnspec": "0.1.0", "tensorflow": "2",
        "keras": "3", "signature": "serving_default", "params": {"total": 3, "trainable": 2, "non_trainable": 1},
        "inputs": {"x": {"shape": [None, 2], "dtype": "float32"}}, "outputs": {"y": {"shape": [None, 1]}}}


def _broken(**change):
    m = json.loads(json.dumps(GOOD))
    for k, v in change.items():
        if v is None:
            del m[k]
        else:
            m[k] = v
    return json.dumps(m)


@pytest.mark.parametrize("text,needle", [
    ("[1, 2]", "it is a list, not a JSON object"),
    ('"text"', "it is a string"),
    (_broken(model=None), "it has no 'model'"),
    (_broken(params=[1]), "'params' is a list"),
    (_broken(params={"total": "3", "trainable": 2, "non_trainable": 1}), "'params.total' is a string"),
    (_broken(inputs={"x": 3}), "'inputs.x' is not an object"),
    (_broken(outputs=None), "it has no 'outputs' object"),
    ("{not json", "cannot read"),
    ("[" * 100000 + "]" * 100000, "cannot read"),
    (b"\xff\xfe{}", "cannot read"),
], ids=["list", "string", "no-model", "params-list", "total-str", "input-int", "no-outputs", "not-json", "deep",
        "not-utf8"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_inspect_malformed_manifest_is_a_clean_error(tmp_path, text, needle, fmt):
    (tmp_path / "assets" / "nnspec").mkdir(parents=True)
    manifest = tmp_path / "assets" / "nnspec" / "manifest.json"
    manifest.write_bytes(text if isinstance(text, bytes) else text.encode())
    r = run("inspect", str(tmp_path), "--format", fmt)
    assert_clean_error(r, 1, needle, "hint:")


def test_inspect_good_manifest(tmp_path):
    (tmp_path / "assets" / "nnspec").mkdir(parents=True)
    (tmp_path / "assets" / "nnspec" / "manifest.json").write_text(json.dumps(GOOD))
    r = run("inspect", str(tmp_path), process=True)
    assert r.returncode == 0 and "params: 3 (2 trainable, 1 non-trainable)" in r.stdout, r.stderr


# -- fsutil: what may be replaced, and debris --------------------------------------------------------

def _nnspec_output(d: pathlib.Path, extra=()):
    (d / "assets" / "nnspec").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"pb")
    (d / "assets" / "nnspec" / "manifest.json").write_text(json.dumps(
        {"written_by": "nnspec", "files": ["saved_model.pb", "assets/nnspec/manifest.json"]}))
    for e in extra:
        (d / e).write_text("user")


def test_check_output_dir_accepts_new_empty_and_own_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fsutil.check_output_dir("new")
    (tmp_path / "empty").mkdir()
    fsutil.check_output_dir("empty")
    _nnspec_output(tmp_path / "ours")
    fsutil.check_output_dir("ours")
    legacy = tmp_path / "legacy"  # written before manifests listed files
    (legacy / "assets" / "nnspec").mkdir(parents=True)
    (legacy / "variables").mkdir()
    for f in ("saved_model.pb", "fingerprint.pb", "variables/variables.index",
              "variables/variables.data-00000-of-00001", "assets/m.yaml", "assets/nnspec/m.yaml"):
        (legacy / f).write_text("x")
    (legacy / "assets" / "nnspec" / "manifest.json").write_text(json.dumps({"nnspec": "0.1.0", "spec_sha256": "a"}))
    fsutil.check_output_dir("legacy")
    (legacy / "mine.txt").write_text("x")
    with pytest.raises(fsutil.Refused, match="mine.txt"):
        fsutil.check_output_dir("legacy")


def test_check_output_dir_refusals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _nnspec_output(tmp_path / "ours", extra=["a.txt", "b.txt"])
    with pytest.raises(fsutil.Refused, match="did not write: a.txt, b.txt"):
        fsutil.check_output_dir("ours")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "assets" / "nnspec").mkdir(parents=True)
    (tmp_path / "fake" / "assets" / "nnspec" / "manifest.json").write_text("[]")
    with pytest.raises(fsutil.Refused, match="not an nnspec output"):
        fsutil.check_output_dir("fake")
    (tmp_path / "link").symlink_to(tmp_path / "fake")
    with pytest.raises(fsutil.Refused, match="symbolic link"):
        fsutil.check_output_dir("link")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(fsutil.Refused, match="parent of the current directory"):
        fsutil.check_output_dir(str(tmp_path))
    with pytest.raises(fsutil.Refused, match="parent of the current directory"):
        fsutil.check_output_dir("/")


def test_check_keras_file(tmp_path):
    spec = tmp_path / "s.keras"
    spec.write_text("nnspec: 1")
    with pytest.raises(fsutil.Refused, match="is the spec itself"):
        fsutil.check_keras_file(str(spec), str(spec), force=True)
    with pytest.raises(fsutil.Refused, match="does not end in .keras"):
        fsutil.check_keras_file(str(tmp_path / "m.h5"))
    foreign = tmp_path / "f.keras"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(fsutil.Refused, match="not written by nnspec"):
        fsutil.check_keras_file(str(foreign))
    fsutil.check_keras_file(str(foreign), force=True)
    with zipfile.ZipFile(foreign, "a") as z:
        z.writestr(fsutil.KERAS_MARK, json.dumps({"written_by": "nnspec"}))
    fsutil.check_keras_file(str(foreign))
    fsutil.check_keras_file(str(tmp_path / "new.keras"))
    (tmp_path / "d.keras").mkdir()
    with pytest.raises(fsutil.Refused, match="is a directory"):
        fsutil.check_keras_file(str(tmp_path / "d.keras"), force=True)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_clean_debris_removes_only_dead_nnspec_temporaries(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".out.nnspec-tmp-{dead}-abc123").mkdir()
    (tmp_path / f".out.nnspec-tmp-{dead}-abc123" / "saved_model.pb").write_bytes(b"x" * 100)
    (tmp_path / f".m.keras.nnspec-tmp-{dead}-q1w2e3.keras").write_bytes(b"x")
    keep = [f".out.nnspec-tmp-{os.getpid()}-live01",  # a live process's
            f".out.nnspec-tmp-{dead}-abc123.bak",      # not nnspec's pattern
            f".out.tmp-{dead}-abc",                    # the old, unlocked naming: left alone
            ".other.nnspec-tmp-1-zz",                  # another output's
            "out"]
    for k in keep:
        (tmp_path / k).mkdir()
    assert sorted(fsutil.clean_debris(str(tmp_path), "out")) == [f".out.nnspec-tmp-{dead}-abc123"]
    assert fsutil.clean_debris(str(tmp_path), "m.keras") == [f".m.keras.nnspec-tmp-{dead}-q1w2e3.keras"]
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


def test_clean_debris_skips_a_locked_temporary_and_restores_a_lost_output(tmp_path):
    held = fsutil.Temp(str(tmp_path), "out", directory=True)
    dead = _dead_pid()
    locked_name = f".out.nnspec-tmp-{dead}-lockd1"
    os.rename(held.path, tmp_path / locked_name)  # looks dead by pid, but its lock is held
    old = tmp_path / f".out.nnspec-tmp-{dead}-abc123.old"
    old.mkdir()
    (old / "saved_model.pb").write_text("previous")
    assert fsutil.clean_debris(str(tmp_path), "out", target=str(tmp_path / "out")) == [old.name]
    assert (tmp_path / "out" / "saved_model.pb").read_text() == "previous"
    assert (tmp_path / locked_name).is_dir()
    os.close(held.fd)
