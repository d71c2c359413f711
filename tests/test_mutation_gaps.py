"""Tests that close the mutation-testing gaps of issue 16.

Every expectation here is computed another way than the code under test: a hand formula,
central finite differences, or a NumPy re-computation of the definition. Never only another
gradflow function. Kept fast (a few tiny solves); see benchmarks/results/mutation.md.
"""

import dataclasses
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.losses import (
    CrossEntropy,
    Exp,
    Logistic,
    Square,
    empirical_loss,
    per_example,
    reduce,
)
from gradflow.metrics import (
    CONE_DEAD,
    CONE_MINUS,
    CONE_OTHER,
    CONE_PLUS,
    alignment_gap,
    alignment_time,
    balancedness,
    cone_gap,
    cones,
    cos_to_class,
    dead_margin,
    first_crossing,
    mu,
    target_cos,
    unit,
    x_minus,
    x_plus,
)
from gradflow.models import Linear, TwoLayerReLU
from gradflow.papers.du import (
    DuPopulation,
    population_data,
    population_loss,
    population_loss_nonoverlap,
    relu_kernel,
    relu_kernel_cov,
)
from gradflow.papers.min_mallada_vidal import AlignmentProblem, min_bounds

# Binary data in R^3 with exactly representable entries: positives around +e1, negatives
# around -e1, all with third coordinate 1/2. x_+ = (2, 0, 1), x_- = (-2, 0, 1).
X3 = np.array([[1.0, 0.25, 0.5], [1.0, -0.25, 0.5], [-1.0, 0.375, 0.5], [-1.0, -0.375, 0.5]])
Y3 = np.array([1.0, 1.0, -1.0, -1.0])
DATA3 = gf.Dataset(X3, Y3)
# a dead neuron exactly on the hyperplane of x_1: w . x_1 = 0, w . x_i < 0 for i = 2, 3, 4
W_DEAD = np.array([0.5, 2.0, -2.0])


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _fd_grad(f, x, h=1e-5):
    """Central finite differences of a scalar function of a 1-D float64 array."""
    x = np.asarray(x, dtype=float)
    f = jax.jit(f)
    g = np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (float(f(jnp.asarray(x + e))) - float(f(jnp.asarray(x - e)))) / (2 * h)
    return g


# ------------------------------------------------------------------------------------------
# clocks: every _sum column is the _mean column over n
# ------------------------------------------------------------------------------------------


def test_alignment_problem_row_sum_columns_are_mean_over_n():
    problem = AlignmentProblem(
        d=4, h=6, eps=1e-3, delta=0.1, t_max=300.0, t_end=300.0, loss_times=(300.0,),
        n_saves=24,
    )
    model, data, opts = problem({"n": 6, "mu": 0.5}, jax.random.key(0))
    row_fn, extra = opts.pop("row"), opts.pop("extra")
    traj = gf.solve_flow(model, data, **opts)
    row = {k: float(v) for k, v in row_fn(traj, model, data).items()} | extra
    n = data.n
    stems = sorted(k[: -len("_sum")] for k in row if k.endswith("_sum"))
    assert stems == ["bound_t1", "t_align", "t_cone"]
    for stem in stems:
        t_mean, t_sum = row[stem + "_mean"], row[stem + "_sum"]
        assert math.isfinite(t_mean) and t_mean > 0, (stem, t_mean)
        assert t_sum == pytest.approx(t_mean / n, rel=1e-14), stem
    # the cos-alignment time is the event time of the mean-clock solve
    assert row["t_align_mean"] == pytest.approx(float(traj.t_event), rel=1e-14)


