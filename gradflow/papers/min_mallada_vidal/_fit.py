"""Fits of measured alignment times against Min et al.'s scaling t1 = O(log n / sqrt(mu)).

The bound predicts t ~ c log(n) / sqrt(mu): :func:`fit_bound_constant` fits c (the generic
:func:`gradflow.sweep.fit_constant` on x = :func:`bound_variable`), and the generic
:func:`gradflow.sweep.fit_power_law` gives the exponents of t ~ A n^a mu^b (the bound
predicts a ~ 0, only log n, and b = -1/2). Times keep the clock they were measured on.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import ArrayLike

from ...sweep import ConstantFit, fit_constant


def bound_variable(n: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """x = log(n) / sqrt(mu), the variable of Min et al.'s bound t1 = O(x)."""
    return np.log(np.asarray(n, float)) / np.sqrt(np.asarray(mu, float))


def fit_bound_constant(t: ArrayLike, n: ArrayLike, mu: ArrayLike) -> ConstantFit:
    """Fit c in t ~ c * log(n) / sqrt(mu) (non-finite or non-positive t are skipped).

    >>> fit_bound_constant(t, n, mu).c
    """
    n, mu = np.asarray(n, float).ravel(), np.asarray(mu, float).ravel()
    if np.any(n < 2) or np.any(mu <= 0) or np.any(mu > 1):
        raise ValueError("need n >= 2 (log n > 0) and 0 < mu <= 1 for every point")
    return fit_constant(t, bound_variable(n, mu))


def fraction_under(t: ArrayLike, bound: ArrayLike) -> float:
    """Fraction of runs whose time is finite and <= its bound (a NaN time counts as over)."""
    t, bound = np.asarray(t, float).ravel(), np.asarray(bound, float).ravel()
    if t.shape != bound.shape or t.size == 0:
        raise ValueError("t and bound must be non-empty and of the same length")
    return float(np.mean(np.isfinite(t) & (t <= bound)))
