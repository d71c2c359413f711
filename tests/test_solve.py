"""Engine tests: closed-form flows, invariants, GD -> GF, vmap == loop, status, events."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.losses import empirical_loss
from gradflow.models import Linear, TwoLayerReLU


def toy(theta):
    x = jnp.array([[1.0, 0.0], [np.sin(theta), np.cos(theta)]])
    return gf.Dataset(x, jnp.ones(2))


def blob(n=20, d=5, *, key):
    """Two well-separated classes around +u and -u (mu-separated)."""
    kx, ky = jax.random.split(key)
    u = jnp.zeros(d).at[0].set(1.0)
    y = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
    x = y[:, None] * u + 0.3 * jax.random.normal(kx, (n, d)) / jnp.sqrt(d)
    return gf.Dataset(x, y)


def test_linear_flow_matches_matrix_exponential():
    # square loss, mean: d(beta)/dt = -A beta + b, A = X^T X / n, b = X^T y / n
    key = jax.random.key(1)
    kx, ky, kb = jax.random.split(key, 3)
    x = jax.random.normal(kx, (12, 4))
    y = jax.random.normal(ky, (12,))
    beta0 = jax.random.normal(kb, (4,))
    data = gf.Dataset(x, y)
    ts = jnp.array([0.0, 0.3, 1.0, 2.5])
    traj = gf.solve_flow(
        Linear(beta0), data, loss="square", t1=2.5, saveat=ts,
        config=gf.FlowConfig(rtol=1e-11),
    )
    assert traj.status == gf.Status.SUCCESS
    A = x.T @ x / 12
    b = x.T @ y / 12
    star = jnp.linalg.solve(A, b)
    for k, t in enumerate(ts):
        exact = star + jax.scipy.linalg.expm(-A * t) @ (beta0 - star)
        np.testing.assert_allclose(traj.model.beta[k], exact, atol=1e-8, rtol=0)


def test_sum_clock_is_mean_clock_over_n():
    data = blob(key=jax.random.key(0))
    model = TwoLayerReLU.balanced(5, 8, 1e-2, key=jax.random.key(2))
    cfg = gf.FlowConfig(rtol=1e-10)
    mean = gf.solve_flow(model, data, t1=6.0, saveat=jnp.array([0.0, 6.0]), config=cfg)
    summ = gf.solve_flow(
        model, data, reduction="sum", t1=6.0 / data.n, saveat=jnp.array([0.0, 6.0 / data.n]),
        config=cfg,
    )
    assert mean.clock == "mean" and summ.clock == "sum"
    scale = float(jnp.max(jnp.abs(mean.final.w)))
    np.testing.assert_allclose(mean.final.w, summ.final.w, rtol=0, atol=1e-8 * scale)
    assert not np.allclose(mean.final.w, model.w, atol=1e-3 * scale)  # it moved


def test_gradient_matches_finite_differences():
    data = blob(key=jax.random.key(3))
    model = TwoLayerReLU.gaussian(5, 6, 0.5, key=jax.random.key(4))
    for loss in ("exp", "logistic", "square"):
        f = lambda w, loss=loss: empirical_loss(TwoLayerReLU(w, model.v), data.x, data.y, loss)
        g = jax.grad(f)(model.w)
        h = 1e-6
        for j, k in [(0, 0), (2, 3), (5, 4)]:
            e = jnp.zeros_like(model.w).at[j, k].set(h)
            fd = (f(model.w + e) - f(model.w - e)) / (2 * h)
            np.testing.assert_allclose(g[j, k], fd, rtol=1e-6, atol=1e-10)


def balancedness(m):
    return m.v**2 - jnp.sum(m.w**2, axis=-1)


def test_balancedness_conserved_by_gf_not_by_large_step_gd():
    data = blob(key=jax.random.key(5))
    model = TwoLayerReLU.balanced(5, 10, 1e-3, key=jax.random.key(6))
    traj = gf.solve_flow(model, data, t1=40.0, saveat=16, config=gf.FlowConfig(rtol=1e-8))
    assert traj.status.ok
    norms = jnp.sum(traj.model.w**2, axis=-1)           # (T, h)
    drift = jnp.abs(balancedness(traj.model)) / norms    # init value is exactly 0
    assert float(jnp.max(norms[-1])) > 1e3 * 1e-6        # the neurons really grew
    assert float(jnp.max(drift)) <= 1e-6
    big = gf.gd(model, data, eta=0.5, steps=80, saves=8)
    gd_drift = jnp.abs(balancedness(big.model)) / jnp.sum(big.model.w**2, axis=-1)
    assert float(jnp.max(gd_drift)) > 1e-3              # GD with large eta breaks it


def test_gd_converges_to_gf_linearly_in_eta():
    data = blob(key=jax.random.key(7))
    model = TwoLayerReLU.gaussian(5, 6, 0.3, key=jax.random.key(8))
    t = 2.0
    ref = gf.solve_flow(model, data, t1=t, saveat=jnp.array([0.0, t]),
                        config=gf.FlowConfig(rtol=1e-11))
    errs = []
    for eta in (0.02, 0.01, 0.005):
        run = gf.gd(model, data, eta=eta, steps=round(t / eta), saves=1)
        assert abs(float(run.t_final) - t) < 1e-12
        errs.append(float(jnp.linalg.norm(run.final.w - ref.final.w)))
    r1, r2 = errs[0] / errs[1], errs[1] / errs[2]
    assert 1.8 < r1 < 2.2 and 1.8 < r2 < 2.2, errs


def test_same_seed_identical_and_vmap_equals_loop():
    data = blob(key=jax.random.key(9))
    keys = jax.random.split(jax.random.key(10), 3)
    saveat = jnp.array([0.0, 5.0, 20.0])

    def run(key):
        m = TwoLayerReLU.balanced(5, 6, 1e-4, key=key)
        return gf.solve_flow(m, data, t1=20.0, saveat=saveat).final.w

    a, b = run(keys[0]), run(keys[0])
    assert bool(jnp.all(a == b))
    batched = jax.vmap(run)(keys)
    for i in range(3):
        np.testing.assert_allclose(batched[i], run(keys[i]), rtol=1e-6, atol=1e-4 * 1e-4)
    assert not np.allclose(batched[0], batched[1])


def test_two_point_toy_loss_profile():
    model = TwoLayerReLU.gaussian(2, 50, 1e-6, key=jax.random.key(0))
    ts = jnp.array([0.0, 5.0, 14.0, 20.0, 42.0])
    losses = {}
    for theta in (0.1, 0.001):
        traj = gf.solve_flow(model, toy(theta), t1=42.0, saveat=ts)
        assert traj.status == gf.Status.SUCCESS
        losses[theta] = np.asarray(traj.loss)
        assert abs(losses[theta][1] - 1.0) < 1e-3       # plateau near 1 at t = 5
        assert losses[theta][-1] <= 0.05                # trained by t = 42
    # smaller theta (smaller mu) is slower: higher loss mid-way
    assert losses[0.001][3] > losses[0.1][3]


def test_eps_independence_of_relative_error_and_steps():
    data = blob(key=jax.random.key(11))
    base = TwoLayerReLU.balanced(5, 8, 1.0, key=jax.random.key(12))
    errs, steps = [], []
    for eps in (1e-3, 1e-6, 1e-9):
        model = jax.tree_util.tree_map(lambda a, eps=eps: eps * a, base)
        cfg = gf.FlowConfig(rtol=1e-6)
        ts = jnp.array([0.0, 8.0])
        run = gf.solve_flow(model, data, t1=8.0, saveat=ts, config=cfg)
        ref = gf.solve_flow(model, data, t1=8.0, saveat=ts, config=gf.FlowConfig(rtol=1e-12))
        errs.append(float(jnp.linalg.norm(run.final.w - ref.final.w) /
                          jnp.linalg.norm(ref.final.w)))
        steps.append(int(run.stats["num_steps"]))
    assert max(errs) < 1e-3  # global error at rtol 1e-6 (kinks cost order)
    assert max(errs) / min(errs) < 2.0, errs
    assert max(steps) / min(steps) < 2.0, steps


def test_fixed_atol_fails_where_scaled_atol_works():
    # shows the scaled-atol rule matters: an absolute 1e-8 swamps an eps = 1e-9 init
    data = blob(key=jax.random.key(11))
    model = TwoLayerReLU.balanced(5, 8, 1e-9, key=jax.random.key(12))
    ts = jnp.array([0.0, 8.0])
    ref = gf.solve_flow(model, data, t1=8.0, saveat=ts, config=gf.FlowConfig(rtol=1e-12))
    bad = gf.solve_flow(model, data, t1=8.0, saveat=ts, config=gf.FlowConfig(rtol=1e-6,
                                                                              atol=1e-8))
    err = float(jnp.linalg.norm(bad.final.w - ref.final.w) / jnp.linalg.norm(ref.final.w))
    assert err > 1e-4


def test_status_reports_max_steps_and_nonfinite():
    data = toy(0.1)
    model = TwoLayerReLU.gaussian(2, 10, 1e-6, key=jax.random.key(0))
    capped = gf.solve_flow(model, data, t1=42.0, config=gf.FlowConfig(max_steps=10))
    assert capped.status == gf.Status.MAX_STEPS
    assert not capped.status.ok and float(capped.t_final) < 42.0
    assert "did NOT reach" in capped.describe()
    huge = TwoLayerReLU.gaussian(2, 10, 1e3, key=jax.random.key(1))
    blown = gf.solve_flow(huge, gf.Dataset(data.x, -data.y), t1=1.0)
    assert blown.status in (gf.Status.NONFINITE, gf.Status.STIFF)
    assert not blown.status.ok
    assert int(blown.stats["num_steps"]) < 10_000  # fail fast, not 2**20 steps


def test_loss_event_is_root_found():
    model = TwoLayerReLU.gaussian(2, 20, 1e-6, key=jax.random.key(0))
    traj = gf.solve_flow(model, toy(0.1), t1=42.0, stop=gf.loss_below(0.1))
    assert traj.status == gf.Status.EVENT
    assert 14.0 < float(traj.t_event) < 42.0
    final_loss = empirical_loss(traj.final, toy(0.1).x, toy(0.1).y)
    np.testing.assert_allclose(final_loss, 0.1, rtol=1e-6)
    # saved slots after the event are marked unused
    assert bool(jnp.all(jnp.isinf(traj.ts[~traj.saved])))
    assert float(jnp.max(traj.ts[traj.saved])) <= float(traj.t_event)


def test_alignment_event_all_neurons_aligned_or_dead():
    data = blob(key=jax.random.key(13))
    model = TwoLayerReLU.balanced(5, 10, 1e-6, key=jax.random.key(14))
    traj = gf.solve_flow(model, data, t1=200.0, stop=gf.aligned(1e-2))
    assert traj.status == gf.Status.EVENT
    gap = gf.metrics.alignment_gap(traj.final, data, 1e-2)
    assert abs(float(gap)) < 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t1": -1.0}, "t1"),
        ({"t1": 1.0, "loss": "hinge"}, "loss"),
        ({"t1": 1.0, "reduction": "avg"}, "reduction"),
        ({"t1": 1.0, "saveat": jnp.array([0.0, 2.0])}, "saveat"),
    ],
)
def test_bad_solve_arguments(kwargs, match):
    model = TwoLayerReLU.gaussian(2, 4, 1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match=match):
        gf.solve_flow(model, toy(0.1), **kwargs)


def test_bad_data_and_init():
    with pytest.raises(ValueError, match="non-finite"):
        gf.Dataset(jnp.array([[1.0, jnp.nan]]), jnp.ones(1))
    with pytest.raises(ValueError, match="same number"):
        gf.Dataset(jnp.ones((3, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match="eps"):
        TwoLayerReLU.balanced(2, 4, 0.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="rtol"):
        gf.FlowConfig(rtol=-1.0)
    with pytest.raises(ValueError, match="solver"):
        gf.FlowConfig(solver="euler3")
    model = TwoLayerReLU.gaussian(2, 4, 1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="labels"):
        gf.solve_flow(model, gf.Dataset(jnp.eye(2), jnp.array([1.0, 2.0])), t1=1.0)
    with pytest.raises(ValueError, match="model cannot be applied"):
        gf.solve_flow(model, gf.Dataset(jnp.ones((2, 3)), jnp.ones(2)), t1=1.0)
    with pytest.raises(ValueError, match="eta"):
        gf.gd(model, toy(0.1), eta=0.0, steps=3)


def test_summary_fn_saves_summaries_but_final_is_the_model():
    data = toy(0.1)
    model = TwoLayerReLU.gaussian(2, 6, 1e-3, key=jax.random.key(0))
    ts = jnp.array([0.0, 10.0, 30.0])
    full = gf.solve_flow(model, data, t1=30.0, saveat=ts)
    summ = gf.solve_flow(model, data, t1=30.0, saveat=ts,
                         fn=lambda t, m: jnp.linalg.norm(m.w, axis=1))
    assert summ.model is None and summ.summary.shape == (3, 6)
    np.testing.assert_allclose(summ.summary, jnp.linalg.norm(full.model.w, axis=2), rtol=1e-12)
    np.testing.assert_allclose(summ.final.w, full.final.w, rtol=1e-12)