def test_min_bounds_sum_and_mean_fields_by_hand():
    b = min_bounds(DATA3, h=3, eps=1e-3)
    fields = {f.name for f in dataclasses.fields(b)}
    stems = sorted(f[: -len("_sum")] for f in fields if f.endswith("_sum"))
    assert stems == ["dwell", "t1"]
    for stem in stems:
        assert getattr(b, stem + "_mean") == pytest.approx(4 * getattr(b, stem + "_sum"))
    # t1 and dwell by hand (no init given: zeta = zeta1), NumPy from the definitions
    z = Y3[:, None] * X3 / np.linalg.norm(X3, axis=1, keepdims=True)
    mu_ = np.min(z @ z.T)
    xp, xm = X3[:2].sum(0), X3[2:].sum(0)
    zeta1 = min(min(Y3[i] * _cos(xp, X3[i]) for i in range(4)),
                min(-Y3[i] * _cos(xm, X3[i]) for i in range(4))) ** 2
    xmin = np.linalg.norm(X3, axis=1).min()
    c = min(zeta1, mu_**2) * np.sqrt(mu_) * xmin
    assert b.t1_sum == pytest.approx(16 * np.log(4) / c, rel=1e-12)
    assert b.dwell_sum == pytest.approx(4 / c, rel=1e-12)
    assert b.dwell(2, clock="sum") == pytest.approx(2 / c, rel=1e-12)
    assert b.dwell(2, clock="mean") == pytest.approx(8 / c, rel=1e-12)


# ------------------------------------------------------------------------------------------
# the alignment threshold cos >= 1 - delta, hand-built neurons on both sides
# ------------------------------------------------------------------------------------------


def _neuron_at_cos(c, target):
    """A vector (norm 2) at cosine exactly ``c`` to ``target``, in the plane of e2."""
    u = target / np.linalg.norm(target)
    perp = np.array([0.0, 1.0, 0.0])  # orthogonal to x_+ and x_-
    return 2.0 * (c * u + np.sqrt(1 - c * c) * perp)


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_alignment_gap_on_both_sides_of_the_threshold(side):
    delta, eta = 0.02, 1e-4
    c = 1 - delta + side * eta
    xp, xm = X3[:2].sum(0), X3[2:].sum(0)
    deep = np.array([0.0, 0.0, -1.0])  # strictly dead: w . x_i = -1/2 for every sample
    w = np.stack([_neuron_at_cos(c, xp), _neuron_at_cos(1.0, xm), deep])
    v = np.array([0.3, -0.1, 0.7])
    model = TwoLayerReLU(jnp.asarray(w), jnp.asarray(v))
    # by hand: neuron 0 scores cos - (1 - delta) = side * eta, neuron 1 scores delta,
    # the dead neuron max(., dead margin 0.39) > 0: the gap is -side * eta
    gap = float(alignment_gap(model, DATA3, delta))
    assert gap == pytest.approx(-side * eta, abs=1e-12)
    assert (gap <= 0) == (side > 0)
    np.testing.assert_allclose(
        target_cos(model.w, model.v, DATA3), [c, 1.0, _cos(deep, xp)], rtol=0, atol=1e-14
    )
    # the Aligned stop's value is that same gap (its event fires at cos = 1 - delta)
    assert float(gf.aligned(delta)(model, DATA3, 0.0)) == pytest.approx(-side * eta, abs=1e-12)


def test_dead_neuron_on_its_hyperplane_is_dead_by_hand():
    assert float(X3[0] @ W_DEAD) == 0.0 and np.all(X3[1:] @ W_DEAD < 0)
    w = jnp.asarray(np.stack([W_DEAD, -W_DEAD, np.array([1.0, 0.0, 0.0])]))
    margins = np.asarray(dead_margin(w, DATA3))
    expect = [-max(_cos(wj, xi) for xi in X3) for wj in np.asarray(w)]
    np.testing.assert_allclose(margins, expect, rtol=0, atol=1e-15)
    assert margins[0] == 0.0  # exactly on the face: counted dead
    model = TwoLayerReLU(w, jnp.array([1.0, 1.0, 1.0]))
    assert list(np.asarray(cones(model, DATA3))) == [CONE_DEAD, CONE_OTHER, CONE_PLUS]
    # a net of the dead neuron alone is "aligned or dead": its gap is exactly 0
    assert float(alignment_gap(TwoLayerReLU(w[:1], jnp.ones(1)), DATA3, 1e-3)) == 0.0


