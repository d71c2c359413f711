"""Merged switches (``FlowConfig(merge_switches=True)``): the switches inside one accepted step
are applied with a second-order correction instead of a stop each.

The reference is written here, independently of gradflow: a NumPy field of a two-layer ReLU
net with the pattern frozen, integrated by SciPy's DOP853 at rtol 1e-12 with one terminal
event per pre-activation (the crossed entry takes the side its derivative points to). Small
init makes the switches dense early on (most steps of the stop-per-switch solve end at a
switch), the case merging is for.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models import TwoLayerReLU

N, D, H, EPS, T1 = 48, 6, 8, 1e-4, 30.0


def _field(th, x, y, m):
    """-grad of mean exp(-y v . (m * W x)) with the pattern m (n, h) frozen."""
    w, v = th[: H * D].reshape(H, D), th[H * D :]
    a = m * (x @ w.T)
    r = -y * np.exp(-y * (a @ v)) / len(y)
    gv = a.T @ r
    gw = (r[:, None] * m * v[None, :]).T @ x
    return -np.concatenate([gw.ravel(), gv])


def _reference(th, x, y, t1):
    """Final parameters and switch list [(t, sample, unit, new side)] of the true flow: one
    terminal event, the smallest s_e z_e over all entries (an entry just switched carries a
    re-arming offset of 1e-12 of the largest |z| until it is clear of zero)."""
    m = x @ th[: H * D].reshape(H, D).T > 0
    t, switches = 0.0, []
    off = np.zeros(m.shape)
    while True:
        sgn = np.where(m, 1.0, -1.0)

        def event(tt, s, sgn=sgn, off=off):
            return np.min(sgn * (x @ s[: H * D].reshape(H, D).T) + off)

        event.terminal, event.direction = True, -1  # pyright: ignore[reportFunctionMemberAccess]
        sol = solve_ivp(
            lambda tt, s, m=m: _field(s, x, y, m),
            (t, t1),
            th,
            method="DOP853",
            rtol=1e-12,
            atol=1e-18,
            events=[event],
        )
        th, t = sol.y[:, -1], sol.t[-1]
        if sol.status == 0:
            return th, switches
        z = x @ th[: H * D].reshape(H, D).T
        dz = x @ _field(th, x, y, m)[: H * D].reshape(H, D).T
        at = sgn * z + off <= 1e-11 * np.max(np.abs(z))
        off = np.where(at, 1e-12 * np.max(np.abs(z)), 0.0)
        for i, j in zip(*np.nonzero(at), strict=True):
            if (dz[i, j] > 0) != m[i, j]:
                m[i, j] = dz[i, j] > 0
                switches.append((t, i, j, bool(m[i, j])))
        assert len(switches) < 2000


@pytest.fixture(scope="module")
def problem():
    # z_i = y_i x_i in a cone around e_1 (pairwise cosines >= 0.3): no sliding contacts
    rng = np.random.default_rng(5)
    g = rng.normal(size=(N, D))
    g[:, 0] = 0.0
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    y = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    a = 0.5 * np.arccos(0.3)
    x = y[:, None] * (np.cos(a) * np.eye(D)[0] + np.sin(a) * g)
    x *= rng.uniform(0.5, 1.5, size=(N, 1))
    model = TwoLayerReLU.balanced(D, H, EPS, key=jax.random.key(2))
    th0 = np.concatenate([np.asarray(model.w).ravel(), np.asarray(model.v)])
    ref, switches = _reference(th0, x, y, T1)
    return model, gf.Dataset(jnp.asarray(x), jnp.asarray(y)), ref, switches


def _solve(problem, rtol, merge):
    model, data, _, _ = problem
    cfg = gf.FlowConfig(rtol=rtol, kinks="track", merge_switches=merge)
    tr = gf.solve_flow(model, data, t1=T1, saveat=jnp.array([0.0, T1]), config=cfg)
    assert tr.status == gf.Status.SUCCESS
    th = np.concatenate([np.asarray(tr.final.w).ravel(), np.asarray(tr.final.v)])
    return tr, th


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_merged_steps_match_reference_with_fewer_evaluations(problem):
    _, _, ref, switches = problem
    assert len(switches) >= 200  # dense switching: the case merging is for
    merged, th_m = _solve(problem, 1e-4, True)
    stopped, th_s = _solve(problem, 1e-4, False)
    n_merged = int(merged.stats["num_merged_steps"])
    assert n_merged >= 10, merged.stats  # 40 of 134 steps measured
    assert int(stopped.stats["num_merged_steps"]) == 0
    err_m, err_s = _rel(th_m, ref), _rel(th_s, ref)
    # error of order rtol, merged or not (measured 7.5e-5 merged, 7.2e-5 stopped)
    assert err_m <= 2e-4 and err_s <= 2e-4, (err_m, err_s)
    # measured 1340 vs 1863 gradient evaluations, 134 vs 268 steps
    assert int(merged.stats["grad_evals"]) < 0.85 * int(stopped.stats["grad_evals"])
    assert int(merged.stats["num_steps"]) < int(stopped.stats["num_steps"])
    # every switch is still logged, in time order, with the reference's (sample, unit, side)
    ev = merged.events
    count = int(ev.count)
    assert count == len(switches)
    t = np.asarray(ev.t[:count])
    assert np.all(np.diff(t) >= 0)
    got = sorted(
        zip(
            np.asarray(ev.sample[:count]),
            np.asarray(ev.neuron[:count]),
            np.asarray(ev.direction[:count]) > 0,
            strict=True,
        )
    )
    want = sorted((i, j, side) for _, i, j, side in switches)
    assert got == want
    t_ref = np.array([s[0] for s in switches])
    # merged switches are logged on the frozen step's interpolant: measured 3.1e-3 off
    assert np.max(np.abs(np.sort(t) - np.sort(t_ref))) <= 1e-2


def test_merge_switches_validation():
    with pytest.raises(ValueError, match="merge_switches"):
        gf.FlowConfig(merge_switches="yes")  # pyright: ignore[reportArgumentType]
