"""Hundreds of pre-activations crossing zero in the same step (float64).

The kink-aware solve searches each step's first root on the candidate entries only, gathered
into a compact buffer (256 slots, in sample order), one buffer-full after the other when there
are more. Here a two-layer ReLU net sees 3 distinct samples repeated 300, 300 and 40 times
(1280 (sample, unit) entries, sample 0's copies first), at rtol 1e-5 (long steps): 300
identical entries switch at once; on the next steps 600 entries are candidates (three
buffers), among them the 300 of sample 1, past the first buffer, which switch next; then 40
entries switch (one buffer). Repeating a sample r times is the
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
REPEATS = np.array([300, 300, 40])  # copies of each distinct sample
ORDER = [0, 1, 2]  # the blocks of copies in the data set, in this order


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


def test_simultaneous_crossings_beyond_one_buffer(problem):
    th0, x, y = problem
    th_ref, switches = _reference(th0, x, y, REPEATS / REPEATS.sum(), T1)
    # the planned case: samples 0, 1, 2 switch in this order
    assert [i for _, i, _, _ in switches] == [0, 1, 2], switches

    model = TwoLayerReLU(w=jnp.asarray(th0[: H * D].reshape(H, D)), v=jnp.asarray(th0[H * D :]))
    xs = np.concatenate([np.repeat(x[i : i + 1], REPEATS[i], 0) for i in ORDER])
    ys = np.concatenate([np.repeat(y[i : i + 1], REPEATS[i]) for i in ORDER])
    data = gf.Dataset(jnp.asarray(xs), jnp.asarray(ys))
    cfg = gf.FlowConfig(rtol=1e-5, kinks="track")
    tr = gf.solve_flow(model, data, loss="square", t1=T1, config=cfg)
    assert tr.status == gf.Status.SUCCESS

    # every copy switches at the reference's time, to the reference's side
    count = int(tr.events.count)
    assert count == sum(int(REPEATS[i]) for _, i, _, _ in switches)
    ends = np.cumsum(REPEATS[ORDER])
    block = {i: range(e - REPEATS[i], e) for i, e in zip(ORDER, ends, strict=True)}
    ev = tr.events
    got = sorted(
        (float(ev.t[k]), int(ev.sample[k]), int(ev.neuron[k]), int(ev.direction[k]))
        for k in range(count)
    )
    at = 0
    for t, i, j, side in switches:
        rows = got[at : at + REPEATS[i]]
        at += REPEATS[i]
        assert sorted(s for _, s, _, _ in rows) == list(block[i])
        want = 1 if side else -1
        assert all(u == j and d == want and abs(tt - t) <= 1e-4 for tt, _, u, d in rows), (
            rows[:3],
            (t, j, side),
        )
    got_th = np.concatenate([np.asarray(tr.final.w).ravel(), np.asarray(tr.final.v)])
    err = np.max(np.abs(got_th - th_ref)) / np.max(np.abs(th_ref))
    assert err <= 1e-4, err
