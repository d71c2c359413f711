"""Fits of measured times against the two readings of Min et al.'s t1, and a free power law.

Theorem 1's t1 = 16 log n / (min{zeta, xi} sqrt(mu) X_min). The headline reads it as
O(log n / sqrt(mu)) ("headline" form); with xi = mu^2 (Lemma 9) min{zeta, xi} <= mu^2 and t1
grows like log n / mu^2.5 ("mu2.5" form). :func:`fit_forms` fits t ~ c x for both forms
(least squares through the origin) and the free power law t ~ A n^a mu^b (log-log least
squares), each with a bootstrap confidence interval (resampling runs within each grid point)
and R^2. Times keep the clock they were measured on; fit each clock separately.
"""

from __future__ import annotations

import dataclasses
from typing import TypedDict

import numpy as np
from jaxtyping import ArrayLike

from ...sweep import ConstantFit, fit_constant
from ...sweep._fit import log_power_lstsq, r_squared, slope_through_origin

FORMS = {"headline": 0.5, "mu2.5": 2.5}  # x = log n / mu^p


def bound_variable(n: ArrayLike, mu: ArrayLike, form: str = "headline") -> np.ndarray:
    """x = log(n) / mu^p: p = 1/2 ("headline", the paper's O(log n / sqrt(mu))) or p = 5/2
    ("mu2.5", t1's actual mu-dependence when xi = mu^2 binds)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {sorted(FORMS)}, got {form!r}")
    return np.log(np.asarray(n, float)) / np.asarray(mu, float) ** FORMS[form]


def _check_n_mu(n, mu) -> tuple[np.ndarray, np.ndarray]:
    n, mu = np.asarray(n, float).ravel(), np.asarray(mu, float).ravel()
    if np.any(n < 2) or np.any(mu <= 0) or np.any(mu > 1):
        raise ValueError("need n >= 2 (log n > 0) and 0 < mu <= 1 for every point")
    return n, mu


def fit_bound_constant(
    t: ArrayLike, n: ArrayLike, mu: ArrayLike, form: str = "headline"
) -> ConstantFit:
    """Fit c in t ~ c * log(n) / mu^p (``form``; non-finite or non-positive t are skipped).

    >>> fit_bound_constant(t, n, mu).c
    """
    n, mu = _check_n_mu(n, mu)
    return fit_constant(t, bound_variable(n, mu, form))


def fraction_under(t: ArrayLike, bound: ArrayLike) -> float:
    """Fraction of runs whose time is finite and <= its bound (a NaN time counts as over)."""
    t, bound = np.asarray(t, float).ravel(), np.asarray(bound, float).ravel()
    if t.shape != bound.shape or t.size == 0:
        raise ValueError("t and bound must be non-empty and of the same length")
    return float(np.mean(np.isfinite(t) & (t <= bound)))


@dataclasses.dataclass(frozen=True)
class FormFit:
    """t ~ c * log(n) / mu^p. ``c_lo``/``c_hi``: bootstrap CI of c; ``r2``: R^2 of the linear
    fit (through the origin, about the mean of t); ``r2_log``: R^2 of log t against
    log(c x) (every grid point weighted alike); ``n_points``: runs used."""

    form: str
    c: float
    c_lo: float
    c_hi: float
    r2: float
    r2_log: float
    n_points: int


@dataclasses.dataclass(frozen=True)
class PowerFit:
    """t ~ A n^a mu^b (log-log least squares) with bootstrap CIs of a and b and R^2 (log)."""

    A: float
    a: float
    a_lo: float
    a_hi: float
    b: float
    b_lo: float
    b_hi: float
    r2: float
    n_points: int

    def predict(self, n: ArrayLike, mu: ArrayLike) -> np.ndarray:
        return self.A * np.asarray(n, float) ** self.a * np.asarray(mu, float) ** self.b


BoundFits = TypedDict(
    "BoundFits", {"headline": FormFit, "mu2.5": FormFit, "power": "PowerFit | None"}
)
BoundFits.__doc__ = "What :func:`fit_forms` returns: both forms of t1 and the free power law."


def fit_forms(
    t: ArrayLike,
    n: ArrayLike,
    mu: ArrayLike,
    *,
    boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BoundFits:
    """Fit both forms of t1 and the free power law, with ``level`` bootstrap CIs.

    Runs with non-finite or non-positive t are skipped. The bootstrap resamples runs with
    replacement WITHIN each (n, mu) point (``boot`` replicates; percentile intervals).
    Returns ``{"headline": FormFit, "mu2.5": FormFit, "power": PowerFit or None}`` (None
    when fewer than 2 distinct n or mu remain).

    >>> f = fit_forms(t_cone, n, mu); f["mu2.5"].c, f["power"].b
    """
    n, mu = _check_n_mu(n, mu)
    t = np.asarray(t, float).ravel()
    if t.shape != n.shape or t.shape != mu.shape:
        raise ValueError(
            f"t, n and mu must have the same length, got {t.size}, {n.size}, {mu.size}"
        )
    ok = np.isfinite(t) & (t > 0)
    t, n, mu = t[ok], n[ok], mu[ok]
    if t.size < 2:
        raise ValueError("need at least 2 finite positive times to fit")
    if not (isinstance(boot, int) and boot >= 10):
        raise ValueError(f"boot must be an integer >= 10, got {boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero((n == a) & (mu == b)) for a, b in sorted(set(zip(n, mu, strict=True)))]
    samples = [
        np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups]) for _ in range(boot)
    ]
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    forms: dict[str, FormFit] = {}
    for form in FORMS:
        x = bound_variable(n, mu, form)
        c = slope_through_origin(t, x)
        cs = np.array([slope_through_origin(t[s], x[s]) for s in samples])
        lo, hi = np.percentile(cs, q)
        forms[form] = FormFit(
            form=form,
            c=c,
            c_lo=float(lo),
            c_hi=float(hi),
            r2=r_squared(t, c * x),
            r2_log=r_squared(np.log(t), np.log(c * x)),
            n_points=int(t.size),
        )
    out: BoundFits = {"headline": forms["headline"], "mu2.5": forms["mu2.5"], "power": None}
    if np.unique(n).size < 2 or np.unique(mu).size < 2:
        return out
    coef = log_power_lstsq(t, n, mu)[0]
    bs = np.array([log_power_lstsq(t[s], n[s], mu[s])[0] for s in samples])
    (a_lo, b_lo), (a_hi, b_hi) = np.percentile(bs[:, 1:], q, axis=0)
    pred = coef[0] + coef[1] * np.log(n) + coef[2] * np.log(mu)
    out["power"] = PowerFit(
        A=float(np.exp(coef[0])),
        a=float(coef[1]),
        a_lo=float(a_lo),
        a_hi=float(a_hi),
        b=float(coef[2]),
        b_lo=float(b_lo),
        b_hi=float(b_hi),
        r2=r_squared(np.log(t), pred),
        n_points=int(t.size),
    )
    return out


def bootstrap_median(t: ArrayLike, *, boot: int = 1000, level: float = 0.95, seed: int = 0):
    """(median, lo, hi): the median of the finite values of ``t`` and its bootstrap CI."""
    t = np.asarray(t, float).ravel()
    t = t[np.isfinite(t)]
    if t.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    meds = np.median(t[rng.integers(0, t.size, (boot, t.size))], axis=1)
    lo, hi = np.percentile(meds, (100 * (1 - level) / 2, 100 * (1 + level) / 2))
    return float(np.median(t)), float(lo), float(hi)
