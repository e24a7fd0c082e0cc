"""Elementwise activations: their values and sound linear relaxations over an interval.

``relax(kind, alpha, l, u)`` gives (al, bl, au, bu) with ``al*x + bl <= f(x) <= au*x + bu`` for every x
in [l, u], elementwise:
  * relu and leaky_relu: the chord above, and below the line through 0 of slope 1 or alpha, whichever
    leaves the smaller area (CROWN's choice);
  * where f is convex on [l, u] (softplus, elu with alpha <= 1, sigmoid and tanh below 0): the chord
    above and the tangent at the midpoint below; concave (sigmoid and tanh above 0): the reverse;
  * elsewhere: two parallel lines of slope s = the least derivative of f on [l, u], through (l, f(l))
    below and (u, f(u)) above (sound because f' >= s on [l, u]).
Every activation here is non-decreasing, so [f(l), f(u)] is its interval image."""
from __future__ import annotations

import numpy as np

PIECEWISE_LINEAR = frozenset({"linear", "relu", "leaky_relu"})
KINDS = frozenset({"linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu"})


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def apply(kind: str, alpha: float, x):
    if kind == "linear":
        return x
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, alpha * x)
    if kind == "sigmoid":
        return _sigmoid(x)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "softplus":
        return np.logaddexp(0.0, x)
    if kind == "elu":
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    raise ValueError(kind)


def derivative(kind: str, alpha: float, x):
    if kind == "sigmoid":
        s = _sigmoid(x)
        return s * (1.0 - s)
    if kind == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if kind == "softplus":
        return _sigmoid(x)
    if kind == "elu":
        return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))
    raise ValueError(kind)


def _chord(f, l, u):
    width = u - l
    safe = np.where(width > 0, width, 1.0)
    slope = np.where(width > 0, (f(u) - f(l)) / safe, 0.0)
    return slope, f(l) - slope * l


def relax(kind: str, alpha: float, l, u):
    l, u = np.asarray(l, dtype=np.float64), np.asarray(u, dtype=np.float64)
    if kind == "linear":
        one = np.ones_like(l)
        return one, 0 * l, one, 0 * l
    if kind in ("relu", "leaky_relu"):
        a = 0.0 if kind == "relu" else float(alpha)
        width = np.where(u > l, u - l, 1.0)
        # chord from (l, a*l) to (u, u): slope (u - a l) / (u - l), intercept a l - slope l
        slope_c = (u - a * l) / width
        icpt_c = a * l - slope_c * l
        active, inactive = l >= 0, u <= 0
        if a <= 1:  # convex: chord above, a line through 0 below
            low = np.where(u >= -l, 1.0, a)
            al = np.where(active, 1.0, np.where(inactive, a, low))
            bl = np.zeros_like(l)
            au = np.where(active, 1.0, np.where(inactive, a, slope_c))
            bu = np.where(active | inactive, 0.0, icpt_c)
        else:  # concave: the reverse
            high = np.where(u >= -l, 1.0, a)
            au = np.where(active, 1.0, np.where(inactive, a, high))
            bu = np.zeros_like(l)
            al = np.where(active, 1.0, np.where(inactive, a, slope_c))
            bl = np.where(active | inactive, 0.0, icpt_c)
        return al, bl, au, bu

    def f(x):
        return apply(kind, alpha, x)

    mid = 0.5 * (l + u)
    fl, fu = f(l), f(u)
    # parallel lines of the least slope on [l, u]
    if kind in ("sigmoid", "tanh"):
        s = np.minimum(derivative(kind, alpha, l), derivative(kind, alpha, u))
    elif kind == "elu":
        s = np.where(l > 0, 1.0, np.minimum(alpha * np.exp(np.minimum(l, 0.0)), np.where(u > 0, 1.0, np.inf)))
    else:  # softplus: increasing derivative
        s = derivative(kind, alpha, l)
    al, bl, au, bu = s, fl - s * l, s.copy(), fu - s * u
    if kind in ("sigmoid", "tanh"):
        convex, concave = u <= 0, l >= 0
    elif kind == "softplus" or (kind == "elu" and alpha <= 1):
        convex, concave = np.ones_like(l, dtype=bool), np.zeros_like(l, dtype=bool)
    else:  # elu with alpha > 1: convex below 0, linear above
        convex, concave = u <= 0, l >= 0
    slope_c, icpt_c = _chord(f, l, u)
    t = derivative(kind, alpha, mid)
    tangent_b = f(mid) - t * mid
    # convex: tangent below, chord above
    al = np.where(convex, t, al)
    bl = np.where(convex, tangent_b, bl)
    au = np.where(convex, slope_c, au)
    bu = np.where(convex, icpt_c, bu)
    # concave: chord below, tangent above
    al = np.where(concave, slope_c, al)
    bl = np.where(concave, icpt_c, bl)
    au = np.where(concave, t, au)
    bu = np.where(concave, tangent_b, bu)
    flat = ~(u > l)  # a point interval: the constant
    zero = np.zeros_like(l)
    return (np.where(flat, zero, al), np.where(flat, fl, bl), np.where(flat, zero, au), np.where(flat, fu, bu))
