"""Min, Mallada & Vidal Theorem 1 constants, checked against hand computations."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gradflow.data import Dataset
from gradflow.models import TwoLayerReLU
from gradflow.papers.min_mallada_vidal import MinBounds, min_bounds, two_point

# x1 = (2, 0) labelled +1, x2 = (-0.6, -0.8) labelled -1: z2 = y2 x2 = (0.6, 0.8), mu = 0.6,
# X_min = 1, X_max = 2, n = 2. x_+ = (2, 0), x_- = (-0.6, -0.8):
# sqrt(zeta1) = min(y_i cos(x_+, x_i), -y_i cos(x_-, x_i)) = min(1, 0.6, 0.6, 1) = 0.6.
TINY = Dataset(np.array([[2.0, 0.0], [-0.6, -0.8]]), np.array([1.0, -1.0]))
# init rows: w1 = (1, 0) with v1 > 0 (cos(w1, x_-) = -0.6 < 0), w2 with v2 < 0 and
# cos(w2, x_+) = 0.9: zeta2 = 1 - 0.9^2 = 0.19 < zeta1 = 0.36.
W0 = np.array([[1.0, 0.0], [0.9, math.sqrt(0.19)]])
V = np.array([1.0, -1.0])


def test_hand_computed_constants():
    b = min_bounds(TINY, h=2, eps=1e-3, W0=W0, v=V)
    assert isinstance(b, MinBounds)
    assert (b.n, b.h, b.mu, b.X_min, b.X_max, b.W_max) == (2, 2, pytest.approx(0.6), 1.0, 2.0, 1.0)
    assert b.zeta1 == pytest.approx(0.36, rel=1e-12)
    assert b.zeta2 == pytest.approx(0.19, rel=1e-12)
    assert b.zeta == pytest.approx(0.19, rel=1e-12)  # the min, not the paper's printed max
    assert b.xi == pytest.approx(0.36, rel=1e-12)  # mu^2
    c = 0.19 * math.sqrt(0.6) * 1.0  # min{zeta, xi} sqrt(mu) X_min
    assert b.t1_sum == pytest.approx(16 * math.log(2) / c, rel=1e-12)
    assert b.t1_mean == pytest.approx(2 * b.t1_sum, rel=1e-15)  # t_mean = n * t_sum
    assert b.dwell_sum == pytest.approx(4 / c, rel=1e-12)
    assert b.dwell(2) == pytest.approx(2 / c, rel=1e-12)
    assert b.dwell(1, clock="mean") == pytest.approx(8 / c, rel=1e-12)
    assert b.alpha == pytest.approx((0.6 * 1.0) ** 2 / (32 * 2.0), rel=1e-12)
    assert b.rank_slack == pytest.approx(4 * math.sqrt(2) * 1e-3, rel=1e-12)
    # eq. (28), first term: (29) needs max|f| <= min{mu,zeta,xi} sqrt(mu) X_min / (4 n X_max)
    # and Lemma 3 gives max|f| <= 2 eps sqrt(h) X_max W_max^2, so the factor is 4 * 2 = 8
    # (the paper prints 4): sqrt(h) = sqrt(2), n = 2, X_max^2 = 4, W_max = 1
    log1 = math.log(0.19 * math.sqrt(0.6) / (8 * math.sqrt(2) * 2 * 4.0))
    assert b.log_eps_term1_paper == pytest.approx(log1 + math.log(2), rel=1e-12)
    log2 = -0.5 * math.log(2) - 64 * 2 * 2.0 * math.log(2) / c
    assert b.eps_terms == (pytest.approx(log1, rel=1e-12), pytest.approx(log2, rel=1e-12))
    assert b.log_eps_max == pytest.approx(log2, rel=1e-12)
    assert b.eps_max == 0.0 and not b.eps_ok  # e^-1206 underflows; compared in log space
    assert not b.eps_representable  # -1206 < log(5e-324) = -744.4: no float satisfies (28)
    assert b.assumptions == ()
    text = b.describe()
    assert "sum clock" in text and "mean clock" in text and "VIOLATES" in text
    assert "outside Theorem 1" in text and "-1206" in text


def test_t2_and_cos_window_by_hand():
    # eq. (39): t2_+ <= t1 + 6/(sqrt(mu) n_+ X_min)
    #                  + 4/(sqrt(mu) n_+ X_min) (log(2 / (eps^2 sqrt(mu) X_min W_min^2))
    #                                            + 4 n X_max t1)
    # TINY: n_+ = n_- = 1, mu = 0.6, X_min = 1, X_max = 2, n = 2. Row 2 halved: W_min = 0.5,
    # W_max = 1, zeta2 unchanged (a direction), so t1 is as in the first test.
    eps = 1e-3
    W0h = W0 * np.array([[1.0], [0.5]])
    b = min_bounds(TINY, h=2, eps=eps, W0=W0h, v=V)
    assert (b.n_plus, b.n_minus, b.W_max, b.W_min) == (1, 1, 1.0, pytest.approx(0.5))
    t1 = 16 * math.log(2) / (0.19 * math.sqrt(0.6))
    assert b.t1_sum == pytest.approx(t1, rel=1e-12)
    r = math.sqrt(0.6) * 1 * 1.0
    start = t1 + 6 / r
    t2 = start + 4 / r * (math.log(2 / (eps**2 * math.sqrt(0.6) * 1.0 * 0.25)) + 4 * 2 * 2.0 * t1)
    assert b.cos_start_plus_sum == pytest.approx(start, rel=1e-12)
    assert b.t2_plus_sum == pytest.approx(t2, rel=1e-12)
    assert b.t2_minus_sum == pytest.approx(t2, rel=1e-12)  # n_- = n_+ = 1
    assert b.t2_sum == pytest.approx(t2, rel=1e-12) and b.t2_mean == pytest.approx(2 * t2)
    assert b.cos_window("+") == (pytest.approx(start), pytest.approx(t2))
    assert b.cos_window("-", clock="mean") == (pytest.approx(2 * start), pytest.approx(2 * t2))
    # the window starts AFTER t1: cos >= 1/4 is not claimed "by t1"
    assert b.cos_start_plus_sum > b.t1_sum


def test_unequal_classes_t2_by_hand():
    # x1 = (2, 0), x3 = (1, 0.5) positive, x2 = (-0.6, -0.8) negative: n_+ = 2, n_- = 1
    x = np.array([[2.0, 0.0], [-0.6, -0.8], [1.0, 0.5]])
    data = Dataset(x, np.array([1.0, -1.0, 1.0]))
    W = np.array([[1.0, 0.0], [0.0, -2.0]])  # v1 > 0, v2 < 0; W_max = 2, W_min = 1
    eps = 1e-4
    b = min_bounds(data, h=2, eps=eps, W0=W, v=np.array([1.0, -1.0]))
    # by hand: z3 = (1, .5)/sqrt(1.25); cos(z1, z2) = .6, cos(z1, z3) = cos(z2, z3) = 1/sqrt(1.25)
    mu = 0.6
    xp, xm = np.array([3.0, 0.5]), np.array([-0.6, -0.8])
    cos = lambda a, c: float(a @ c / np.linalg.norm(a) / np.linalg.norm(c))  # noqa: E731
    root_z1 = min(cos(xp, x[0]), cos(xp, x[2]), -cos(xp, x[1]),
                  -cos(xm, x[0]), -cos(xm, x[2]), cos(xm, x[1]))
    zeta2 = 1 - max(0.0, cos(W[0], xm), cos(W[1], xp)) ** 2
    zeta = min(root_z1**2, zeta2)
    t1 = 16 * math.log(3) / (min(zeta, mu**2) * math.sqrt(mu) * 1.0)
    assert b.mu == pytest.approx(mu, rel=1e-12) and b.t1_sum == pytest.approx(t1, rel=1e-12)
    L = math.log(2 / (eps**2 * math.sqrt(mu) * 1.0 * 1.0))
    t2p = t1 + 6 / (math.sqrt(mu) * 2) + 4 / (math.sqrt(mu) * 2) * (L + 4 * 3 * 2.0 * t1)
    t2m = t1 + 6 / (math.sqrt(mu) * 1) + 4 / (math.sqrt(mu) * 1) * (L + 4 * 3 * 2.0 * t1)
    assert (b.n_plus, b.n_minus, b.W_max, b.W_min) == (2, 1, 2.0, 1.0)
    assert b.t2_plus_sum == pytest.approx(t2p, rel=1e-12)
    assert b.t2_minus_sum == pytest.approx(t2m, rel=1e-12)
    assert b.t2_sum == pytest.approx(max(t2p, t2m), rel=1e-12)
    assert b.cos_start_plus_sum == pytest.approx(t1 + 6 / (math.sqrt(mu) * 2), rel=1e-12)
    assert b.cos_start_minus_mean == pytest.approx(3 * (t1 + 6 / math.sqrt(mu)), rel=1e-12)
    # eq. (28) with factor 8, W_max = 2, h = 2, n = 3, X_max = 2
    log1 = math.log(min(mu, zeta, mu**2) * math.sqrt(mu) / (8 * math.sqrt(2) * 3 * 4 * 4))
    assert b.eps_terms[0] == pytest.approx(log1, rel=1e-12)


def test_model_init_and_defaults():
    eps = 1e-3
    model = TwoLayerReLU(w=jnp.asarray(eps * W0), v=jnp.asarray(eps * V))
    b = min_bounds(TINY, h=2, eps=eps, model=model)
    ref = min_bounds(TINY, h=2, eps=eps, W0=W0, v=V)
    assert b.zeta2 == pytest.approx(ref.zeta2) and b.W_max == pytest.approx(ref.W_max)
    gauss = TwoLayerReLU(w=jnp.asarray(eps * W0), v=jnp.asarray(eps * 3 * V))
    assert any("not balanced" in a for a in min_bounds(TINY, h=2, eps=eps, model=gauss).assumptions)
    with pytest.raises(ValueError, match="W0 must have shape"):
        min_bounds(TINY, h=3, eps=eps, model=model)
    bare = min_bounds(TINY, h=2, eps=eps)
    assert math.isnan(bare.zeta2) and bare.zeta == pytest.approx(0.36) and bare.W_max == 1.0
    assert bare.W_min == 1.0
    assert len(bare.assumptions) == 2
    assert bare.t1_sum == pytest.approx(16 * math.log(2) / (0.36 * math.sqrt(0.6)), rel=1e-12)
    # without signs every row takes its worse sign: w1 = (1, 0) points at x_+, so with v1 < 0
    # (26) would fail: zeta2 = 0 and Theorem 1 gives no finite t1
    no_sign = min_bounds(TINY, h=2, eps=eps, W0=W0)
    assert no_sign.zeta2 == pytest.approx(0.0, abs=1e-15)
    assert math.isinf(no_sign.t1_sum) and not no_sign.eps_ok
    one_row = min_bounds(TINY, h=1, eps=eps, W0=W0[1:])  # cos 0.9 to x_+, -0.89 to x_-
    assert one_row.zeta2 == pytest.approx(0.19, rel=1e-12)


def test_eps_condition_on_perfectly_separated_pair():
    # mu = zeta1 = xi = 1, X = 1, n = 2, h = 1, W_max = 1:
    # eps_max = min{1 / 16, exp(-128 log 2)} = 2^-128 (first term 1 / (8 n) with factor 8)
    data = Dataset(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, -1.0]))
    b = min_bounds(data, h=1, eps=1e-40, W0=np.array([[0.0, 1.0]]), v=np.array([1.0]))
    assert (b.mu, b.zeta1, b.zeta2, b.xi) == (1.0, 1.0, 1.0, 1.0)
    assert b.eps_max == pytest.approx(2.0**-128, rel=1e-10)
    assert b.eps_ok and b.eps_representable
    assert b.eps_terms[0] == pytest.approx(math.log(1 / 16), rel=1e-12)
    assert not min_bounds(data, h=1, eps=2.0**-127).eps_ok
    assert b.t1_sum == pytest.approx(16 * math.log(2))
    # the 1/t loss bound: L(t2) at t2, then decreasing like 1/(alpha t)
    L = b.loss_bound(np.array([0.0, 1.0, 100.0]), t2=0.0, loss_t2=2.0)
    np.testing.assert_allclose(L, [2.0, 2.0 / (2.0 / 32 + 1), 2.0 / (200.0 / 32 + 1)])
    assert b.stable_rank_bound(1.0) == pytest.approx(2.0 + 4e-40)


def test_delta_coverage():
    # the proof of D.2 gives cos >= 1/4 (on a window after t1): it reaches 1 - delta iff
    # delta >= 3/4
    assert min_bounds(TINY, h=2, eps=1e-3, delta=0.75).delta_covered
    assert not min_bounds(TINY, h=2, eps=1e-3, delta=0.74).delta_covered
    assert min_bounds(TINY, h=2, eps=1e-3, delta=0.8).delta_covered
    assert not min_bounds(TINY, h=2, eps=1e-3, delta=1e-3).delta_covered


@pytest.mark.parametrize(
    "data,kwargs,match",
    [
        (Dataset(np.eye(2), np.array([1.0, -1.0])), {}, "mu must be > 0.*not mu-separated"),
        (TINY, dict(eps=0.0), "eps"),
        (TINY, dict(eps=-1.0), "eps"),
        (two_point(0.3), {}, "empty negative"),
        (TINY, dict(h=0), "h must"),
        (TINY, dict(W0=np.ones((3, 2))), "W0 must have shape"),
        (TINY, dict(delta=0.0), "delta"),
    ],
)
def test_errors(data, kwargs, match):
    args = dict(h=2, eps=1e-3) | kwargs
    with pytest.raises(ValueError, match=match):
        min_bounds(data, **args)
