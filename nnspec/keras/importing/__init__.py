"""A Keras model -> nnspec spec data (`nnspec import`).

``import_model(model)`` walks a Functional (or Sequential) model's graph from
its outputs back to its inputs and writes one spec item per layer call, in a
topological order that follows chains (so most items need no ``from``):

* the first call of a layer is a layer item named as the layer; later calls of
  the same layer object are ``reuse`` items (shared weights);
* nested Functional / Sequential models are flattened into the outer spec
  (their layers keep their names; a name used twice is refused);
* each layer is written with the arguments that differ from the op's defaults,
  taken from ``layer.get_config()`` and turned back into nnspec's vocabulary
  (``GlorotUniform()`` -> ``glorot_uniform``, ``L2(0.01)`` -> ``{l2: 0.01}``);
* every layer item is then checked by building nnspec's layer from the
  written arguments and comparing its config with the original's: anything
  nnspec cannot express (an argument it lacks, a mixed-precision policy, a
  custom initializer) is refused with the layer, argument and value;
* layers outside the catalog are refused, except classes registered with
  ``keras.saving.register_keras_serializable``, which become ``Custom`` items
  (their modules are declared in ``requires_import``: a declaration; whoever
  compiles the spec allows them with --allow-import); nnspec's own ``Penalty``
  layers become ``penalties`` again;
* a compiled model's losses, loss weights, metrics and optimizer are carried
  where nnspec can express them (what it cannot is left out, with a note).

The modules: ``graph`` (the walk), ``vocabulary`` (a layer -> a spec item), ``training`` (the
compile config), ``model`` (``import_model``), ``writing`` (the YAML text), ``loading`` (the model to
import). ``nnspec.keras.importer`` re-exports the public names.
"""
