import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow runs some CPU kernels through oneDNN, on by default only on some x86 CPUs; with it,
# channels-first and unequally strided convolutions run that fail everywhere else. nnspec promises
# a spec builds wherever it is served, so the tests (and the programs they start) measure the
# kernels every CPU has. Set before anything imports TensorFlow, which reads it once.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

# CI runs are reproducible (same examples every run); local runs explore.
settings.register_profile("ci", derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI"):
    settings.load_profile("ci")


# The fast tier: `pytest -m "not slow"` runs without building any Keras model.
# Everything under these paths builds models with TensorFlow and is marked slow.
_SLOW_PATHS = ("tests/keras/", "tests/parity/", "tests/fuzz/", "tests/test_examples_keras.py",
               "tests/test_vocab_keras.py")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds Keras models, or samples and solves for seconds (skip with "
                                       "-m 'not slow')")


def pytest_collection_modifyitems(config, items):
    import pytest
    root = str(config.rootpath).rstrip("/") + "/"
    for item in items:
        rel = str(item.path).replace(root, "", 1)
        if rel.startswith(_SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
