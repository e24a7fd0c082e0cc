"""Export targets on the validate path (nnspec/targets.py): the op records' knowledge of what each
target cannot take, found by `validate --target` before anything is built. That the records are
right is tried against the converters and runtimes in tests/keras/test_export_targets.py."""
import importlib.util

import pytest

import nnspec
from nnspec import targets
from nnspec.api import check_text
from nnspec.cli import main


def spec(inputs: str, layers: str) -> str:
    return f"nnspec: 1\nname: m\ninputs: {inputs}\nlayers:\n{layers}outputs: {{out: {{loss: mse}}}}\n"


def codes_for(text, *chosen):
    return [(d.code, d.span.line, d.span.col) for d in check_text(text, "m.yaml", targets=chosen)[1]]


def test_a_wrapped_layer_counts():
    text = spec("{x: [5, 4]}", "  - Bidirectional: {layer: {LSTM: {units: 3}}, name: out}\n")
    assert codes_for(text) == []
    assert codes_for(text, "onnx") == []
    assert codes_for(text, "litert") == [("unsupported-target", 5, 5)]
    d = check_text(text, "m.yaml", targets=("litert",))[1][0]
    assert "'out' (its LSTM)" in d.message and "LiteRT" in d.message and "--litert" in d.hint


@pytest.mark.parametrize("time, want", [("null", [("unsupported-target", 5, 5)]), ("5", [])])
def test_time_distributed_needs_a_known_time_axis(time, want):
    text = spec(f"{{x: [{time}, 4]}}", "  - TimeDistributed: {layer: {Dense: {units: 3}}, name: out}\n")
    assert codes_for(text, "onnx") == want
    assert codes_for(text, "litert") == want


@pytest.mark.parametrize("args, want", [("{mean: 1.0, variance: 4.0}", 1), ("{}", 1)])
def test_normalization_is_not_for_onnx(args, want):
    text = spec("{x: [3]}", f"  - Normalization: {args[:-1]}{', ' if args != '{}' else ''}name: out}}\n")
    assert [c for c in codes_for(text, "onnx") if c[0] == "unsupported-target"] == [("unsupported-target", 5, 5)] * want
    assert [c for c in codes_for(text, "litert") if c[0] == "unsupported-target"] == []


def test_a_reused_layer_is_reported_once():
    text = ("nnspec: 1\nname: m\ninputs: {a: [null, 4], b: [null, 4]}\nlayers:\n"
            "  - GRU: {units: 3, name: g, from: a}\n  - reuse: {layer: g, from: b, name: g2}\n"
            "  - Add: {from: [g, g2], name: out}\noutputs: {out: {loss: mse}}\n")
    assert codes_for(text, "litert") == [("unsupported-target", 5, 5)]


def test_unsupported_ops_come_from_the_records():
    from nnspec.ops import CATALOG
    for target in targets.TARGETS:
        listed = targets.unsupported_ops(target)
        assert listed == sorted(n for n, op in CATALOG.items() if target in op.unsupported_targets)
        assert set(listed) <= set(CATALOG)
    assert "LSTM" in targets.unsupported_ops("litert") and "LSTM" not in targets.unsupported_ops("onnx")


def test_validate_target_flag(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(spec("{x: [null, 4]}", "  - GRU: {units: 3, name: out}\n"))
    assert main(["validate", str(path)]) == 0
    assert main(["validate", "--target", "onnx", str(path)]) == 0
    capsys.readouterr()
    assert main(["validate", "--target", "onnx", "--target", "litert", str(path)]) == 1
    assert f"{path}:5:5: error: layer 'out' cannot be exported to LiteRT" in capsys.readouterr().out
    assert nnspec.validate(path, targets=["litert"])[0].code == "unsupported-target"


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert "onnxruntime" in targets.missing_packages("onnx")
    msg = targets.missing_message("onnx")
    assert "onnxruntime" in msg and "pip install 'nnspec[onnx]'" in msg


def test_compile_names_the_missing_extra_before_anything(tmp_path, monkeypatch, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(spec("{x: [4]}", "  - Dense: {units: 3, name: out}\n"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai_edge_litert" else real(name, *a))
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--litert"]) == 2
    err = capsys.readouterr().err
    assert "ai-edge-litert" in err and "pip install 'nnspec[litert]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_compile_refuses_an_unsupported_layer_before_writing(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(spec("{x: [null, 4]}", "  - LSTM: {units: 3, name: out}\n"))
    if targets.missing_packages("litert"):
        pytest.skip("pip install 'nnspec[litert]'")
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--litert"]) == 1
    assert "error: layer 'out' cannot be exported to LiteRT" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_readme_table_lists_what_each_target_lacks():
    import pathlib
    import re
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    shown = dict(re.findall(r"<!-- lacks:(\w+) -->(.*?)<!-- /lacks -->", readme))
    assert shown == {t: targets.lacks(t) for t in targets.TARGETS}


def test_ops_says_which_targets_an_op_is_not_for(capsys):
    assert main(["ops", "GRU"]) == 0
    assert "  not for --litert (LiteRT): LiteRT runs it only through TensorFlow's Select ops" in capsys.readouterr().out
    assert main(["ops", "TimeDistributed"]) == 0
    assert "  not for --onnx (ONNX): on an unknown time axis" in capsys.readouterr().out
    assert main(["ops", "Dense"]) == 0
    assert "not for" not in capsys.readouterr().out
