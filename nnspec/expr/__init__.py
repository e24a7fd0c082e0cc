from .expr import FUNCTIONS, ExprError, fmt_dims, infer_dims, infer_rank, names, parse  # noqa: F401
