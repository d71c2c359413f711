"""Generic fits of measured times (one point per run) against sweep variables.

Both fits use every finite, positive time (a NaN "never reached" is skipped):

- :func:`fit_constant`: the constant ``c`` in ``t ~ c * x`` (least squares through the
  origin; also the median of ``t / x``, robust to outliers) for any positive variable x;
- :func:`fit_power_law`: ``t ~ A * n^a * mu^b`` in two positive variables (least squares on
  ``log t = log A + a log n + b log mu``), i.e. the exponents in each variable separately.

Times keep whatever clock they were measured on (mean or sum loss); fit each clock separately.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import ArrayLike


@dataclasses.dataclass(frozen=True)
class ConstantFit:
    """t ~ c * x (e.g. x = log(n) / sqrt(mu) for Min et al.'s bound).

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


def slope_through_origin(t: np.ndarray, x: np.ndarray) -> float:
    """Least-squares c in t ~ c * x (no intercept): (x . t) / (x . x)."""
    return float(np.dot(x, t) / np.dot(x, x))


def r_squared(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SS_res / SS_tot of ``pred`` against ``y`` (SS_tot about the mean of y; NaN if 0)."""
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def log_power_lstsq(
    t: np.ndarray, n: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(coef, X): least squares of log t = coef . (1, log n, log mu), X the (N, 3) design."""
    X = np.column_stack([np.ones_like(t), np.log(n), np.log(mu)])
    return np.linalg.lstsq(X, np.log(t), rcond=None)[0], X


def _clean(t, *xs) -> tuple[np.ndarray, ...]:
    t = np.asarray(t, dtype=float).ravel()
    xs = tuple(np.asarray(x, dtype=float).ravel() for x in xs)
    if any(x.shape != t.shape for x in xs):
        sizes = ", ".join(str(a.size) for a in (t, *xs))
        raise ValueError(f"t and the variables must have the same length, got {sizes}")
    if any(np.any(~np.isfinite(x) | (x <= 0)) for x in xs):
        raise ValueError("every variable must be finite and > 0 at every point")
    ok = np.isfinite(t) & (t > 0)
    return (t[ok],) + tuple(x[ok] for x in xs)


def fit_constant(t: ArrayLike, x: ArrayLike) -> ConstantFit:
    """Fit c in t ~ c * x through the origin (non-finite or non-positive t are skipped).

    >>> fit_constant(t, np.log(n) / np.sqrt(mu)).c
    """
    t, x = _clean(t, x)
    if t.size < 1:
        raise ValueError("no finite positive times to fit")
    c = slope_through_origin(t, x)
    r2 = r_squared(t, c * x)
    return ConstantFit(c=c, c_median=float(np.median(t / x)), r2=r2, n_points=int(t.size))


def fit_power_law(t: ArrayLike, n: ArrayLike, mu: ArrayLike) -> PowerLawFit:
    """Fit t ~ A n^a mu^b (n, mu > 0) by least squares in log space (>= 2 distinct n and mu).

    >>> f = fit_power_law(t, n, mu); f.a, f.b    # exponents in n and in mu
    """
    t, n, mu = _clean(t, n, mu)
    if np.unique(n).size < 2 or np.unique(mu).size < 2:
        raise ValueError("a power law in n and mu needs at least 2 distinct n and 2 distinct mu")
    coef, X = log_power_lstsq(t, n, mu)
    yl = np.log(t)
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