def test_alignment_time_interpolates_hand_built_cosines():
    # one neuron (v > 0) whose cos to x_+ is 0.9, 0.95, 0.985, 0.995 at t = 0, 1, 2, 4:
    # with delta = 0.01 the gap 0.99 - cos is 0.005 at t = 2 and -0.005 at t = 4 -> t = 3
    xp = X3[:2].sum(0)
    cs = [0.9, 0.95, 0.985, 0.995]
    w = jnp.asarray(np.stack([_neuron_at_cos(c, xp)[None] for c in cs]))
    v = jnp.full((4, 1), 0.5)
    traj = types.SimpleNamespace(
        ts=jnp.array([0.0, 1.0, 2.0, 4.0]), model=types.SimpleNamespace(w=w, v=v),
        final=None, clock="sum",
    )
    res = alignment_time(traj, DATA3, 0.01)
    assert res.reached and res.clock == "sum"
    assert float(res.time) == pytest.approx(3.0, rel=1e-10)
    # delta = 0.02: gaps 0.03 at t = 1 and -0.005 at t = 2 -> t = 1 + 0.03 / 0.035
    res2 = alignment_time(traj, DATA3, 0.02)
    assert float(res2.time) == pytest.approx(1.0 + 0.03 / 0.035, rel=1e-10)


def test_aligned_stop_fires_where_the_numpy_cosine_reaches_threshold():
    delta = 0.05
    model = TwoLayerReLU.balanced(3, 4, 1e-3, key=jax.random.key(5))
    traj = gf.solve_flow(model, DATA3, t1=400.0, saveat=2, stop=gf.aligned(delta),
                         config=gf.FlowConfig(rtol=1e-8))
    assert traj.status == gf.Status.EVENT
    w, v = np.asarray(traj.final.w), np.asarray(traj.final.v)
    xp, xm = X3[:2].sum(0), X3[2:].sum(0)
    live = [j for j in range(4) if np.any(X3 @ w[j] > 0)]
    cos = np.array([_cos(w[j], xp if v[j] > 0 else xm) for j in live])
    assert len(live) >= 1
    assert np.all(cos >= 1 - delta - 1e-8), cos
    assert np.min(cos) == pytest.approx(1 - delta, abs=1e-8)  # the last one just crossed


# ------------------------------------------------------------------------------------------
# custom JVP and closed-form gradients against central finite differences
# ------------------------------------------------------------------------------------------


def test_relu_kernel_cov_derivatives_fd_and_hand():
    rng = np.random.default_rng(0)
    for _ in range(6):
        s_a, s_b = rng.uniform(0.3, 2.0, size=2)
        c = rng.uniform(-0.95, 0.95) * s_a * s_b
        x = np.array([s_a, s_b, c])
        f = lambda p: relu_kernel_cov(p[0], p[1], p[2])
        g = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(x)))
        np.testing.assert_allclose(g, _fd_grad(f, x), rtol=1e-7, atol=1e-10)
        # d/dc of s_a s_b h(c / (s_a s_b)) / (2 pi) = (pi - arccos u) / (2 pi)
        u = c / (s_a * s_b)
        assert g[2] == pytest.approx((np.pi - np.arccos(u)) / (2 * np.pi), rel=1e-12)
        # the value: s_a s_b (sin phi + (pi - phi) cos phi) / (2 pi)
        phi = np.arccos(u)
        val = s_a * s_b * (np.sin(phi) + (np.pi - phi) * np.cos(phi)) / (2 * np.pi)
        assert float(f(jnp.asarray(x))) == pytest.approx(val, rel=1e-12)


