from .expr import FUNCTIONS, ExprError, parse, infer_rank, names  # noqa: F401
