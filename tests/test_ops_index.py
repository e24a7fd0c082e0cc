"""The op catalog loads a family module when one of its ops is first used (ops.FAMILIES): the index
agrees with the modules, the catalog behaves as the dict it was, and the lazy schema is the schema."""
import importlib
import subprocess
import sys
from pathlib import Path

from nnspec import ops, schema

ROOT = Path(__file__).resolve().parent.parent


def test_the_index_is_each_family_modules_ops():
    for family, names in ops.FAMILIES.items():
        module = importlib.import_module(f"nnspec.ops.{family}")
        got = tuple(op.name for op in module.OPS)
        assert got == names, (f"nnspec/ops/__init__.py FAMILIES[{family!r}] should be {got!r} (the OPS of "
                              f"nnspec/ops/{family}.py, in order)")
    files = {p.stem for p in (ROOT / "nnspec" / "ops").glob("*.py")}
    with_ops = {f for f in files if f != "__init__" and hasattr(importlib.import_module(f"nnspec.ops.{f}"), "OPS")}
    assert with_ops == set(ops.FAMILIES), "a module with OPS must be listed in ops.FAMILIES"


def test_the_catalog_is_the_dict_it_was():
    catalog = ops.CATALOG
    assert list(catalog) == [n for names in ops.FAMILIES.values() for n in names] == ops.names()
    assert len(catalog) == 76 and all(catalog[n].name == n for n in catalog)
    assert "Dense" in catalog and "Dense2" not in catalog and catalog.get("Dense2") is None
    assert catalog.get("LSTM") is catalog["LSTM"] and dict(catalog.items()) == {n: catalog[n] for n in catalog}
    try:
        catalog["Dense2"]
        raise AssertionError("an unknown op was found")
    except KeyError:
        pass


FRESH = r"""
import sys
from nnspec.ops import CATALOG
loaded = lambda: sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("nnspec.ops.")
                        and m.rsplit(".", 1)[1] in {"core", "recurrent", "pooling", "wrappers", "custom"})
print("A", loaded())
lstm = CATALOG["LSTM"]
print("B", loaded())
from nnspec.api import check_file
spec, diags = check_file(sys.argv[1])
print("C", [d.code for d in diags], loaded())
print("D", list(CATALOG)[:3], len(CATALOG), CATALOG["LSTM"] is lstm)
"""


def test_a_spec_loads_the_families_it_uses(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("nnspec: 1\nname: m\ninputs: {x: [5, 3]}\nlayers:\n  - LSTM: {units: 4}\n"
                    "  - Dense: {units: 2, name: out}\noutputs: {out: {loss: mse}}\n")
    out = subprocess.run([sys.executable, "-c", FRESH, str(spec)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    # recurrent imports conv and regularization; nothing loads pooling, wrappers or custom
    assert lines["A"] == "[]" and lines["B"] == "['recurrent']", out.stdout
    assert lines["C"] == "[] ['core', 'recurrent']", out.stdout
    assert lines["D"] == "['Dense', 'EinsumDense', 'Embedding'] 76 True", out.stdout


def test_the_lazy_schema_is_the_schema():
    full, lazy = schema.generate(), schema._generate(True)
    assert {k: v for k, v in lazy.items() if k != "definitions"} == {k: v for k, v in full.items()
                                                                    if k != "definitions"}
    assert set(lazy["definitions"]) <= set(full["definitions"])
    for key, value in full["definitions"].items():
        assert lazy["definitions"][key] == value, key
    assert set(lazy["definitions"]) == set(full["definitions"])


def test_a_replaced_record_is_restored(monkeypatch):
    """monkeypatch.setitem on a family not loaded yet: its other records stay, and the old one comes back."""
    catalog = ops._Catalog()
    original = ops.CATALOG["Cropping1D"]
    with monkeypatch.context() as m:
        m.setitem(catalog, "Cropping1D", "stand-in")
        assert catalog["Cropping1D"] == "stand-in" and catalog["Flatten"] is ops.CATALOG["Flatten"]
    assert catalog["Cropping1D"] is original and len(catalog) == 76
    del catalog["Slice"]
    assert "Slice" not in catalog and len(catalog) == 75
