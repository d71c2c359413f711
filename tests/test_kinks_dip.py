"""A pre-activation that dips through zero and back inside ONE solver step (float64).

Both ends of the step have the same sign, so a crossing test on the step's end values misses
the two switches; the kink-aware solve must find the first root of the step's interpolant
polynomial anyway. The problem is built around a planned dip: a two-layer ReLU net, and one
extra sample x_new = s u with u chosen (from the flow of the net without it) so that
z(t) = w_J(t) . u (unit J) has a minimum of -delta at t*: w_J(t*) . u = -delta, w_J'(t*) . u = 0,
w_J''(t*) . u > 0. The reference is written here, independently of gradflow: a NumPy field
with the pattern frozen, integrated by SciPy's DOP853 at rtol 1e-12 with one terminal event
per pre-activation (the crossed entry takes the side its derivative points to).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models import TwoLayerReLU

D, H, T1, TSTAR, J = 3, 2, 0.7, 0.5, 1


def _field(th, x, y, m):
    """-grad of mean 0.5 (v . (m * W x) - y)^2 with the pattern m (n, h) frozen."""
    w, v = th[: H * D].reshape(H, D), th[H * D :]
    a = m * (x @ w.T)
    r = (a @ v - y) / len(y)
    gv = a.T @ r
    gw = (r[:, None] * m * v[None, :]).T @ x
    return -np.concatenate([gw.ravel(), gv])


def _reference(th, x, y, t1):
    """Final parameters and switch list [(t, sample, unit, new side)] of the true flow."""
    n = len(y)
    m = x @ th[: H * D].reshape(H, D).T > 0
    t, switches = 0.0, []
    while True:
        sgn = np.where(m, 1.0, -1.0)

        def ev(tt, s, e, sgn=sgn):
            return sgn.ravel()[e] * (x @ s[: H * D].reshape(H, D).T).ravel()[e]

        events = []
        for e in range(n * H):
            f = lambda tt, s, e=e: ev(tt, s, e)  # noqa: E731
            f.terminal, f.direction = True, -1
            events.append(f)
        sol = solve_ivp(
            lambda tt, s, m=m: _field(s, x, y, m),
            (t, t1),
            th,
            method="DOP853",
            rtol=1e-12,
            atol=1e-14,
            events=events,
            max_step=2e-3,  # SciPy also tests events by sign at step ends: dips >= 2e-3
        )
        th, t = sol.y[:, -1], sol.t[-1]
        if sol.status == 0:
            return th, switches
        dz = (x @ _field(th, x, y, m)[: H * D].reshape(H, D).T).ravel()
        flat = m.ravel().copy()
        for e in (e for e in range(n * H) if len(sol.t_events[e])):
            flat[e] = dz[e] > 0
            switches.append((t, e // H, e % H, bool(flat[e])))
        m = flat.reshape(n, H)
        assert len(switches) < 50


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    # a 4th sample at 0 (no pull; the same 1/n clock as with x_new): the base net
    x = np.vstack([rng.normal(size=(3, D)), np.zeros(D)])
    y = np.array([1.0, -0.5, 0.8, 0.0])
    th0 = np.concatenate([rng.normal(size=H * D) * 0.8, rng.normal(size=H) * 0.8])
    # the flow of the base net around t*: w_J, w_J', w_J'' (central differences)
    base = solve_ivp(
        lambda tt, s: _field(s, x, y, x @ s[: H * D].reshape(H, D).T > 0),
        (0.0, T1),
        th0,
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
        dense_output=True,
    )
    h = 1e-3
    wm, w0, wp = (base.sol(TSTAR + k * h)[J * D : (J + 1) * D] for k in (-1, 0, 1))
    d1, d2 = (wp - wm) / (2 * h), (wp - 2 * w0 + wm) / h**2
    p = d1 / np.linalg.norm(d1)
    f, e = w0 - (w0 @ p) * p, d2 - (d2 @ p) * p  # in the plane orthogonal to w_J'
    u0 = np.cross(p, f / np.linalg.norm(f))  # orthogonal to w_J' and w_J
    u0 = u0 if u0 @ e > 0 else -u0
    delta = 1e-4 * (u0 @ e)
    u = u0 - delta * f / (f @ f)  # u . w_J(t*) = -delta, u . w_J'(t*) = 0, u . w_J'' > 0
    s = 1e-3
    x[3] = s * u
    return th0, x, y


@pytest.fixture(scope="module")
def reference(problem):
    th0, x, y = problem
    return _reference(th0, x, y, T1)


def _solve(problem, rtol):
    th0, x, y = problem
    model = TwoLayerReLU(w=jnp.asarray(th0[: H * D].reshape(H, D)), v=jnp.asarray(th0[H * D :]))
    cfg = gf.FlowConfig(rtol=rtol, kinks="track")
    data = gf.Dataset(jnp.asarray(x), jnp.asarray(y))
    return gf.solve_flow(model, data, loss="square", t1=T1, config=cfg)


def test_reference_has_the_planned_dip(reference):
    _, switches = reference
    dip = [(t, side) for t, i, j, side in switches if (i, j) == (3, J)]
    assert [side for _, side in dip] == [False, True], switches
    assert TSTAR - 0.2 < dip[0][0] < TSTAR < dip[1][0] < TSTAR + 0.2
    assert dip[1][0] - dip[0][0] < 0.2  # shorter than the solver's steps at rtol 1e-6


@pytest.mark.parametrize("rtol", [1e-4, 1e-10])
def test_dip_inside_one_step_is_tracked(problem, reference, rtol):
    th_ref, switches = reference
    tr = _solve(problem, rtol)
    assert tr.status == gf.Status.SUCCESS
    count = int(tr.events.count)
    log = [
        (float(tr.events.t[k]), int(tr.events.sample[k]), int(tr.events.neuron[k]))
        for k in range(count)
    ]
    assert count == len(switches), (log, switches)
    for (t, i, j), (tr_t, ri, rj, _) in zip(log, switches, strict=True):
        assert (i, j) == (ri, rj) and abs(t - tr_t) <= 1e3 * rtol, (log, switches)
    got = np.concatenate([np.asarray(tr.final.w).ravel(), np.asarray(tr.final.v)])
    err = np.max(np.abs(got - th_ref)) / np.max(np.abs(th_ref))
    assert err <= 1e2 * rtol, err
