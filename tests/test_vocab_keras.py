"""Every name the spec vocabulary accepts is one Keras knows, with those arguments."""
import inspect

import pytest

from nnspec import vocab

keras = pytest.importorskip("keras")
from nnspec.keras import layers as kl  # noqa: E402


def test_activations_exist():
    for name in vocab.ACTIVATIONS:
        assert callable(keras.activations.get(name)), name


@pytest.mark.parametrize("name", sorted(vocab.INITIALIZERS))
def test_initializers_and_their_args(name):
    cls = getattr(keras.initializers, kl._INITIALIZER_CLASSES[name])
    params = inspect.signature(cls.__init__).parameters
    for arg in vocab.INITIALIZERS[name]:
        assert arg in params, f"{name} has no {arg}"
    assert kl.initializer(name) is not None  # keras.initializers.get("constant") itself fails in Keras 3.15


@pytest.mark.parametrize("name", sorted(vocab.CONSTRAINTS))
def test_constraints_build(name):
    assert kl.constraint(name) is not None
    assert kl.constraint({name: {}}) is not None


@pytest.mark.parametrize("value", ["l1", "l2", {"l2": 0.5}, {"l1_l2": {"l1": 0.1, "l2": 0.2}},
                                   {"orthogonal_regularizer": {"factor": 0.1}}])
def test_regularizers_build(value):
    reg = kl.regularizer(value)
    assert float(reg(keras.ops.ones((2, 2)))) > 0


@pytest.mark.parametrize("name", sorted(vocab.LOSSES))
def test_losses_and_args(name):
    fn = keras.losses.get(name)
    assert fn is not None
    args = vocab.LOSSES[name]
    if args:
        cls = type(keras.losses.deserialize(name)) if not inspect.isfunction(fn) else None
        # the class form (e.g. BinaryCrossentropy) takes the arguments
        classes = {c.__name__.lower(): c for c in vars(keras.losses).values() if inspect.isclass(c)}
        cls = classes.get(name.replace("_", ""))
        assert cls is not None, name
        params = inspect.signature(cls.__init__).parameters
        for arg in args:
            assert arg in params, f"{name} has no {arg}"


@pytest.mark.parametrize("alias", sorted(vocab.LOSS_ALIASES))
def test_loss_aliases_are_keras_own(alias):
    """build.loss_object resolves an alias to the class of the loss it names: Keras's own alias."""
    name = vocab.LOSS_ALIASES[alias]
    assert name in vocab.LOSSES and alias in vocab.LOSSES
    assert keras.losses.get(alias) is keras.losses.get(name)


def test_loss_targets_name_losses():
    assert set(vocab.LOSS_TARGETS) <= set(vocab.LOSSES) - set(vocab.LOSS_ALIASES)


def test_metrics_exist():
    for name in vocab.METRICS:
        assert keras.metrics.get(name) is not None, name


@pytest.mark.parametrize("name", sorted(vocab.OPTIMIZERS))
def test_optimizers_and_args(name):
    opt = keras.optimizers.get(name)
    params = inspect.signature(type(opt).__init__).parameters
    for arg in vocab.OPTIMIZERS[name]:
        assert arg in params, f"{name} has no {arg}"
