"""The only package that imports Keras / TensorFlow. Nothing on the validate
path imports it (tests/test_light.py proves it)."""
from __future__ import annotations

import os
import sys
import tempfile


def quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up log lines kept out of nnspec's
    output (TF_CPP_MIN_LOG_LEVEL does not cover the ones printed before its
    logging starts). If the import fails, what it printed is shown."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured)
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)
