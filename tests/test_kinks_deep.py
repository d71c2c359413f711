"""Kink-aware gradient flow of a deep (3-layer) ReLU MLP, float64.

The reference is written here, independently of gradflow: a NumPy forward/backward pass of
the 3-layer network with the activation pattern of both hidden layers frozen, integrated by
SciPy's DOP853 at rtol 1e-12 with one terminal event per hidden pre-activation (n * (h1 + h2)
events); at an event the crossed entry takes the side its derivative points to and the
integration restarts.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models import MLP, AbstractKinkModel, Linear

N, D, H1, H2, EPS, T1, SEED = 8, 3, 5, 4, 0.5, 10.0, 13
TS = np.linspace(0.0, T1, 11)


def _problem(seed=SEED):
    kx, km = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (N, D))
    y = jnp.sin(2 * x[:, 0]) + x[:, 1]
    return MLP.gaussian((D, H1, H2, 1), EPS, key=km), gf.Dataset(x, y)


# ------------------------------------------------------------------ independent reference
def _unpack(th):
    a, b = H1 * D, H1 * D + H2 * H1
    return th[:a].reshape(H1, D), th[a:b].reshape(H2, H1), th[b:].reshape(1, H2)


def _ref_field(th, x, y, m1, m2):
    """-grad of mean 0.5 (f - y)^2 with the patterns m1 (n, h1), m2 (n, h2) frozen."""
    w1, w2, w3 = _unpack(th)
    z1 = x @ w1.T
    a1 = m1 * z1
    z2 = a1 @ w2.T
    a2 = m2 * z2
    r = ((a2 @ w3.T)[:, 0] - y) / len(y)
    g3 = r[None, :] @ a2
    gz2 = r[:, None] * w3 * m2
    g2 = gz2.T @ a1
    gz1 = (gz2 @ w2) * m1
    g1 = gz1.T @ x
    return -np.concatenate([g1.ravel(), g2.ravel(), g3.ravel()])


def _ref_pre(th, x, m1):
    w1, w2, _ = _unpack(th)
    z1 = x @ w1.T
    return z1, (m1 * z1) @ w2.T


def _reference(model, data, ts):
    x, y = np.asarray(data.x), np.asarray(data.y)
    th = np.concatenate([np.asarray(w).ravel() for w in model.weights])
    z1, z2 = _ref_pre(th, x, np.ones((N, H1)))
    m1 = z1 > 0
    z1, z2 = _ref_pre(th, x, m1)
    m2 = z2 > 0
    atol = 1e-14 * np.sqrt(np.mean(th**2))
    t, out, switches = 0.0, {}, []
    while True:
        sgn = np.concatenate([np.where(m1, 1.0, -1.0).ravel(), np.where(m2, 1.0, -1.0).ravel()])

        # a sample with every layer-1 unit off has z2 = 0 identically: no layer-2 events
        live = np.concatenate([np.ones(N * H1, bool), np.repeat(m1.any(axis=1), H2)])

        def cval(tt, s, e, m1=m1, sgn=sgn, live=live):
            a, b = _ref_pre(s, x, m1)
            return sgn[e] * np.concatenate([a.ravel(), b.ravel()])[e] if live[e] else 1.0

        events = []
        for e in range(N * (H1 + H2)):
            ev = lambda tt, s, e=e: cval(tt, s, e)  # noqa: E731
            ev.terminal, ev.direction = True, -1
            events.append(ev)
        sol = solve_ivp(
            lambda tt, s, m1=m1, m2=m2: _ref_field(s, x, y, m1, m2),
            (t, T1),
            th,
            method="DOP853",
            rtol=1e-12,
            atol=atol,
            events=events,
            dense_output=True,
        )
        t_end = sol.t[-1]
        for tk in ts:
            if t <= tk <= t_end and tk not in out:
                out[tk] = sol.sol(tk)
        th, t = sol.y[:, -1], t_end
        if sol.status == 0:
            return np.stack([out[tk] for tk in ts]), switches
        hit = [e for e in range(len(events)) if len(sol.t_events[e])]
        # the crossed entry takes the side its derivative (under the old field) points to
        f = _ref_field(th, x, y, m1, m2)
        h = 1e-7
        za = np.concatenate([a.ravel() for a in _ref_pre(th + h * f, x, m1)])
        zb = np.concatenate([a.ravel() for a in _ref_pre(th - h * f, x, m1)])
        dz = (za - zb) / (2 * h)
        flat = np.concatenate([m1.ravel(), m2.ravel()])
        for e in hit:
            flat[e] = dz[e] > 0
            switches.append((t, e))
        m1, m2 = flat[: N * H1].reshape(N, H1), flat[N * H1 :].reshape(N, H2)
        assert len(switches) < 200, "reference: too many switches (sliding?)"


@pytest.fixture(scope="module")
def problem():
    return _problem()


@pytest.fixture(scope="module")
def reference(problem):
    model, data = problem
    return _reference(model, data, TS)


def _flat(traj):
    return np.concatenate([np.asarray(w).reshape(len(TS), -1) for w in traj.model.weights], axis=1)


def _solve(model, data, rtol, kinks="track"):
    cfg = gf.FlowConfig(rtol=rtol, kinks=kinks)
    return gf.solve_flow(model, data, loss="square", t1=T1, saveat=jnp.asarray(TS), config=cfg)


def test_mlp_masked_forward_and_degree(problem):
    model, data = problem
    assert isinstance(model, AbstractKinkModel) and gf.supports_kinks(model)
    assert model.kink_degree == 2 and model.widths == (D, H1, H2, 1)
    for xi in data.x:
        z = model.preactivations(xi)
        assert z.shape == (H1 + H2,)
        np.testing.assert_allclose(model.masked_call(xi, z > 0), model(xi), rtol=1e-14)
        np.testing.assert_allclose(model.masked_preactivations(xi, z > 0), z, rtol=1e-14)
    # leaky relu with biases: the masked forward equals the true one at the true pattern
    lk = MLP.gaussian((D, 4, 3, 2), 1.0, bias=True, activation="leaky_relu", key=jax.random.key(2))
    z = lk.preactivations(data.x[0])
    np.testing.assert_allclose(lk.masked_call(data.x[0], z > 0), lk(data.x[0]), rtol=1e-14)
    assert lk(data.x[0]).shape == (2,)
    with pytest.raises(ValueError, match="activation"):
        MLP.gaussian((D, 4, 1), 1.0, activation="tanh", key=jax.random.key(0))


def test_three_layer_error_vs_scipy_reference_at_rtol_1e10(problem, reference):
    model, data = problem
    ref, switches = reference
    assert len(switches) >= 5
    tr = _solve(model, data, 1e-10)
    assert tr.status == gf.Status.SUCCESS and tr.mode == "kinks"
    count = int(tr.events.count)
    # switches in both hidden layers (flat unit index j < H1: layer 1)
    units = np.asarray(tr.events.neuron[:count])
    assert np.any(units < H1) and np.any(units >= H1)
    got = _flat(tr)
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    assert err <= 1e-9, err
    # every reference switch (time, entry) is in the log at the same time; the log may also
    # hold flips of layer-2 entries of a sample whose layer-1 units are all off (z2 = 0
    # identically, the flip changes nothing)
    log_t = np.asarray(tr.events.t[:count])
    j, i = np.asarray(tr.events.neuron[:count]), np.asarray(tr.events.sample[:count])
    flat = np.where(j < H1, i * H1 + j, N * H1 + i * H2 + (j - H1))
    for t, e in switches:
        assert np.min(np.abs(log_t[flat == e] - t)) <= 1e-8, (t, e)


def test_balancedness_conserved_per_hidden_unit(problem):
    model, data = problem
    tr = _solve(model, data, 1e-10)
    q0 = np.asarray(model.balancedness())
    size0 = np.asarray(jnp.concatenate([jnp.sum(w**2, axis=1) for w in model.weights[:-1]]))
    for k in range(len(TS)):
        qk = np.asarray(tr.at(k).balancedness())
        assert np.max(np.abs(qk - q0) / size0) <= 1e-9, k


@pytest.mark.slow  # ~85 s; CI runs the two-layer vmap == loop (test_kinks.py)
def test_vmap_over_seeds_equals_loop(problem):
    _, data = problem
    cfg = gf.FlowConfig(rtol=1e-7, kinks="track")
    keys = jax.random.split(jax.random.key(5), 3)

    def one(key):
        m = MLP.gaussian((D, H1, H2, 1), 0.2, key=key)
        return gf.solve_flow(m, data, loss="square", t1=3.0, saveat=4, config=cfg)

    batched = eqx.filter_vmap(one)(keys)
    for k in range(3):
        single = one(keys[k])
        assert int(single.events.count) == int(batched.events.count[k])
        for wb, ws in zip(batched.model.weights, single.model.weights, strict=True):
            np.testing.assert_allclose(wb[k], ws, rtol=1e-12, atol=1e-15)
    assert batched.statuses == [s for s in (one(k).status for k in keys)]


def test_auto_records_why_and_track_names_the_model(problem):
    model, data = problem
    tr = _solve(model, data, 1e-3, kinks="auto")
    assert tr.mode == "bare" and "AUTO_RTOL" in tr.mode_reason and "AUTO_RTOL" in tr.describe()
    tr = _solve(model, data, 1e-6, kinks="track")
    assert tr.mode == "kinks" and tr.mode_reason == "kinks='track'"
    with pytest.raises(ValueError, match="Linear.*AbstractKinkModel"):
        gf.solve_flow(
            Linear(beta=jnp.ones(D)),
            data,
            loss="square",
            t1=1.0,
            config=gf.FlowConfig(kinks="track"),
        )
    ok, why = gf.flow.kink_decision(gf.FlowConfig(kinks="auto", rtol=1e-6), Linear(jnp.ones(D)))
    assert not ok and "Linear" in why
