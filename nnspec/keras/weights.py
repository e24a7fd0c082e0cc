"""Initial weights from a file: ``nnspec compile spec -o DIR --weights FILE`` (or the spec's
``weights:`` key), a ``.keras`` or ``.weights.h5`` file that Keras wrote.

Only the weights are read, never a model: of a ``.keras`` file, its ``config.json`` as JSON (the
layers' names and classes, nothing deserialised) and its ``model.weights.h5``; a ``.weights.h5``
is HDF5 arrays. Nothing is unpickled, no class is looked up, ``safe_mode`` is never turned off.

Keras stores a layer's weights under ``layers/<its class in snake_case>[_<n>]`` (the n-th layer
of that class in the model, not the layer's name: keras/src/saving/saving_lib.py), and the
weights of its sublayers under their attribute names (an LSTM's ``cell``, MultiHeadAttention's
``query_dense``). So a ``.keras`` file's layers are matched to the spec's BY NAME (its
config.json maps each group to the layer's name), and a ``.weights.h5`` file's, which holds no
names, by class and order (the spec's second Dense takes the file's ``dense_1``). A matched
layer loads only when every array it holds has the shape the model's layer has; nnspec then
lets Keras itself load the model's weights from a copy of the model's own weights file with
those layers' arrays replaced, so nested layers load exactly as Keras saves them.

Result: one diagnostic per mismatch (an error for a layer whose shapes differ, naming both; a
warning for a layer of the file the model does not have) and the layers with weights that the
file does not hold (they keep their initialisers).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

from .. import codes
from ..diagnostics import ERROR, WARNING, Diagnostic, Span

MAX_CONFIG_BYTES = 64 * 2**20  # a .keras file's config.json, read as JSON


class WeightsError(Exception):
    """The file cannot be read as Keras weights (one line, for the command line)."""


@dataclass
class Loaded:
    diagnostics: list = field(default_factory=list)
    loaded: list = field(default_factory=list)  # model layers that took the file's weights
    kept: list = field(default_factory=list)  # model layers with weights the file does not hold


def _snake(name: str) -> str:
    from ..naming import snake_case
    return snake_case(name)


def _unique(name: str, used: dict) -> str:
    """keras.src.saving.saving_lib._get_unique_name."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def model_groups(model) -> dict:
    """layer name -> its group under ``layers/`` in the model's weights file."""
    used: dict = {}
    return {layer.name: _unique(_snake(type(layer).__name__), used) for layer in model.layers}


