from .expr import (BATCH, FUNCTIONS, RANDOM, ExprError, fmt_dims, infer_dims, infer_rank, infer_shape, names,  # noqa: F401
                   gradient_names, parse, uses_random)
