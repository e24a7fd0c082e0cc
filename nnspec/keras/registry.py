"""Import this module to register every serializable object nnspec puts in a
model (Penalty, ExprLoss, ExprMetric, ExprConstraint, ExprLayer, WeightNorm, WeightNormConstraint, Scale,
Slice), e.g. before ``keras.models.load_model`` on a `.keras` file from
``nnspec compile --keras``::

    import nnspec.keras.registry  # noqa: F401
    model = keras.models.load_model("build/lab_quake.keras")
"""
from . import custom, expr, objects, weightnorm  # noqa: F401