def test_relu_kernel_gradient_fd():
    rng = np.random.default_rng(1)
    for _ in range(3):
        w, v = rng.normal(size=5), rng.normal(size=5)
        gw = np.asarray(jax.grad(relu_kernel, argnums=0)(jnp.asarray(w), jnp.asarray(v)))
        gv = np.asarray(jax.grad(relu_kernel, argnums=1)(jnp.asarray(w), jnp.asarray(v)))
        np.testing.assert_allclose(gw, _fd_grad(lambda a, v=v: relu_kernel(a, jnp.asarray(v)), w),
                                   rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(gv, _fd_grad(lambda b, w=w: relu_kernel(jnp.asarray(w), b), v),
                                   rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("stride", [3, 4])  # overlapping (< size 4) and disjoint patches
def test_population_loss_gradient_fd(stride):
    d, size = 13, 4
    rng = np.random.default_rng(stride)
    w, w_star = rng.normal(size=size), rng.normal(size=size)
    f = lambda a: population_loss(a, jnp.asarray(w_star), d=d, stride=stride)
    g = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(w)))
    np.testing.assert_allclose(g, _fd_grad(f, w), rtol=1e-7, atol=1e-10)
    assert np.linalg.norm(g) > 1e-3  # a generic point, not a critical one
    if stride != 3:
        return
    # the engine's loss of DuPopulation on its dummy example is L + 1/2: same gradient
    model = DuPopulation(jnp.asarray(w), jnp.asarray(w_star), d=d, stride=stride)
    pdata = population_data()
    eng = lambda a: empirical_loss(
        DuPopulation(a, jnp.asarray(w_star), d=d, stride=stride), pdata.x, pdata.y, "square"
    )
    assert float(jax.jit(eng)(model.w)) == pytest.approx(float(f(model.w)) + 0.5, rel=1e-13)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(eng))(model.w)), g, rtol=1e-10,
                               atol=1e-13)


def test_population_loss_nonoverlap_gradient_fd_and_monte_carlo_free_form():
    rng = np.random.default_rng(7)
    k, size = 3, 4
    w, w_star = rng.normal(size=size), rng.normal(size=size)
    f = lambda a: population_loss_nonoverlap(a, jnp.asarray(w_star), k)
    g = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(w)))
    np.testing.assert_allclose(g, _fd_grad(f, w), rtol=1e-7, atol=1e-10)
    # the value by hand from the kernel formula, M(a, b) = K(a, b)/k + (k-1)|a||b|/(2 pi k)
    def kern(a, b):
        phi = np.arccos(np.clip(_cos(a, b), -1, 1))
        return np.linalg.norm(a) * np.linalg.norm(b) * (
            np.sin(phi) + (np.pi - phi) * np.cos(phi)) / (2 * np.pi)

    def m(a, b):
        return kern(a, b) / k + (k - 1) * np.linalg.norm(a) * np.linalg.norm(b) / (2 * np.pi * k)

    val = 0.5 * (m(w, w) - 2 * m(w, w_star) + m(w_star, w_star))
    assert float(f(jnp.asarray(w))) == pytest.approx(val, rel=1e-12)


# ------------------------------------------------------------------------------------------
# losses: derivatives by hand, reductions by NumPy
# ------------------------------------------------------------------------------------------


def test_loss_derivatives_by_hand():
    for f, y in [(0.7, 1.0), (-1.3, -1.0), (2.1, -1.0)]:
        fa, ya = jnp.asarray(f), jnp.asarray(y)
        ge = float(jax.grad(Exp())(fa, ya))
        assert ge == pytest.approx(-y * np.exp(-y * f), rel=1e-13)
        gl = float(jax.grad(Logistic())(fa, ya))
        assert gl == pytest.approx(-y / (1 + np.exp(y * f)), rel=1e-13)
        assert float(Logistic()(fa, ya)) == pytest.approx(np.log1p(np.exp(-y * f)), rel=1e-13)
        assert float(Exp()(fa, ya)) == pytest.approx(np.exp(-y * f), rel=1e-13)
    out, tgt = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 1.0, -0.5])
    assert float(Square()(out, tgt)) == pytest.approx(0.5 * (0.25 + 4.0 + 6.25), rel=1e-14)
    np.testing.assert_allclose(jax.grad(Square())(out, tgt), out - tgt, rtol=1e-14)
    logits = jnp.array([0.3, -1.2, 2.0, 0.1])
    p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum()
    np.testing.assert_allclose(jax.grad(CrossEntropy())(logits, 2), p - np.eye(4)[2],
                               rtol=1e-12, atol=1e-15)


