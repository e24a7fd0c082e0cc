"""Linear algebra on the three forms a linear record's matrix takes: a number c (c times the
identity), a 1-D array d (the diagonal matrix diag(d)), or a 2-D matrix (a numpy array, or a
scipy.sparse matrix when scipy is installed: convolutions, pooling and padding are sparse)."""
from __future__ import annotations

import numpy as np

try:  # the `bounds` extra installs scipy; without it the matrices are dense
    import scipy.sparse as _sparse
except ImportError:  # pragma: no cover - the fast tier has scipy
    _sparse = None


def is_sparse(m) -> bool:
    return _sparse is not None and _sparse.issparse(m)


def matrix(rows, cols, vals, shape):
    """The (rows, cols) -> vals matrix of ``shape`` (repeated entries add up)."""
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    vals = np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape)
    if _sparse is not None:
        return _sparse.csr_matrix((vals, (rows, cols)), shape=shape)
    out = np.zeros(shape)
    np.add.at(out, (rows, cols), vals)
    return out


def forward(m, x):
    """x (batch, n_in) -> (batch, n_out): each row times the matrix's transpose."""
    if np.isscalar(m):
        return m * x
    if m.ndim == 1:
        return x * m
    if is_sparse(m):
        return np.asarray((m @ x.T).T)
    return x @ m.T


def absolute(m):
    if np.isscalar(m):
        return abs(m)
    return abs(m) if is_sparse(m) else np.abs(m)


def left(lam, m):
    """lam (rows, n_out) @ m (n_out, n_in)."""
    if np.isscalar(m):
        return lam * m
    if m.ndim == 1:
        return lam * m
    if is_sparse(m):
        return np.asarray((m.T @ lam.T).T)
    return lam @ m


def to_sparse(m, n: int):
    """The matrix as a scipy.sparse CSR matrix (n: its number of columns, for the scalar and diagonal
    forms)."""
    if np.isscalar(m):
        return _sparse.identity(n, format="csr") * float(m)
    if m.ndim == 1:
        return _sparse.diags(m, format="csr")
    return _sparse.csr_matrix(m)


def split(lam):
    """(positive part, negative part)."""
    return np.maximum(lam, 0.0), np.minimum(lam, 0.0)
