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


# The fast tier: `pytest -m "not slow"` runs without building any Keras model (README: under 30 s on
# 2 cores). Everything under these paths builds models with TensorFlow and is marked slow; the fast
# tier does not even collect them (collecting imports TensorFlow). tests/tier.py says how the fast
# tier is recognised (-m deselecting slow, or NNSPEC_TEST_TIER=fast|full) and what it runs more
# cheaply: fewer hypothesis examples (tier.examples) and forked instead of new-interpreter command
# lines (tests/clirun.py). The full run (CI's plain `pytest`) runs every test at its full size.
_SLOW_PATHS = ("tests/keras/", "tests/parity/", "tests/fuzz/", "tests/test_examples_keras.py",
               "tests/test_vocab_keras.py")


def pytest_configure(config):
    import tier
    tier.FAST = tier.is_fast(config.getoption("markexpr") or "")
    config.addinivalue_line("markers", "slow: builds Keras models, or samples and solves for seconds (skip with "
                                       "-m 'not slow')")


def pytest_collection_modifyitems(config, items):
    import pytest
    root = str(config.rootpath).rstrip("/") + "/"
    for item in items:
        rel = str(item.path).replace(root, "", 1)
        if rel.startswith(_SLOW_PATHS):
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path, config):
    import tier
    if tier.FAST:
        rel = str(collection_path).replace(str(config.rootpath).rstrip("/") + "/", "", 1)
        if (rel + "/").startswith(_SLOW_PATHS) or rel.startswith(_SLOW_PATHS):
            return True
    return None


def pytest_report_header(config):
    import tier
    return "nnspec test tier: " + ("fast (tests/tier.py)" if tier.FAST else "full")


def pytest_collection_finish(session):
    import tier
    if tier.FAST:
        # what exists now (modules, the op catalog, collected items) lives to the end: keep it out of
        # every later full garbage collection (15 of them took 1.6 s of the fast tier)
        import gc
        gc.collect()
        gc.freeze()