def test_empirical_loss_and_reductions_by_numpy():
    rng = np.random.default_rng(3)
    x, y, beta = rng.normal(size=(7, 3)), np.sign(rng.normal(size=7)), rng.normal(size=3)
    data = gf.Dataset(x, y)
    per = np.exp(-y * (x @ beta))
    assert float(empirical_loss(Linear(jnp.asarray(beta)), data.x, data.y, "exp", "mean")) == \
        pytest.approx(per.mean(), rel=1e-13)
    assert float(empirical_loss(Linear(jnp.asarray(beta)), data.x, data.y, "exp", "sum")) == \
        pytest.approx(per.sum(), rel=1e-13)
    np.testing.assert_allclose(per_example(Exp(), data.x @ beta, data.y), per, rtol=1e-13)
    vals = jnp.asarray(rng.normal(size=5))
    assert float(reduce(vals, "sum")) == pytest.approx(float(np.sum(vals)), rel=1e-14)
    assert float(reduce(vals, "mean")) == pytest.approx(float(np.mean(vals)), rel=1e-14)


# ------------------------------------------------------------------------------------------
# metrics: NumPy re-computations of the definitions on random data
# ------------------------------------------------------------------------------------------


def test_alignment_metrics_match_numpy_definitions():
    rng = np.random.default_rng(11)
    n, d, h = 9, 4, 7
    x = rng.normal(size=(n, d))
    y = np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    data = gf.Dataset(x, y)
    w, v = rng.normal(size=(h, d)), rng.normal(size=h)
    model = TwoLayerReLU(jnp.asarray(w), jnp.asarray(v))
    xp, xm = x[y > 0].sum(0), x[y < 0].sum(0)
    np.testing.assert_allclose(x_plus(data), xp, rtol=1e-14)
    np.testing.assert_allclose(x_minus(data), xm, rtol=1e-14)
    np.testing.assert_allclose(unit(jnp.asarray(xp)), xp / np.linalg.norm(xp), rtol=1e-14)
    cp = np.array([_cos(wj, xp) for wj in w])
    cm = np.array([_cos(wj, xm) for wj in w])
    got_p, got_m = cos_to_class(model.w, data)
    np.testing.assert_allclose(got_p, cp, rtol=0, atol=1e-14)
    np.testing.assert_allclose(got_m, cm, rtol=0, atol=1e-14)
    tc = np.where(v > 0, cp, cm)
    np.testing.assert_allclose(target_cos(model.w, model.v, data), tc, rtol=0, atol=1e-14)
    cosx = np.array([[_cos(wj, xi) for xi in x] for wj in w])  # (h, n)
    dm = -cosx.max(axis=1)
    np.testing.assert_allclose(dead_margin(model.w, data), dm, rtol=0, atol=1e-14)
    delta = 0.1
    gap = -np.min(np.maximum(tc - (1 - delta), dm))
    assert float(alignment_gap(model, data, delta)) == pytest.approx(gap, abs=1e-14)
    s_plus = np.min(np.where(y > 0, cosx, -cosx), axis=1)
    s_minus = np.min(np.where(y > 0, -cosx, cosx), axis=1)
    cg = -np.min(np.maximum(np.where(v > 0, s_plus, s_minus), dm))
    assert float(cone_gap(model, data)) == pytest.approx(cg, abs=1e-14)
    np.testing.assert_allclose(balancedness(model), v**2 - (w**2).sum(1), rtol=1e-14)
    z = y[:, None] * x / np.linalg.norm(x, axis=1, keepdims=True)
    assert float(mu(data)) == pytest.approx(np.min(z @ z.T), abs=1e-14)


def test_cones_by_hand_on_every_code():
    # x_1, x_2 positive, x_3, x_4 negative: (1, 0, 0) in S_+, (-1, 0, 0) in S_-
    w = jnp.asarray(np.stack([[1.0, 0, 0], [-1.0, 0, 0], W_DEAD, [0.0, 1.0, 0.0]]))
    model = TwoLayerReLU(w, jnp.array([1.0, -1.0, 1.0, 1.0]))
    assert list(np.asarray(cones(model, DATA3))) == [CONE_PLUS, CONE_MINUS, CONE_DEAD, CONE_OTHER]
    # the cone gap: neuron 0 (v > 0) scores min_i y_i cos(w, x_i) > 0, neuron 1 (v < 0) too;
    # neuron 3 (in no cone, v > 0) scores min_i y_i cos = -cos(e2, x_3) < 0: gap > 0
    s3 = min(Y3[i] * _cos(np.array([0.0, 1.0, 0.0]), X3[i]) for i in range(4))
    d3 = -max(_cos(np.array([0.0, 1.0, 0.0]), xi) for xi in X3)
    assert float(cone_gap(model, DATA3)) == pytest.approx(-max(s3, d3), abs=1e-14)


