"""Hundreds of pre-activations crossing zero in the same step (float64).

The kink-aware solve searches each step's first root on the candidate entries only, in a
compact buffer, and falls back to the full-width search when there are more candidates than
buffer slots. Here a two-layer ReLU net sees 3 distinct samples repeated 300, 40 and 40 times
(760 (sample, unit) entries): the first switch moves 300 identical entries at once (more than
the buffer holds), the next ones 40 (the compact search). Repeating a sample r times is the
same flow as weighting it by r / n, so the reference is written here, independently of
gradflow, on the 3 distinct samples: a NumPy field with the pattern frozen, integrated by
SciPy's DOP853 at rtol 1e-12 with one terminal event per pre-activation.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models import TwoLayerReLU

D, H, T1, SEED = 3, 2, 2.0, 2
REPEATS = np.array([300, 40, 40])  # copies of each distinct sample


def _field(th, x, y, m, wt):
    """-grad of sum_i wt_i 0.5 (v . (m_i * W x_i) - y_i)^2 with the pattern m frozen."""
    w, v = th[: H * D].reshape(H, D), th[H * D :]
    a = m * (x @ w.T)
    r = wt * (a @ v - y)
    gv = a.T @ r
    gw = (r[:, None] * m * v[None, :]).T @ x
    return -np.concatenate([gw.ravel(), gv])


def _reference(th, x, y, wt, t1):
    """Final parameters and switch list [(t, sample, unit, new side)] of the weighted flow."""
    n = len(y)
    m = x @ th[: H * D].reshape(H, D).T > 0
    t, switches = 0.0, []
    while True:
        sgn = np.where(m, 1.0, -1.0)
        events = []
        for e in range(n * H):

            def f(tt, s, e=e, sgn=sgn):
                return sgn.ravel()[e] * (x @ s[: H * D].reshape(H, D).T).ravel()[e]

            f.terminal, f.direction = True, -1
            events.append(f)
        sol = solve_ivp(
            lambda tt, s, m=m: _field(s, x, y, m, wt),
            (t, t1),
            th,
            method="DOP853",
            rtol=1e-12,
            atol=1e-14,
            events=events,
        )
        th, t = sol.y[:, -1], sol.t[-1]
        if sol.status == 0:
            return th, switches
        dz = (x @ _field(th, x, y, m, wt)[: H * D].reshape(H, D).T).ravel()
        flat = m.ravel().copy()
        for e in (e for e in range(n * H) if len(sol.t_events[e])):
            flat[e] = dz[e] > 0
            switches.append((t, e // H, e % H, bool(flat[e])))
        m = flat.reshape(n, H)
        assert len(switches) < 20


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(SEED)
    x, y = rng.normal(size=(3, D)), rng.normal(size=3)
    th0 = rng.normal(size=H * D + H) * 0.8
    return th0, x, y


def test_simultaneous_crossings_beyond_the_buffer(problem):
    th0, x, y = problem
    th_ref, switches = _reference(th0, x, y, REPEATS / REPEATS.sum(), T1)
    # the planned case: a switch of the 300-copy sample, then of the 40-copy ones
    assert [i for _, i, _, _ in switches] == [0, 1, 2], switches

    model = TwoLayerReLU(w=jnp.asarray(th0[: H * D].reshape(H, D)), v=jnp.asarray(th0[H * D :]))
    data = gf.Dataset(jnp.asarray(np.repeat(x, REPEATS, 0)), jnp.asarray(np.repeat(y, REPEATS)))
    cfg = gf.FlowConfig(rtol=1e-8, kinks="track")
    tr = gf.solve_flow(model, data, loss="square", t1=T1, config=cfg)
    assert tr.status == gf.Status.SUCCESS

    # every copy switches at the reference's time, to the reference's side
    count = int(tr.events.count)
    assert count == sum(int(REPEATS[i]) for _, i, _, _ in switches)
    first = np.concatenate([[0], np.cumsum(REPEATS)])
    ev = tr.events
    got = sorted(
        (float(ev.t[k]), int(ev.sample[k]), int(ev.neuron[k]), int(ev.direction[k]))
        for k in range(count)
    )
    at = 0
    for t, i, j, side in switches:
        block = got[at : at + REPEATS[i]]
        at += REPEATS[i]
        assert sorted(s for _, s, _, _ in block) == list(range(first[i], first[i + 1]))
        want = 1 if side else -1
        assert all(u == j and d == want and abs(tt - t) <= 1e-7 for tt, _, u, d in block), (
            block[:3],
            (t, j, side),
        )
    got_th = np.concatenate([np.asarray(tr.final.w).ravel(), np.asarray(tr.final.v)])
    err = np.max(np.abs(got_th - th_ref)) / np.max(np.abs(th_ref))
    assert err <= 1e-8, err