def _config_groups(config: dict) -> dict:
    """group -> layer name, from a .keras file's config.json (a Functional or Sequential model)."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        raise WeightsError("its config.json holds no list of layers (not a Functional or Sequential model)")
    used: dict = {}
    out = {}
    if config.get("class_name") == "Sequential" and not any(
            isinstance(e, dict) and e.get("class_name") == "InputLayer" for e in layers):
        _unique("input_layer", used)  # Keras's Sequential makes its InputLayer from build_input_shape
    for entry in layers:
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise WeightsError("its config.json has a layer without class_name")
        module = entry.get("module") or ""
        if isinstance(module, str) and module.startswith("keras.src.ops"):
            continue  # an operation node (x + 1): not one of model.layers, holds no weights
        name = (entry.get("config") or {}).get("name") if isinstance(entry.get("config"), dict) else None
        out[_unique(_snake(entry["class_name"]), used)] = name if isinstance(name, str) else None
    return out


def _arrays(group, prefix="") -> dict:
    """relative path -> dataset, every array under an h5py group."""
    import h5py
    out = {}
    for key in group:
        item = group[key]
        path = f"{prefix}{key}"
        if isinstance(item, h5py.Dataset):
            out[path] = item
        elif isinstance(item, h5py.Group):
            out.update(_arrays(item, path + "/"))
    return out


def _open_source(path: str):
    """(h5py.File, {group: layer name} or None for a .weights.h5)."""
    import h5py
    if path.endswith(".keras"):
        try:
            z = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise WeightsError(f"it is not a .keras file (a zip archive): {e}") from None
        with z:
            names = set(z.namelist())
            if "model.weights.h5" not in names or "config.json" not in names:
                raise WeightsError("it holds no model.weights.h5 and config.json (not a Keras 3 .keras file)")
            if z.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                raise WeightsError(f"its config.json is over {MAX_CONFIG_BYTES // 2**20} MiB")
            try:
                config = json.loads(z.read("config.json"))
            except ValueError as e:
                raise WeightsError(f"its config.json is not JSON: {e}") from None
            groups = _config_groups(config)
            data = io.BytesIO(z.read("model.weights.h5"))
        return h5py.File(data, "r"), groups
    if path.endswith(".weights.h5"):
        try:
            return h5py.File(path, "r"), None
        except OSError as e:
            raise WeightsError(f"it is not an HDF5 file: {e}") from None
    raise WeightsError("it does not end in .keras or .weights.h5 (the two formats Keras 3 writes weights in)")


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _describe(arrays: dict) -> str:
    return ", ".join(f"{k} {_fmt(v.shape)}" for k, v in sorted(arrays.items())) or "no weights"


def load_initial_weights(model, spec, path: str, span: Span | None = None) -> Loaded:
    """Load ``path``'s weights into ``model`` (built from ``spec``) by layer name; the model's
    weights change only when there is no error."""
    result = Loaded()
    where = span or Span(path)
    src, names = _open_source(path)
    with src:
        if "layers" not in src:
            raise WeightsError("it holds no layers/ group (not a weights file Keras 3 wrote)")
        src_layers = src["layers"]
        groups = model_groups(model)
        by_group = {g: n for n, g in groups.items()}
        if names is None:  # .weights.h5: by class and order
            pairs = [(g, by_group.get(g), g) for g in src_layers]
        else:
            pairs = [(g, names.get(g), names.get(g)) for g in src_layers]
            pairs = [(g, n if n in groups else None, label or g) for g, n, label in pairs]
        with tempfile.TemporaryDirectory(prefix="nnspec-weights-") as tmp:
            own = os.path.join(tmp, "model.weights.h5")
            model.save_weights(own)
            import h5py
            with h5py.File(own, "r+") as dst:
                todo = []
                for group, target, label in pairs:
                    arrays = _arrays(src_layers[group]) if hasattr(src_layers[group], "keys") else {}
                    if not arrays:
                        continue  # an input or a layer without weights
                    if target is None:
                        how = "by name" if names is not None else "by type and order"
                        what = f"layer '{label}'" if names is not None else f"weights group 'layers/{group}'"
                        result.diagnostics.append(Diagnostic(
                            codes.WEIGHTS_UNUSED,
                            f"{what} of {os.path.basename(path)} ({_describe(arrays)}) matches no "
                            f"layer of the model ({how}): its weights are not loaded", where,
                            "name the spec's layer as in the file to load them; a new layer (a new head) "
                            "keeps its initialiser", severity=WARNING))
                        continue
                    mine = _arrays(dst["layers"][groups[target]]) if groups[target] in dst["layers"] else {}
                    node = spec.node(target) if spec is not None else None
                    at = node.span if node is not None else where
                    if {k: tuple(v.shape) for k, v in arrays.items()} != {k: tuple(v.shape) for k, v in mine.items()}:
                        result.diagnostics.append(Diagnostic(
                            codes.WEIGHTS_SHAPE,
                            f"layer '{target}': the file's weights are {_describe(arrays)} but the "
                            f"model's are {_describe(mine)}", at,
                            f"make '{target}' the layer the file was saved from (same type and sizes), or rename it "
                            "so it keeps its initialiser", severity=ERROR))
                        continue
                    todo.append((target, arrays, mine))
                if any(d.severity == ERROR for d in result.diagnostics):
                    return result
                for target, arrays, mine in todo:
                    for k, ds in arrays.items():
                        mine[k][...] = ds[()]
                    result.loaded.append(target)
            if result.loaded:
                model.load_weights(own)
    loaded = set(result.loaded)
    result.kept = [layer.name for layer in model.layers
                   if layer.weights and layer.name not in loaded and type(layer).__name__ != "Penalty"]
    return result


def inside(path: str, root: str) -> bool:
    """Is ``path`` (symbolic links resolved) inside the directory ``root``?"""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base
