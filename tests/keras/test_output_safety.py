"""`nnspec compile` never destroys a user's files: a killed compile leaves the
old output and its debris is cleaned next time; outputs get umask modes; a
full disk or an unwritable parent is one clean error with nothing left
behind; the SavedModel and the .keras appear together or not at all."""
import errno
import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import time
import zipfile

import pytest

import nnspec
from nnspec import cli, fsutil

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from nnspec.keras import export as export_mod  # noqa: E402
from nnspec.keras.build import build  # noqa: E402
from nnspec.keras.export import export  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent.parent
SPEC = ROOT / "specs" / "weight_norm.yaml"
OTHER = ROOT / "specs" / "siamese.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def snapshot(root: pathlib.Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, "dir" if p.is_dir() else p.read_bytes())
    return out


def debris(parent: pathlib.Path) -> list:
    return sorted(n for n in os.listdir(parent) if fsutil.TMP_TAG in n)


def _export(spec_path, out, **kw):
    spec = nnspec.load(spec_path)
    return export(build(spec), spec, str(out), spec_path.read_bytes(), **kw)


@pytest.mark.parametrize("moment", ["temp-dir-appears", "savedmodel-written"])
def test_sigkill_during_export_keeps_the_old_output_and_the_next_compile_cleans_up(tmp_path, moment):
    out, kfile = tmp_path / "model", tmp_path / "m.keras"
    _export(OTHER, out, keras_file=str(kfile))
    before, keras_before = snapshot(out), kfile.read_bytes()
    p = subprocess.Popen([sys.executable, "-m", "nnspec", "compile", str(SPEC), "-o", str(out), "--keras",
                          str(kfile), "--quiet"], cwd=ROOT, env=ENV)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and p.poll() is None:
            tmps = [n for n in debris(tmp_path) if n.startswith(".model.")]
            if tmps and (moment == "temp-dir-appears"
                         or os.path.exists(tmp_path / tmps[0] / "saved_model.pb")):
                break
            time.sleep(0.005)
        else:
            pytest.fail(f"the compile ended (exit {p.returncode}) before the moment to kill it")
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL
    assert snapshot(out) == before and kfile.read_bytes() == keras_before  # the old output, intact
    left = debris(tmp_path)
    assert any(n.startswith(f".model.nnspec-tmp-{p.pid}-") for n in left), left
    mine = tmp_path / ".model.nnspec-tmp-notapid-x"  # not nnspec's pattern: never removed
    mine.mkdir()
    _export(SPEC, out, keras_file=str(kfile))
    assert debris(tmp_path) == [mine.name]
    assert json.loads((out / "assets" / "nnspec" / "manifest.json").read_text())["model"] == "weight_norm_mlp"
    assert sorted(os.listdir(tmp_path)) == sorted([".model.lock", "m.keras", "model", mine.name])


