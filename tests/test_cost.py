"""MACs and activation memory (`nnspec summary`): published figures, the conventions, the light path."""
import json
import pathlib

import clirun

from nnspec import api, cost
from nnspec.ops import CATALOG

ROOT = pathlib.Path(__file__).parent.parent


def test_mobilenet_v2_matches_sandler_et_al():
    spec = api.load(ROOT / "specs/mobilenet_v2.yaml")
    assert spec.inputs["image"].shape == (None, 224, 224, 3)
    assert abs(cost.total_macs(spec) / 300e6 - 1) < 0.02  # "300M multiply-adds" (224, alpha 1.0)


def test_resnet50_matches_he_et_al():
    spec = api.load(ROOT / "specs/resnet50.yaml")
    assert 3.8e9 <= cost.total_macs(spec) <= 3.9e9  # v1 as Keras builds it (stride in the first 1x1)


def test_every_op_with_weights_states_its_macs():
    """Layers that multiply by weights (or tensors) declare a rule; element-wise ones count 0."""
    zero_ok = {"Embedding", "Custom", "PReLU", "BatchNormalization", "LayerNormalization", "Normalization", "Scale"}
    for op in CATALOG.values():
        weighted = op.params.__name__ != "_no_params" or op.family in ("attention", "conv", "recurrent")
        if weighted and op.name not in zero_ok:
            assert op.macs is not None, f"{op.name}: add a macs rule to its Op record"


def test_unknown_sizes_give_unknown_macs():
    spec = api.load(ROOT / "specs/stacked_gru.yaml")  # time steps of unknown length
    assert cost.total_macs(spec) is None and cost.activation_bytes(spec) is None


def test_activation_memory_counts_every_tensor_in_its_dtype():
    spec = api.load(ROOT / "specs/lab_quake.yaml")
    elems = 64 + 64 + 128 + 128 + 128 + 32 + 1 + 1 + 1  # signal, bn, lstm, conv1d, flatten, trunk, 3 heads
    assert cost.activation_bytes(spec, 8) == elems * 4 * 8


def test_summary_json_carries_them():
    out = clirun.nnspec("summary", "specs/resnet50.yaml", "--format", "json", "--batch-size", "2", cwd=ROOT)
    data = json.loads(out.stdout)
    assert data["total_macs"] == cost.total_macs(api.load(ROOT / "specs/resnet50.yaml"))
    assert data["batch_size"] == 2 and data["activation_bytes"] > 0
    assert sum(r["macs"] for r in data["layers"]) == data["total_macs"]  # collapsed blocks sum their layers


def test_collapsed_block_call_sums_its_layers_when_its_output_takes_the_calls_name():
    """A block whose output layer has no name of its own gives that layer the call's name: the
    call's row is still the whole block (every layer), not that one layer."""
    from nnspec import summary
    text = ("nnspec: 1\nname: m\ninputs: {x: [8]}\nblocks:\n  b:\n    layers:\n      - Dense: {units: 8}\n"
            "      - ReLU: {}\nlayers:\n  - b: {name: c0}\n  - b: {name: c1}\noutputs:\n  c1: {loss: mse}\n")
    spec, diags = api.check_text(text)
    assert diags == []
    table = summary.rows(spec, expand=False)
    assert [r[0] for r in table] == ["x", "c0", "c1"]
    costs = summary.costs(spec, table, 4)
    assert [c[0] for c in costs] == [0, 64, 64]  # Dense 8 -> 8: 64 MACs a call; ReLU 0
    assert sum(c[0] for c in costs) == cost.total_macs(spec)
    assert sum(c[1] for c in costs) == cost.activation_bytes(spec, 4) == 5 * 8 * 4 * 4  # 5 tensors of 8 floats
