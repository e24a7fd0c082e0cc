"""``import_model``: a Keras model -> spec data, notes and output names (the graph walk's items
assembled into the spec's sections)."""
from __future__ import annotations

import re

from .. import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from ...ops import CATALOG  # noqa: E402
from .common import ImportResult, ModelImportError  # noqa: E402
from .graph import _functional, _Importer  # noqa: E402
from .training import _training  # noqa: E402


def _spec_name(name: str, notes: list) -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name or "model")  # ASCII, as spec names are (\W keeps é)
    if not clean.strip("_"):  # nothing of it is left ("модель")
        clean = "model"
    elif clean[0].isdigit():
        clean = "model_" + clean
    if clean != name:
        notes.append(f"model name '{name}' is written as '{clean}' (nnspec names take letters, digits and _)")
    return clean[:128]


def import_model(model) -> ImportResult:
    """The spec of a Keras Functional or Sequential model, with notes for the reader."""
    from ..build import deep_recursion
    if not isinstance(model, keras.Model):
        raise ModelImportError(f"expected a keras.Model, got {type(model).__name__}")
    imp = _Importer(model)
    with deep_recursion(len(imp.taken)):
        inputs, outs = imp.run_top()
    notes = imp.ctx.notes
    # outputs: one name per model output
    spec_outputs = []
    struct = getattr(_functional(model), "_outputs_struct", None)
    if isinstance(struct, dict):  # written in the dict's order (model.outputs is sorted by key)
        flat = {id(t): name for t, name in zip(_functional(model).outputs, outs)}
        renamed = [f"'{k}' is '{flat[id(t)]}'" for k, t in struct.items() if id(t) in flat and flat[id(t)] != k]
        if renamed:
            notes.append("outputs are named by their tensors: " + ", ".join(renamed))
        order = [flat[id(t)] for t in struct.values() if id(t) in flat]
        outs_in_order = order if sorted(order) == sorted(outs) else outs
    else:
        outs_in_order = outs
    for name in outs_in_order:
        if name in spec_outputs:
            raise ModelImportError(f"the model returns tensor '{name}' twice; nnspec outputs name each tensor once")
        spec_outputs.append(name)
    loss_outputs, training = _training(model, list(outs), notes)  # in model.outputs order
    # layers: `from` left out where it is the previous item (the spec's default)
    layers = []
    previous = next(iter(inputs)) if len(inputs) == 1 else None
    for item, tensors, name, ports in imp.items:
        (type_name, args), = item.items()
        args = dict(args)
        args["name"] = name
        if isinstance(tensors, dict):  # an Expr's inputs by the names its expression uses
            args["from"] = list(tensors.values()) if all(k == v for k, v in tensors.items()) else dict(tensors)
        elif ports:  # by name: {input: x, initial_state: [h, c]}
            op = CATALOG[type_name if type_name != "reuse" else _item_type(imp.items, args["layer"])]
            args["from"] = {**dict(zip(op.input_names, tensors)),
                            **{k: v if op.port(k).many else v[0] for k, v in ports.items()}}
        elif not (len(tensors) == 1 and tensors[0] == previous):
            args["from"] = tensors[0] if len(tensors) == 1 else list(tensors)
        layers.append({type_name: args})
        previous = name
    data = {"nnspec": 1, "name": _spec_name(model.name, notes)}
    modules = list(dict.fromkeys(imp.ctx.modules))
    if modules:
        data["requires_import"] = modules
    data["inputs"] = inputs
    data["layers"] = layers
    data["outputs"] = {name: loss_outputs.get(name) for name in spec_outputs}
    if imp.penalties:
        data["penalties"] = imp.penalties
    if training:
        data["training"] = training
    return ImportResult(data=data, notes=notes, outputs=list(outs), custom_modules=modules)


def _item_type(items, layer: str) -> str:
    """The type of the item named ``layer``."""
    for item, _, name, _ in items:
        if name == layer:
            return next(iter(item))
    raise KeyError(layer)


def model_to_spec(model) -> dict:
    """The spec data of a Keras model (see ``import_model`` for the notes that go with it)."""
    return import_model(model).data
