"""The constants of Min, Mallada & Vidal's Theorem 1 (arXiv 2307.12851, ICLR 2024).

Setting: f(x) = sum_j v_j relu(w_j . x), h neurons, init W = eps * W0 (rows w_j; the paper's
columns), balanced |v_j| = |w_j|, gradient flow on the SUM of the per-sample EXPONENTIAL loss
(the paper's clock t_sum). The logistic loss carries a factor 2 in the paper's appendix;
gradflow's logistic loss has none, so these constants are stated for the exponential loss.
Times are returned on both clocks: t_mean = n * t_sum (gradflow's default solve clock).

References: equation/lemma numbers of the ICLR 2024 paper's appendices (checked against the
full text, MMV2024ICLR.pdf):

- Assumption 1: mu = min_ij <x_i y_i, x_j y_j> / (|x_i| |x_j|) > 0.
- X_max = max |x_i|, X_min = min |x_i| (X_min is used but not defined in the paper; this is
  the natural reading). W_max, W_min = max / min_j |W0_j| (unscaled init rows; the paper's
  columns). n_+ / n_- = number of positive / negative samples.
- Lemma 8 (zeta1): the cap {z : cos(z, x_+) >= sqrt(1 - zeta1)} lies in S_+ (and the same for
  x_-, S_-). We return the LARGEST such zeta1, in closed form: a cap of half-angle beta around
  x_+ lies in every half-space {z . x_i > 0} (y_i = +1) and {z . x_i <= 0} (y_i = -1) iff
  sin(beta) <= y_i cos(x_+, x_i) for every i, so
      sqrt(zeta1) = min( min_i y_i cos(x_+, x_i),  min_i -y_i cos(x_-, x_i) ).
- Assumption 2, eq. (26) (zeta2): max_{v_j > 0} cos(w_j(0), x_-) < sqrt(1 - zeta2) and
  max_{v_j < 0} cos(w_j(0), x_+) < sqrt(1 - zeta2). We return the supremum
      zeta2 = 1 - max(0, max_{v_j>0} cos(w_j(0), x_-), max_{v_j<0} cos(w_j(0), x_+))^2.
- zeta: the paper prints zeta = max{zeta1, zeta2}, but its proof uses BOTH the cap of Lemma 8
  (zeta1) and the init condition (zeta2) with the same zeta, so a zeta for which both hold is
  needed: zeta = min{zeta1, zeta2} (the max would claim a cap larger than S_+ allows, or an
  init condition that fails). We implement the min.
- Lemma 9 (xi): every direction z in neither S_+ nor S_- has |cos(z, s)| <= sqrt(1 - xi) for
  every s in the data cone K = {sum_i a_i y_i x_i, a_i >= 0}. For s in K the nearest
  direction outside S_+ lies on a hyperplane z . x_i = 0, at sin(angle) = |cos(s, x_i)|, and
  cos(s, y_i x_i) over s in K is smallest at a generator (spherical distance is convex
  within a hemisphere), so
      xi = min_ij cos^2(y_i x_i, y_j x_j) = mu^2
  satisfies the condition (our derivation; the paper asserts existence). It is the largest
  such xi unless the nearest boundary directions happen to lie in S_-; a smaller valid xi
  only makes t1 larger, so the bound stays valid. Hence min{zeta, xi} <= xi = mu^2, and t1
  grows like log n / mu^2.5 whenever xi binds, not like the headline's log n / sqrt(mu).
- App. C.2: t1 = 16 log n / (min{zeta, xi} sqrt(mu) X_min) (harmonic sum over the longest
  chain of activation-pattern changes); max dwell time in one pattern with n_a active samples
  4 / (min{zeta, xi} sqrt(mu) X_min n_a), largest for n_a = 1.
- eq. (28) (with the factor 8, see below): eps <= min{ min{mu, zeta, xi} sqrt(mu) X_min /
  (8 sqrt(h) n X_max^2 W_max^2), (1/sqrt(h)) exp(-64 n X_max log n / (min{zeta, xi} sqrt(mu)
  X_min)) }. The second term underflows in float64 for any realistic data (log eps_max is
  about -1.2e3 already for the two-point set of the tests and -1.9e3 .. -5.3e7 on the reduced
  sweep (n 10..100)), so it is kept as a logarithm: no float eps (log eps >= -745) satisfies the
  hypothesis, and every numerical run lies outside Theorem 1.
  Factor 8, not the paper's 4: the first term must give (29), max_i |f(x_i)| <=
  min{mu, zeta, xi} sqrt(mu) X_min / (4 n X_max), through Lemma 3's max_i |f(x_i)| <=
  2 eps sqrt(h) X_max W_max^2 (eq. 10); that needs eps <= min{mu, zeta, xi} sqrt(mu) X_min /
  (8 sqrt(h) n X_max^2 W_max^2). The paper prints 4, which only yields the bound 2x larger.
  Lemma 3's own condition eps <= 1 / (4 sqrt(h) X_max W_max^2) is implied by the first term.
- D.2, eqs. (36)/(39): t2_+ <= t1 + 6 / (sqrt(mu) n_+ X_min) + 4 / (sqrt(mu) n_+ X_min) *
  (log(2 / (eps^2 sqrt(mu) X_min W_min^2)) + 4 n X_max t1), the same with n_- for t2_-, and
  t2 = max{t2_+, t2_-}. (Valid when some neuron is in S_+ at t1, resp. S_-.)
- Cos window (proof of D.2, not a statement of Theorem 1): every neuron in S_+ at t1 has
  cos(w_j, x_+) >= 1/4 for t in [t1 + 6 / (sqrt(mu) n_+ X_min), t2_+] (the same for x_-
  with n_-, t2_-). This is NOT "cos >= 1/4 by t1".
- Theorem 1 (after t2): L(t) <= L(t2) / (L(t2) alpha (t - t2) + 1), alpha = (mu X_min)^2 /
  (32 X_max); and |W|_F^2 <= 2 |W|_2^2 + 4 sqrt(h) eps W_max^2. Since L_sum = n L_mean and
  t_sum = t_mean / n, the loss bound holds with the SAME alpha for (L_mean, t_mean).
- What Theorem 1 certifies, under eq. (28): every neuron is in its cone S_{sign v_j} or in
  S_dead by t1 (cone membership). The time to cos >= 1 - delta is bounded by no theorem; only
  the cone-entry time is comparable with t1, and since eq. (28) fails for every float eps,
  such a comparison tests the bound as a conjecture outside its hypothesis.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..._validate import finite_array, integer, open_unit, positive
from ...data import Dataset
from ...metrics import unit as _unit

_COS_WINDOW = 0.25  # proof of D.2: cos(w_j, x_+-) >= 1/4 on [t1 + 6/(sqrt(mu) n_+- X_min), t2_+-]
_LOG_EPS_FLOAT = math.log(5e-324)  # the smallest positive float64 (log ~ -744.4)


@dataclasses.dataclass(frozen=True)
class MinBounds:
    """Theorem 1 of Min, Mallada & Vidal, evaluated on one data set and init (exp loss).

    Times come on two clocks: ``_sum`` is the sum-loss clock t_sum (the paper's), ``_mean``
    is t_mean = n * t_sum.

    Attributes:
        n: number of samples.
        h: width (number of neurons).
        eps: init scale (W(0) = eps * W0).
        mu: data separation of Assumption 1, min_ij cos(x_i y_i, x_j y_j) > 0.
        X_min: min_i |x_i|.
        X_max: max_i |x_i|.
        n_plus: number of positive samples.
        n_minus: number of negative samples.
        W_max: max row norm of W0 = W(0)/eps.
        W_min: min row norm of W0 = W(0)/eps.
        zeta1: Lemma 8's cap constant (the largest valid one, closed form).
        zeta2: Assumption 2's init constant (eq. 26); NaN when no init was given.
        zeta: min{zeta1, zeta2} (zeta1 when zeta2 is NaN).
        xi: Lemma 9's constant, mu^2.
        t1_sum: cone-membership bound 16 log n / (min{zeta, xi} sqrt(mu) X_min), sum clock.
        t1_mean: the same on the mean clock.
        dwell_sum: max dwell time in one activation pattern (n_a = 1), sum clock.
        dwell_mean: the same on the mean clock.
        t2_plus_sum: eq. (39), sum clock.
        t2_minus_sum: the S_- analogue of eq. (39), sum clock.
        t2_sum: max{t2_plus_sum, t2_minus_sum}.
        t2_mean: t2 on the mean clock.
        cos_start_plus_sum: t1 + 6/(sqrt(mu) n_+ X_min), the start of the window
            [cos_start, t2_+] on which the proof of D.2 shows cos(w_j, x_+) >= 1/4 (see
            :meth:`cos_window`); not "by t1".
        cos_start_minus_sum: the same for x_- (n_-, t2_-).
        cos_start_plus_mean: ``cos_start_plus_sum`` on the mean clock.
        cos_start_minus_mean: ``cos_start_minus_sum`` on the mean clock.
        eps_max: right side of eq. (28) with the factor 8 (underflows to 0.0 in practice).
        log_eps_max: the log of ``eps_max``.
        eps_ok: whether the given eps satisfies eq. (28) (compared in log space; False for
            every float eps on realistic data).
        eps_terms: the two log terms of eq. (28) (balance term with factor 8, exponential).
        log_eps_term1_paper: the balance term as printed (factor 4), for comparison.
        eps_representable: whether eps_max >= the smallest positive float64 (5e-324).
        alpha: 1/t loss-rate constant (mu X_min)^2 / (32 X_max), the same on both clocks.
        rank_slack: 4 sqrt(h) eps W_max^2 in |W|_F^2 <= 2 |W|_2^2 + rank_slack.
        delta: the requested cos-alignment tolerance (``None`` if none).
        delta_covered: whether the cos >= 1/4 of D.2's proof (on the window above, under
            eq. 28) reaches 1 - delta (delta >= 3/4); ``None`` without ``delta``.
        assumptions: what was assumed for missing inputs.
    """

    n: int
    h: int
    eps: float
    mu: float
    X_min: float
    X_max: float
    n_plus: int
    n_minus: int
    W_max: float
    W_min: float
    zeta1: float
    zeta2: float
    zeta: float
    xi: float
    t1_sum: float
    t1_mean: float
    dwell_sum: float
    dwell_mean: float
    t2_plus_sum: float
    t2_minus_sum: float
    t2_sum: float
    t2_mean: float
    cos_start_plus_sum: float
    cos_start_minus_sum: float
    cos_start_plus_mean: float
    cos_start_minus_mean: float
    eps_max: float
    log_eps_max: float
    eps_ok: bool
    eps_terms: tuple[float, float]
    log_eps_term1_paper: float
    eps_representable: bool
    alpha: float
    rank_slack: float
    delta: float | None
    delta_covered: bool | None
    assumptions: tuple[str, ...]

    def dwell(self, n_active: int, clock: str = "sum") -> float:
        """Max dwell time 4 / (min{zeta, xi} sqrt(mu) X_min n_a) on ``clock`` (App. C.2)."""
        if not isinstance(n_active, int) or not 1 <= n_active <= self.n:
            raise ValueError(f"n_active must be an integer in [1, n={self.n}], got {n_active!r}")
        t = self.dwell_sum / n_active
        return t * self.n if _clock(clock) == "mean" else t

    def cos_window(self, cls: str = "+", clock: str = "sum") -> tuple[float, float]:
        """(start, end) of the window where the proof of D.2 gives cos(w_j, x_cls) >= 1/4.

        start = t1 + 6 / (sqrt(mu) n_cls X_min), end = t2_cls (eq. 39), for neurons in
        S_cls at t1, and only under eq. (28). Theorem 1 itself says nothing about cos.
        """
        if cls not in ("+", "-"):
            raise ValueError(f"cls must be '+' or '-', got {cls!r}")
        start, end = (
            (self.cos_start_plus_sum, self.t2_plus_sum)
            if cls == "+"
            else (self.cos_start_minus_sum, self.t2_minus_sum)
        )
        k = self.n if _clock(clock) == "mean" else 1
        return start * k, end * k

    def loss_bound(self, t, t2: float, loss_t2: float):
        """Theorem 1's L(t) <= L(t2) / (L(t2) alpha (t - t2) + 1) for t >= t2.

        Use (t, t2, L) all on the sum clock with the sum loss, or all on the mean clock with
        the mean loss: alpha is the same.
        """
        t = np.asarray(t, dtype=float)
        return loss_t2 / (loss_t2 * self.alpha * np.maximum(t - t2, 0.0) + 1.0)

    def stable_rank_bound(self, spectral_norm_sq: float) -> float:
        """Upper bound 2 + rank_slack / |W|_2^2 on the stable rank |W|_F^2 / |W|_2^2."""
        return 2.0 + self.rank_slack / positive("spectral_norm_sq", spectral_norm_sq)

    def describe(self) -> str:
        """A few lines with the main numbers, their clocks and the eq. (28) verdict."""
        verdict = (
            f"  eps={self.eps:.3g} satisfies eq. (28): log eps_max = {self.log_eps_max:.4g}"
            if self.eps_ok
            else f"  eps={self.eps:.3g} VIOLATES eq. (28): log eps_max = {self.log_eps_max:.4g}"
            + (
                " (below any float64: no float eps satisfies it; this run lies outside"
                " Theorem 1's hypothesis, a comparison with t1 tests the bound as a conjecture)"
                if not self.eps_representable
                else ""
            )
        )
        return (
            f"Min et al. Theorem 1 (exp loss): n={self.n} (n+={self.n_plus}, "
            f"n-={self.n_minus}), h={self.h}, mu={self.mu:.4g}, X_min={self.X_min:.4g}, "
            f"X_max={self.X_max:.4g}, W_max={self.W_max:.4g}, W_min={self.W_min:.4g}\n"
            f"  zeta1={self.zeta1:.4g}, zeta2={self.zeta2:.4g}, zeta=min={self.zeta:.4g}, "
            f"xi={self.xi:.4g}\n"
            f"  t1 (cone membership) = {self.t1_sum:.4g} [sum clock] = {self.t1_mean:.4g} "
            f"[mean clock]\n"
            f"  t2 (eq. 39) = {self.t2_sum:.4g} [sum clock] = {self.t2_mean:.4g} [mean clock]\n"
            f"  cos >= 1/4 (proof of D.2) only on [{self.cos_start_plus_sum:.4g}, "
            f"{self.t2_plus_sum:.4g}] (x+), [{self.cos_start_minus_sum:.4g}, "
            f"{self.t2_minus_sum:.4g}] (x-) [sum clock]\n"
            f"{verdict}\n"
            f"  alpha={self.alpha:.4g}, rank slack={self.rank_slack:.3g}"
        )


def _clock(clock: str) -> str:
    if clock not in ("sum", "mean"):
        raise ValueError(f"clock must be 'sum' or 'mean', got {clock!r}")
    return clock


def _init_rows(model, W0, v, eps: float, h: int, d: int):
    """(W0 rows (h, d), signs (h,)) or (None, None), from a model or W0 (+ v)."""
    if model is not None and W0 is not None:
        raise ValueError("give either model (the initial network) or W0, not both")
    if model is not None:
        if not (hasattr(model, "w") and hasattr(model, "v")):
            raise ValueError("model must have first-layer weights w (h, d) and readout v (h,)")
        w = np.asarray(model.w, dtype=float)
        W0 = w.reshape(w.shape[0], -1) / eps
        v = np.asarray(model.v, dtype=float) / eps
    if W0 is None:
        if v is not None:
            raise ValueError("v (readout signs) needs W0 as well")
        return None, None
    W0 = finite_array("W0", W0, ndim=2).astype(float)
    if W0.shape != (h, d):
        raise ValueError(f"W0 must have shape (h, d) = ({h}, {d}), got {W0.shape}")
    if v is None:
        return W0, None
    v = finite_array("v", v, ndim=1).astype(float)
    if v.shape != (h,):
        raise ValueError(f"v must have shape (h,) = ({h},), got {v.shape}")
    return W0, v


def min_bounds(
    data: Dataset,
    h: int,
    eps: float,
    *,
    model=None,
    W0=None,
    v=None,
    delta: float | None = None,
) -> MinBounds:
    """Evaluate every constant of Min, Mallada & Vidal's Theorem 1 on ``data``.

    t1 = 16 log n / (min{zeta, xi} sqrt(mu) X_min) on the SUM-loss clock (App. C.2), also
    returned as t1_mean = n * t1_sum (the bound on CONE membership, the only time Theorem 1
    bounds); t2 (eqs. 36/39) and the cos >= 1/4 window of D.2's proof on both clocks;
    eq. (28) on eps (factor 8; ``eps_ok`` is False for any float eps on realistic data, so a
    run is outside the hypothesis); alpha and the rank bound (Theorem 1).
    See the module docstring for every definition and equation number.

    Args:
        data: binary data set (labels +-1, both classes non-empty), mu-separated (mu > 0).
        h: width (number of neurons). eps: init scale (W = eps * W0), > 0.
        model: the INITIAL network (``model.w`` = eps * W0, ``model.v``): gives W_max and
            zeta2 (signs of v); an unbalanced init (|v_j| != |w_j|) is flagged in
            ``assumptions``. Or pass ``W0`` (unscaled rows, (h, d)) and optionally ``v``.
        delta: optional cos-alignment tolerance; ``delta_covered`` says whether the cos >= 1/4
            shown in the proof of D.2 (on [cos_start, t2], under eq. 28) reaches 1 - delta.

    Without an init: W_max = 1 is assumed (unit rows, E|w_j|^2 = eps^2 under
    ``TwoLayerReLU.balanced``) and zeta2 is NaN with zeta = zeta1, i.e. the init condition
    (26) is assumed not to bind. With W0 but no v, zeta2 uses the worse of the two signs for
    every row. ``assumptions`` records what was assumed.

    >>> b = min_bounds(data, h=50, eps=1e-6, model=model0)
    >>> b.t1_sum, b.t1_mean, b.eps_ok
    """
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a gradflow.data.Dataset, got {type(data).__name__}")
    data.check_both_classes()
    h = integer("h", h)
    eps = positive("eps", eps)
    if delta is not None:
        delta = open_unit("delta", delta, " (cos-alignment tolerance: cos >= 1 - delta)")
    if model is not None and hasattr(model, "w"):
        w_model = np.asarray(model.w, dtype=float)
        w_rows = w_model.reshape(w_model.shape[0], -1)
        row = float(np.sqrt(np.mean(w_rows**2) * w_rows.shape[1]))
        if not 1e-2 <= row / eps <= 1e2:
            raise ValueError(
                f"eps = {eps:g} does not match the model: its rows have RMS norm {row:.3g} "
                f"= {row / eps:.3g} eps (W = eps * W0 with |W0 rows| ~ 1 expected); pass the "
                "init scale the model was built with"
            )
    x = np.asarray(data.x, dtype=float).reshape(data.n, -1)
    y = np.asarray(data.y, dtype=float)
    n, d = x.shape
    norms = np.linalg.norm(x, axis=1)
    if np.any(norms == 0):
        raise ValueError("data has a zero input x_i; mu is undefined")
    z = _unit(y[:, None] * x)
    mu = float(np.min(z @ z.T))
    if not mu > 0:
        raise ValueError(
            f"mu must be > 0 for Min et al.'s bounds, got mu={mu:.4g}: data is not "
            f"mu-separated (some same-label pair has <x_i, x_j> <= 0 or some opposite-label "
            f"pair has <x_i, x_j> >= 0)"
        )
    X_min, X_max = float(norms.min()), float(norms.max())
    xp, xm = x[y > 0].sum(axis=0), x[y < 0].sum(axis=0)
    xu = _unit(x)
    c_plus = xu @ _unit(xp)  # cos(x_+, x_i)
    c_minus = xu @ _unit(xm)  # cos(x_-, x_i)
    root_zeta1 = min(float(np.min(y * c_plus)), float(np.min(-y * c_minus)))
    zeta1 = root_zeta1**2
    xi = mu**2

    assumptions: list[str] = []
    W0a, va = _init_rows(model, W0, v, eps, h, d)
    if W0a is None:
        W_max = W_min = 1.0
        zeta2 = float("nan")
        assumptions.append("no init given: W_max = W_min = 1 (unit rows of W0)")
        assumptions.append("no init given: zeta2 unknown (NaN), zeta = zeta1 (eq. 26 not binding)")
    else:
        row_norms = np.linalg.norm(W0a, axis=1)
        W_max, W_min = float(np.max(row_norms)), float(np.min(row_norms))
        if va is not None:
            imbalance = float(np.max(np.abs(va**2 - row_norms**2))) / max(W_max**2, 1e-300)
            if imbalance > 1e-6:
                assumptions.append(
                    f"init is not balanced (max |v_j^2 - |w_j|^2| / W_max^2 = {imbalance:.3g}"
                    f" at scale eps); Theorem 1 assumes |v_j| = |w_j|"
                )
        wu = _unit(W0a)
        cos_to_minus, cos_to_plus = wu @ _unit(xm), wu @ _unit(xp)
        if va is None:
            worst = np.maximum(cos_to_minus, cos_to_plus)
            assumptions.append("no readout signs given: zeta2 uses the worse sign per row")
        else:
            worst = np.where(va > 0, cos_to_minus, cos_to_plus)
        zeta2 = 1.0 - max(0.0, float(np.max(worst))) ** 2
    zeta = zeta1 if math.isnan(zeta2) else min(zeta1, zeta2)
    n_plus, n_minus = int(np.sum(y > 0)), int(np.sum(y < 0))
    c = min(zeta, xi) * math.sqrt(mu) * X_min
    log_n = math.log(n)
    # eq. (28), first term with the factor 8 that (29) needs through Lemma 3 (module doc)
    balance = min(mu, zeta, xi) * math.sqrt(mu) * X_min / (math.sqrt(h) * n * X_max**2 * W_max**2)
    if c <= 0:  # zeta2 = 0: the init condition (26) fails, Theorem 1 gives no bound
        assumptions.append("zeta = 0: Assumption 2 (eq. 26) fails for this init; t1 = inf")
        t1_sum = dwell_sum = math.inf
        log_term1 = log_term2 = log_term1_paper = -math.inf
    else:
        t1_sum = 16.0 * log_n / c
        dwell_sum = 4.0 / c
        log_term1 = math.log(balance / 8.0)
        log_term1_paper = math.log(balance / 4.0)
        log_term2 = -0.5 * math.log(h) - 64.0 * n * X_max * log_n / c
    log_eps_max = min(log_term1, log_term2)

    # D.2: the cos >= 1/4 window starts at t1 + 6/(sqrt(mu) n_+- X_min); eq. (39) bounds t2_+-
    def t2_of(n_cls: int) -> tuple[float, float]:
        rate = math.sqrt(mu) * n_cls * X_min
        start = t1_sum + 6.0 / rate
        log_arg = math.log(2.0 / (eps**2 * math.sqrt(mu) * X_min * W_min**2))
        return start, start + 4.0 / rate * (log_arg + 4.0 * n * X_max * t1_sum)

    start_p, t2_p = t2_of(n_plus)
    start_m, t2_m = t2_of(n_minus)
    t2_sum = max(t2_p, t2_m)
    return MinBounds(
        n=n,
        h=h,
        eps=eps,
        mu=mu,
        X_min=X_min,
        X_max=X_max,
        n_plus=n_plus,
        n_minus=n_minus,
        W_max=W_max,
        W_min=W_min,
        zeta1=zeta1,
        zeta2=zeta2,
        zeta=zeta,
        xi=xi,
        t1_sum=t1_sum,
        t1_mean=n * t1_sum,
        dwell_sum=dwell_sum,
        dwell_mean=n * dwell_sum,
        t2_plus_sum=t2_p,
        t2_minus_sum=t2_m,
        t2_sum=t2_sum,
        t2_mean=n * t2_sum,
        cos_start_plus_sum=start_p,
        cos_start_minus_sum=start_m,
        cos_start_plus_mean=n * start_p,
        cos_start_minus_mean=n * start_m,
        eps_max=math.exp(log_eps_max),
        log_eps_max=log_eps_max,
        eps_ok=math.log(eps) <= log_eps_max,
        eps_terms=(log_term1, log_term2),
        log_eps_term1_paper=log_term1_paper,
        eps_representable=log_eps_max >= _LOG_EPS_FLOAT,
        alpha=(mu * X_min) ** 2 / (32.0 * X_max),
        rank_slack=4.0 * math.sqrt(h) * eps * W_max**2,
        delta=delta,
        delta_covered=None if delta is None else delta >= 1.0 - _COS_WINDOW,
        assumptions=tuple(assumptions),
    )