# ------------------------------------------------------------------------------------------
# kinks: a dead neuron exactly on its hyperplane stays off and logs no switch
# ------------------------------------------------------------------------------------------


def test_dead_neuron_on_its_hyperplane_stays_off_in_track_mode():
    key = jax.random.key(2)
    live = TwoLayerReLU.gaussian(3, 3, 0.3, key=key)
    # neuron 1 sits on the hyperplane of x_1 too, but is active on x_2: a tie with dz != 0
    w_tie = np.array([0.5, -1.0, -0.5])  # . x_1 = 0, . x_2 = 0.5, . x_3, . x_4 < 0
    w = jnp.asarray(np.concatenate([W_DEAD[None], w_tie[None], np.asarray(live.w)]))
    v = jnp.concatenate([jnp.array([0.6, 0.8]), live.v])
    assert float(X3[0] @ w_tie) == 0.0 and float(X3[1] @ w_tie) > 0
    assert np.all(X3[2:] @ w_tie < 0)
    model = TwoLayerReLU(w, v)
    cfg = gf.FlowConfig(rtol=1e-9, kinks="track")
    traj = gf.solve_flow(model, DATA3, t1=20.0, saveat=jnp.array([0.0, 5.0, 20.0]), config=cfg)
    assert traj.status == gf.Status.SUCCESS
    ev = traj.events
    count = int(ev.count)
    assert count >= 1  # other neurons did switch (the tie code ran at those kinks)
    assert 0 not in np.asarray(ev.neuron[:count]).tolist()
    assert not np.any(np.asarray(ev.initial[:, 0]))
    # frozen exactly: it gets no gradient at all
    np.testing.assert_array_equal(np.asarray(traj.model.w[:, 0]), np.tile(W_DEAD, (3, 1)))
    np.testing.assert_array_equal(np.asarray(traj.model.v[:, 0]), np.full(3, 0.6))
    # the tie of neuron 1 on x_1 takes the side of dz/dt = -x_1 . dL/dw_1, by hand (mean exp
    # loss, only strictly active samples): dz = (1/n) sum_i y_i e^{-y_i f_i} v_1 (x_i . x_1)
    wn, vn = np.asarray(w), np.asarray(v)
    f_i = np.maximum(X3 @ wn.T, 0.0) @ vn
    act = X3 @ w_tie > 0
    dz = float(np.sum(act * Y3 * np.exp(-Y3 * f_i) * vn[1] * (X3 @ X3[0])) / 4)
    assert dz > 1e-3  # it switches on for x_1 at t0
    assert bool(ev.initial[0, 1])
    assert bool(ev.initial[1, 1]) and not np.any(np.asarray(ev.initial[2:, 1]))


# ------------------------------------------------------------------------------------------
# the atol rule: atol = atol_factor * rtol * rms(theta0), and the solve uses it
# ------------------------------------------------------------------------------------------


def _atol_problem():
    # half the entries start at exactly 0: their error tolerance is atol alone
    w = 1e-4 * np.array([[1.0, -0.5, 0.0], [0.3, 0.8, 0.0], [-0.7, 0.2, 0.0], [0.4, -0.9, 0.0]])
    v = 1e-4 * np.array([1.2, -0.9, 0.0, 0.0])
    return TwoLayerReLU(jnp.asarray(w), jnp.asarray(v))


