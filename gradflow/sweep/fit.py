"""Fits of measured alignment times against Min et al.'s scaling t1 = O(log n / sqrt(mu)).

Two fits, both on every finite, positive time (one point per run):

- the constant ``c`` in ``t ~ c * log(n) / sqrt(mu)`` (least squares through the origin;
  also the median of ``t / (log n / sqrt(mu))``, robust to outliers);
- a power law ``t ~ A * n^a * mu^b`` (least squares on ``log t = log A + a log n + b log mu``),
  i.e. the exponents in n and in mu separately. The bound predicts a ~ 0 (only log n) and
  b = -1/2; measured times may scale differently, which is what the fit reports.

Times keep whatever clock they were measured on (mean or sum loss); fit each clock separately.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import ArrayLike


@dataclasses.dataclass(frozen=True)
class ConstantFit:
    """t ~ c * x with x = log(n) / sqrt(mu).

    c: least-squares constant; c_median: median of t / x; r2: 1 - SS_res/SS_tot (through the
    origin, about the mean of t); n_points: points used.
    """

    c: float
    c_median: float
    r2: float
    n_points: int


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    """t ~ A * n^a * mu^b. ``a_se``/``b_se``: standard errors; ``r2`` of the log-log fit."""

    A: float
    a: float
    b: float
    a_se: float
    b_se: float
    r2: float
    n_points: int

    def predict(self, n: ArrayLike, mu: ArrayLike) -> np.ndarray:
        return self.A * np.asarray(n, float) ** self.a * np.asarray(mu, float) ** self.b


def _clean(t, n, mu) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, n, mu = (np.asarray(a, dtype=float).ravel() for a in (t, n, mu))
    if not (t.shape == n.shape == mu.shape):
        raise ValueError(f"t, n, mu must have the same length, got {t.size}, {n.size}, {mu.size}")
    if np.any(n < 2) or np.any(mu <= 0) or np.any(mu > 1):
        raise ValueError("need n >= 2 (log n > 0) and 0 < mu <= 1 for every point")
    ok = np.isfinite(t) & (t > 0)
    return t[ok], n[ok], mu[ok]


def bound_variable(n: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """x = log(n) / sqrt(mu), the variable of Min et al.'s bound t1 = O(x)."""
    return np.log(np.asarray(n, float)) / np.sqrt(np.asarray(mu, float))


def fit_constant(t: ArrayLike, n: ArrayLike, mu: ArrayLike) -> ConstantFit:
    """Fit c in t ~ c * log(n) / sqrt(mu) (non-finite or non-positive t are skipped).

    >>> fit_constant(t, n, mu).c
    """
    t, n, mu = _clean(t, n, mu)
    if t.size < 1:
        raise ValueError("no finite positive times to fit")
    x = bound_variable(n, mu)
    c = float(np.dot(x, t) / np.dot(x, x))
    ss_res = float(np.sum((t - c * x) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return ConstantFit(c=c, c_median=float(np.median(t / x)), r2=r2, n_points=int(t.size))


def fit_power_law(t: ArrayLike, n: ArrayLike, mu: ArrayLike) -> PowerLawFit:
    """Fit t ~ A n^a mu^b by least squares in log space (needs >= 2 distinct n and mu).

    >>> f = fit_power_law(t, n, mu); f.a, f.b    # exponents in n and in mu
    """
    t, n, mu = _clean(t, n, mu)
    if np.unique(n).size < 2 or np.unique(mu).size < 2:
        raise ValueError("a power law in n and mu needs at least 2 distinct n and 2 distinct mu")
    X = np.column_stack([np.ones_like(t), np.log(n), np.log(mu)])
    yl = np.log(t)
    coef, *_ = np.linalg.lstsq(X, yl, rcond=None)
    res = yl - X @ coef
    dof = max(t.size - 3, 1)
    sigma2 = float(res @ res) / dof
    cov = sigma2 * np.linalg.pinv(X.T @ X)
    ss_tot = float(np.sum((yl - yl.mean()) ** 2))
    r2 = 1.0 - float(res @ res) / ss_tot if ss_tot > 0 else float("nan")
    return PowerLawFit(
        A=float(np.exp(coef[0])),
        a=float(coef[1]),
        b=float(coef[2]),
        a_se=float(np.sqrt(cov[1, 1])),
        b_se=float(np.sqrt(cov[2, 2])),
        r2=r2,
        n_points=int(t.size),
    )


def fraction_under(t: ArrayLike, bound: ArrayLike) -> float:
    """Fraction of runs whose time is finite and <= its bound (a NaN time counts as over)."""
    t, bound = np.asarray(t, float).ravel(), np.asarray(bound, float).ravel()
    if t.shape != bound.shape or t.size == 0:
        raise ValueError("t and bound must be non-empty and of the same length")
    return float(np.mean(np.isfinite(t) & (t <= bound)))