def test_outputs_get_umask_modes(tmp_path):
    old = os.umask(0o022)
    try:
        _export(SPEC, tmp_path / "model", keras_file=str(tmp_path / "k" / "m.keras"))
    finally:
        os.umask(old)
    root = tmp_path / "model"
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    assert {k: m for k, m in modes.items() if (tmp_path / k).is_dir() and m != 0o755} == {}
    assert {k: m for k, m in modes.items() if (tmp_path / k).is_file() and m != 0o644} == {}
    assert stat.S_IMODE((tmp_path / "k" / "m.keras").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o755


@pytest.mark.parametrize("failure", ["oserror", "tf-error"])
def test_full_disk_is_one_clean_error_and_leaves_nothing(tmp_path, monkeypatch, capsys, failure):
    out = tmp_path / "model"
    _export(OTHER, out)
    before = snapshot(out)
    real_save = tf.saved_model.save

    def full(module, path, **kw):
        real_save(module, path, **kw)  # half-written: the failure comes after files exist
        if failure == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(path, "variables"))
        raise tf.errors.ResourceExhaustedError(None, None, "write failed: No space left on device")
    monkeypatch.setattr(tf.saved_model, "save", full)
    code = cli.main(["compile", str(SPEC), "-o", str(out), "--keras", str(tmp_path / "new" / "m.keras"), "-q"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("nnspec: error:") == 1 and "internal error" not in err and "hint:" in err
    assert "No space left on device" in err and "left as it was" in err
    assert snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == [".model.lock", "model"]  # no temp dir, no .keras, no new/


def test_unwritable_parent_is_one_clean_error(tmp_path, monkeypatch, capsys):
    """Root writes anywhere: the file system's refusal is simulated."""
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), k.get("dir"))
    monkeypatch.setattr(fsutil.tempfile, "mkdtemp", denied)
    code = cli.main(["compile", str(SPEC), "-o", str(tmp_path / "a" / "b" / "model"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("nnspec: error: cannot write") and "Permission denied" in err, err
    assert "hint: check the permissions" in err
    assert os.listdir(tmp_path) == []  # the directories it made for -o are gone again


def test_keras_inside_the_output_is_written_with_it(tmp_path):
    out = tmp_path / "model"
    _export(SPEC, out, keras_file=str(out / "m.keras"))
    manifest = json.loads((out / "assets" / "nnspec" / "manifest.json").read_text())
    assert "m.keras" in manifest["files"] and manifest["written_by"] == "nnspec"
    assert fsutil.is_nnspec_keras(str(out / "m.keras"))
    import nnspec.keras.registry  # noqa: F401
    assert keras.models.load_model(out / "m.keras").count_params() == manifest["params"]["total"]
    _export(OTHER, out, keras_file=str(out / "m.keras"))  # its own output, .keras included: replaced
    assert json.loads((out / "assets" / "nnspec" / "manifest.json").read_text())["model"] == "siamese"
    _export(SPEC, out)  # without --keras the old .keras goes with the directory it was part of
    assert not (out / "m.keras").exists()
    assert sorted(os.listdir(tmp_path)) == [".model.lock", "model"]


def test_keras_rename_failure_puts_the_old_output_back(tmp_path, monkeypatch):
    out, kfile = tmp_path / "model", tmp_path / "m.keras"
    _export(OTHER, out, keras_file=str(kfile))
    before, keras_before = snapshot(out), kfile.read_bytes()
    real_replace = os.replace

    def fail_for_keras(src, dst, **kw):
        if os.fspath(dst) == str(kfile):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(kfile))
        return real_replace(src, dst, **kw)
    monkeypatch.setattr(export_mod.os, "replace", fail_for_keras)
    with pytest.raises(OSError):
        _export(SPEC, out, keras_file=str(kfile))
    assert snapshot(out) == before and kfile.read_bytes() == keras_before
    assert debris(tmp_path) == []


def test_keras_force_replaces_a_foreign_file_and_marks_it(tmp_path):
    kfile = tmp_path / "theirs.keras"
    kfile.write_bytes(b"not a zip")
    with pytest.raises(fsutil.Refused, match="not written by nnspec"):
        _export(SPEC, tmp_path / "model", keras_file=str(kfile))
    assert kfile.read_bytes() == b"not a zip" and sorted(os.listdir(tmp_path)) == ["theirs.keras"]
    _export(SPEC, tmp_path / "model", keras_file=str(kfile), force=True)
    with zipfile.ZipFile(kfile) as z:
        mark = json.loads(z.read(fsutil.KERAS_MARK))
    assert mark["written_by"] == "nnspec" and mark["model"] == "weight_norm_mlp"
    _export(SPEC, tmp_path / "model", keras_file=str(kfile))  # now nnspec's own: no --force needed


def test_user_files_added_to_an_output_are_never_deleted(tmp_path):
    out = tmp_path / "model"
    _export(SPEC, out)
    (out / "variables" / "notes.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(fsutil.Refused, match="variables/notes.txt"):
        _export(OTHER, out)
    assert snapshot(out) == before


def _run(*args):
    return subprocess.run([sys.executable, "-m", "nnspec", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=ENV)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
@pytest.mark.parametrize("size", ["400k", "1200k"], ids=["savedmodel-does-not-fit", "keras-does-not-fit"])
def test_a_really_full_disk(tmp_path, size):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = _run("compile", str(SPEC), "-o", str(disk / "out"), "-q")
        assert r.returncode == 0, r.stderr
        before = snapshot(disk / "out")
        r = _run("compile", "specs/lab_quake.yaml", "-o", str(disk / "out"), "--keras", str(disk / "m.keras"), "-q")
        assert r.returncode == 1, r.stderr
        assert r.stderr.count("nnspec: error:") == 1 and "No space left on device" in r.stderr, r.stderr
        assert "internal error" not in r.stderr and fsutil.TMP_TAG not in r.stderr and "hint:" in r.stderr
        failed = f"the SavedModel {disk / 'out'}" if size == "400k" else str(disk / "m.keras")
        assert f"cannot write {failed}: No space left on device" in r.stderr, r.stderr  # names what did not fit
        assert "free space" in r.stderr or "disk (or quota) is full" in r.stderr
        assert snapshot(disk / "out") == before
        assert sorted(os.listdir(disk)) == [".out.lock", "out"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