def test_atol_rule_by_hand():
    model = _atol_problem()
    leaves = np.concatenate([np.ravel(model.w), np.ravel(model.v)])
    rms = np.sqrt(np.mean(leaves**2))  # over all 16 entries, not a mean of per-leaf RMS
    assert float(gf.FlowConfig().atol_for(model)) == pytest.approx(1e-2 * 1e-6 * rms, rel=1e-13)
    cfg = gf.FlowConfig(rtol=3e-7, atol_factor=0.25)
    assert float(cfg.atol_for(model)) == pytest.approx(0.25 * 3e-7 * rms, rel=1e-13)
    assert float(gf.FlowConfig(atol=5e-9).atol_for(model)) == 5e-9


def test_solve_uses_the_documented_atol():
    model = _atol_problem()
    leaves = np.concatenate([np.ravel(model.w), np.ravel(model.v)])
    rule = 1e-2 * 1e-5 * float(np.sqrt(np.mean(leaves**2)))
    ts = jnp.array([0.0, 30.0])

    def run(**kw):
        return gf.solve_flow(model, DATA3, t1=30.0, saveat=ts, config=gf.FlowConfig(rtol=1e-5,
                                                                                     **kw))

    # atol as an array: the explicit and the loose solve share one compilation
    default, explicit = run(), run(atol=jnp.asarray(rule))
    loose = run(atol=jnp.asarray(100 * rule))
    assert int(default.stats["num_steps"]) == int(explicit.stats["num_steps"])
    np.testing.assert_allclose(default.final.w, explicit.final.w, rtol=1e-12, atol=0)
    # the step count is sensitive to atol here, so the equality above has power
    assert int(loose.stats["num_steps"]) != int(default.stats["num_steps"])


# ------------------------------------------------------------------------------------------
# Min et al.'s bounds: cases that the symmetric hand examples could not tell apart
# ------------------------------------------------------------------------------------------


def test_min_bounds_asymmetric_zeta1_and_helpers_by_hand():
    # x_+ side and x_- side give different caps: 0.7234 (positives) vs 0.6 (negatives)
    x = np.array([[2.0, 0.0], [1.0, 0.5], [-0.6, -0.8]])
    y = np.array([1.0, 1.0, -1.0])
    xp, xm = x[:2].sum(0), x[2]
    plus = min(y[i] * _cos(xp, x[i]) for i in range(3))
    minus = min(-y[i] * _cos(xm, x[i]) for i in range(3))
    assert plus > minus + 0.1
    b = min_bounds(gf.Dataset(x, y), h=2, eps=1e-3)
    assert b.zeta1 == pytest.approx(min(plus, minus) ** 2, rel=1e-12)
    # loss bound at t2 != 0: L(t2) / (L(t2) alpha (t - t2) + 1), and L(t2) before t2
    a = b.alpha
    got = b.loss_bound(np.array([1.0, 3.0, 10.0]), t2=3.0, loss_t2=0.5)
    np.testing.assert_allclose(got, [0.5, 0.5, 0.5 / (0.5 * a * 7.0 + 1)], rtol=1e-14)
    # stable rank bound 2 + slack / |W|_2^2 with |W|_2^2 != 1
    assert b.stable_rank_bound(4.0) == pytest.approx(2.0 + b.rank_slack / 4.0, rel=1e-14)
    for bad in (0, 4):  # n_active must lie in [1, n = 3]
        with pytest.raises(ValueError, match="n_active"):
            b.dwell(bad)
    with pytest.raises(ValueError, match="zero input"):
        min_bounds(gf.Dataset(np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.1]]), y), h=1, eps=1e-3)


