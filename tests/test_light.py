"""The validate path must not import TensorFlow or Keras."""
import subprocess
import sys

CODE = r"""
import sys
from nnspec.cli import main
rc = main(["validate", "-q", "specs", "nnspec/codes"])
main(["summary", "specs/lab_quake.yaml"])
assert main(["validate", "-q", "specs", "--max-params", "1M", "--max-macs", "1G", "--max-activation-memory", "1MiB",
             "--batch-size", "4"]) == 1  # over budget: the figures, the largest layers
assert main(["explain"]) == 0 and main(["explain", "rank-mismatch"]) == 0 and main(["explain", "binary-file"]) == 0
assert main(["summary", "specs/inception_cifar.yaml", "--freeze", "stem", "--format", "json"]) == 0
import tempfile, os
with tempfile.TemporaryDirectory() as d:
    for suffix in ("svg", "mmd", "dot"):
        assert main(["graph", "specs/resnet50.yaml", "--expand", "-o", os.path.join(d, "g." + suffix)]) == 0
for fmt in ("text", "markdown", "json"):
    assert main(["diff", "specs/resnet50.yaml", "specs/lab_quake.yaml", "--format", fmt]) == 1
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "numpy", "jax", "torch"))
print("HEAVY", heavy)
sys.exit(0 if rc == 1 else 10)
"""


def test_validate_imports_no_tensorflow():
    import pathlib
    root = pathlib.Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", CODE], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout[-500:]


LARK = r"""
import sys
from nnspec.cli import main
assert main(["validate", "-q", "specs/lab_quake.yaml", "specs/resnet50.yaml", "specs/inception_cifar.yaml"]) == 0
print("LARK", sorted(m for m in sys.modules if m.split(".")[0] == "lark"))
print("SLOW", sorted(m for m in ("dataclasses", "inspect", "typing", "tomllib", "shutil") if m in sys.modules))
"""


def test_specs_without_expressions_do_not_load_lark():
    """lark (and the expression grammar) load only for a spec that has an expression or is a .nns file:
    `validate` is called once per file, and importing lark is a fifth of its whole-process time."""
    import pathlib
    root = pathlib.Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", LARK], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LARK []" in out.stdout, out.stdout[-500:]


def test_validate_does_not_load_slow_modules():
    """Nor dataclasses (which loads inspect, ast, dis, tokenize: 8-11 ms of a start-up whose budget above
    the interpreter and PyYAML is about 20 ms; the records on the path are nnspec.record's), typing
    (3-5 ms), shutil (argparse's help formatter, 2-3 ms) or tomllib for a pyproject.toml without
    [tool.nnspec] (this repository's: 3 ms)."""
    import pathlib
    root = pathlib.Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", LARK], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SLOW []" in out.stdout, out.stdout[-500:]