def test_min_bounds_with_w_max_not_one_and_imbalance_by_hand():
    x = np.array([[2.0, 0.0], [1.0, 0.5], [-0.6, -0.8]])
    y = np.array([1.0, 1.0, -1.0])
    data = gf.Dataset(x, y)
    w0 = np.array([[3.0, 0.0], [0.0, -1.0]])  # W_max = 3
    v = np.array([3.0, -np.sqrt(1.5)])  # |v_2^2 - |w_2|^2| = 0.5: imbalance 0.5 / 9
    b = min_bounds(data, h=2, eps=1e-3, W0=w0, v=v)
    assert b.W_max == 3.0
    assert b.rank_slack == pytest.approx(4 * np.sqrt(2) * 1e-3 * 9.0, rel=1e-14)
    term1 = min(b.mu, b.zeta, b.xi) * np.sqrt(b.mu) * b.X_min / (
        4 * np.sqrt(2) * 3 * b.X_max**2 * 9.0)
    assert b.eps_terms[0] == pytest.approx(np.log(term1), rel=1e-13)
    assert any("= 0.0556" in a for a in b.assumptions), b.assumptions
    # the 1e-6 threshold: 1.5e-6 is flagged, 0.5e-6 is not
    for rel, flagged in ((1.5e-6, True), (0.5e-6, False)):
        vv = np.array([3.0, -np.sqrt(1.0 + rel * 9.0)])
        got = min_bounds(data, h=2, eps=1e-3, W0=w0, v=vv).assumptions
        assert any("not balanced" in a for a in got) == flagged, (rel, got)


# ------------------------------------------------------------------------------------------
# alignment metrics: edge cases the first mutation pass showed untested
# ------------------------------------------------------------------------------------------


def test_unit_numpy_branch_and_zero_vector():
    u = unit(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert isinstance(u, np.ndarray)
    np.testing.assert_array_equal(u, [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(unit(jnp.array([[3.0, 4.0], [0.0, 0.0]])), u, rtol=1e-15)


def test_zero_readout_targets_the_minus_class():
    # v_j = 0 counts as "v_j <= 0": the neuron targets x_- and the cone S_- (module docs)
    xp, xm = X3[:2].sum(0), X3[2:].sum(0)
    w = jnp.asarray(np.array([[-1.0, 0.0, 0.0]]))  # in S_-, cos(w, x_-) = 2 / sqrt(5)
    model = TwoLayerReLU(w, jnp.zeros(1))
    assert float(target_cos(model.w, model.v, DATA3)[0]) == pytest.approx(_cos(w[0], xm))
    s_minus = min(-Y3[i] * _cos(np.asarray(w[0]), X3[i]) for i in range(4))
    assert float(cone_gap(model, DATA3)) == pytest.approx(-s_minus, abs=1e-14)
    assert s_minus > 0 and _cos(np.asarray(w[0]), xp) < 0


def test_first_crossing_between_the_first_two_saves_and_its_tolerance():
    ts = jnp.array([0.0, 2.0, 3.0])
    # g = 1 at t = 0 and -3 at t = 2: crossing at t = 0.5 (interpolated from the FIRST save)
    assert float(first_crossing(ts, jnp.array([1.0, -3.0, -4.0]))) == pytest.approx(0.5)
    # g = 1.5e-9 is above the default tolerance 1e-9: not a crossing
    assert math.isnan(float(first_crossing(ts, jnp.array([1.0, 1.0, 1.5e-9]))))
    # ... while 0.5e-9 is (the interpolated root lies just past t = 3: clipped to the save)
    assert float(first_crossing(ts, jnp.array([1.0, 1.0, 0.5e-9]))) == 3.0


def test_relu_kernel_degenerate_points():
    # a zero filter: E[relu(w . z) relu(0)] = 0, and the loss at w = 0 is (1/2) M(w*, w*)
    w = jnp.array([0.3, -1.2, 0.5])
    assert float(relu_kernel(w, jnp.zeros(3))) == 0.0
    assert float(relu_kernel_cov(jnp.asarray(0.0), jnp.asarray(2.0), jnp.asarray(0.0))) == 0.0
    # E[relu(a)^2] = s^2 / 2 for a ~ N(0, s^2); with k = 1 patch L(0) = |w*|^2 / 4
    ws = jnp.array([1.0, 2.0, -2.0])
    assert float(population_loss(jnp.zeros(3), ws, d=3, stride=1)) == pytest.approx(9 / 4)
    # a covariance rounded just past s_a s_b (parallel filters): the custom derivative stays
    # at its limit h'(1) / (2 pi) = 1/2 instead of arccos(1 + ulp) = NaN
    g = jax.grad(lambda c: relu_kernel_cov(jnp.asarray(1.0), jnp.asarray(1.0), c))
    assert float(g(jnp.asarray(1.0 + 4e-16))) == pytest.approx(0.5, rel=1e-12)
