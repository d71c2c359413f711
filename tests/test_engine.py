"""The toolkit core: any Equinox model, losses as objects, no recompiles, one engine.

References are computed another way: the networks are re-written by hand in jax.numpy on a
flat parameter vector and integrated with SciPy's DOP853 (or stepped by a hand-written GD
loop), never with gradflow itself.
"""

import logging

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.papers.min_mallada_vidal import two_point


def _mlp_data(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1]
    return gf.Dataset(x, y)


def _hand_mlp(flat, x, shapes, act):
    """f(x) for a flat vector holding (W1, b1, W2, b2, ...) in eqx.nn.MLP's layout."""
    h, i = x, 0
    for k, (wshape, bshape) in enumerate(shapes):
        W = flat[i : i + np.prod(wshape)].reshape(wshape)
        i += int(np.prod(wshape))
        b = flat[i : i + np.prod(bshape)].reshape(bshape)
        i += int(np.prod(bshape))
        h = W @ h + b
        if k < len(shapes) - 1:
            h = act(h)
    return h[0]


def _mlp_and_reference(act, depth, width, key):
    mlp = eqx.nn.MLP(3, "scalar", width, depth, activation=act, key=key)
    shapes = [(lin.weight.shape, lin.bias.shape) for lin in mlp.layers]
    flat0 = np.concatenate(
        [np.concatenate([np.ravel(lin.weight), np.ravel(lin.bias)]) for lin in mlp.layers]
    )
    return mlp, shapes, flat0


def _scipy_flow(flat0, data, shapes, act, t1, loss=lambda f, y: 0.5 * (f - y) ** 2):
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)

    def L(flat):
        preds = jax.vmap(lambda xi: _hand_mlp(flat, xi, shapes, act))(x)
        return jnp.mean(loss(preds, y))

    g = jax.jit(jax.grad(L))
    sol = solve_ivp(
        lambda t, p: -np.asarray(g(jnp.asarray(p))), (0.0, t1), flat0,
        method="DOP853", rtol=1e-11, atol=1e-13,
    )
    assert sol.success
    return sol.y[:, -1], float(L(jnp.asarray(sol.y[:, -1])))


def _flat(model):
    return np.concatenate(
        [np.concatenate([np.ravel(lin.weight), np.ravel(lin.bias)]) for lin in model.layers]
    )


def test_eqx_mlp_tanh_square_loss_matches_independent_reference():
    mlp, shapes, flat0 = _mlp_and_reference(jnp.tanh, 2, 5, jax.random.key(1))
    data = _mlp_data()
    ref, ref_loss = _scipy_flow(flat0, data, shapes, jnp.tanh, t1=3.0)
    traj = gf.solve_flow(mlp, data, loss="square", t1=3.0, saveat=[0.0, 1.5, 3.0],
                         config=gf.FlowConfig(rtol=1e-10))
    assert traj.status == gf.Status.SUCCESS and traj.mode == "bare"
    np.testing.assert_allclose(_flat(traj.final), ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(traj.loss[-1], ref_loss, rtol=1e-8)
    # the saved trajectory gives the model back at any saved time
    mid = traj.at(1)
    assert isinstance(mid, eqx.nn.MLP)
    f_mid = jax.vmap(mid)(data.x)
    assert np.mean((np.asarray(f_mid) - np.asarray(data.y)) ** 2) / 2 == pytest.approx(
        float(traj.loss[1]), rel=1e-12
    )


def test_three_layer_relu_mlp_matches_reference_and_gd():
    mlp, shapes, flat0 = _mlp_and_reference(jax.nn.relu, 2, 4, jax.random.key(2))
    data = _mlp_data(n=10, seed=3)
    ref, _ = _scipy_flow(flat0, data, shapes, jax.nn.relu, t1=2.0)
    traj = gf.solve_flow(mlp, data, loss="square", t1=2.0, config=gf.FlowConfig(rtol=1e-10))
    assert traj.status == gf.Status.SUCCESS
    np.testing.assert_allclose(_flat(traj.final), ref, rtol=1e-6, atol=1e-8)

    # gd on the same module against a hand-written GD loop on the flat vector
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)

    def L(flat):
        preds = jax.vmap(lambda xi: _hand_mlp(flat, xi, shapes, jax.nn.relu))(x)
        return 0.5 * jnp.mean((preds - y) ** 2)

    g = jax.jit(jax.grad(L))
    p = jnp.asarray(flat0)
    for _ in range(50):
        p = p - 0.05 * g(p)
    out = gf.gd(mlp, data, eta=0.05, steps=50, loss="square", saves=5)
    assert out.status == gf.Status.SUCCESS and out.mode == "gd"
    np.testing.assert_allclose(_flat(out.final), np.asarray(p), rtol=1e-12, atol=1e-14)
    assert float(out.t_final) == pytest.approx(2.5)


class Scaled(eqx.Module):
    """f(x) = scale * v . tanh(W x), with ``scale`` frozen through the trainable filter."""

    W: jax.Array
    v: jax.Array
    scale: jax.Array

    def __call__(self, x):
        return self.scale * jnp.dot(self.v, jnp.tanh(self.W @ x))


def test_frozen_leaf_stays_fixed_and_flow_matches_reference():
    k1, k2 = jax.random.split(jax.random.key(4))
    model = Scaled(jax.random.normal(k1, (4, 3)) * 0.5, jax.random.normal(k2, (4,)) * 0.5,
                   jnp.asarray(2.0))
    data = _mlp_data(n=8, seed=5)
    spec = Scaled(True, True, False)  # pyright: ignore[reportArgumentType]
    traj = gf.solve_flow(model, data, loss="square", t1=1.0, saveat=4, trainable=spec,
                         config=gf.FlowConfig(rtol=1e-10))
    assert traj.status == gf.Status.SUCCESS
    assert float(traj.final.scale) == 2.0
    assert all(float(traj.at(i).scale) == 2.0 for i in range(4))
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)

    def L(flat):
        W, v = flat[:12].reshape(4, 3), flat[12:]
        return 0.5 * jnp.mean((2.0 * jnp.tanh(x @ W.T) @ v - y) ** 2)

    g = jax.jit(jax.grad(L))
    flat0 = np.concatenate([np.ravel(model.W), np.ravel(model.v)])
    sol = solve_ivp(lambda t, p: -np.asarray(g(jnp.asarray(p))), (0.0, 1.0), flat0,
                    method="DOP853", rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(np.ravel(traj.final.W), sol.y[:12, -1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(traj.final.v, sol.y[12:, -1], rtol=1e-7, atol=1e-9)


def pseudo_huber(f, y):
    """A user loss: sqrt(1 + (f - y)^2) - 1."""
    return jnp.sqrt(1.0 + (f - y) ** 2) - 1.0


def test_callable_loss_in_solve_and_gd_matches_reference():
    mlp, shapes, flat0 = _mlp_and_reference(jnp.tanh, 1, 4, jax.random.key(6))
    data = _mlp_data(n=9, seed=7)
    ref, ref_loss = _scipy_flow(flat0, data, shapes, jnp.tanh, t1=2.0, loss=pseudo_huber)
    traj = gf.solve_flow(mlp, data, loss=pseudo_huber, t1=2.0, config=gf.FlowConfig(rtol=1e-10))
    np.testing.assert_allclose(_flat(traj.final), ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(traj.loss[-1], ref_loss, rtol=1e-8)
    out = gf.gd(mlp, data, eta=1e-3, steps=2000, loss=pseudo_huber, saves=4)
    # GD at eta = 1e-3 is within O(eta) of the flow at t = 2
    assert np.max(np.abs(_flat(out.final) - ref)) < 5e-3


@pytest.mark.parametrize(
    ("name", "f", "y", "expected"),
    [
        ("exp", 0.7, -1.0, np.exp(0.7)),
        ("logistic", 0.7, 1.0, np.log1p(np.exp(-0.7))),
        ("square", 0.7, 0.2, 0.125),
    ],
)
def test_builtin_losses_by_hand(name, f, y, expected):
    loss = gf.losses.as_loss(name)
    assert float(loss(jnp.asarray(f), jnp.asarray(y))) == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_and_slopes_by_hand():
    logits = jnp.array([1.0, 2.0, -0.5])
    expected = np.log(np.sum(np.exp(np.asarray(logits)))) - 2.0
    assert float(gf.losses.CrossEntropy()(logits, 1)) == pytest.approx(expected, rel=1e-14)
    # -l'(0) at y = +1: exp 1, logistic 1/2, square 1
    assert gf.losses.Exp().slope_at_zero() == pytest.approx(1.0)
    assert gf.losses.Logistic().slope_at_zero() == pytest.approx(0.5)
    assert gf.losses.Square().slope_at_zero() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        gf.losses.as_loss("hinge")


class NormSummary(eqx.Module):
    """A summary module: equal instances compare equal, so they share a compiled solve."""

    power: int

    def __call__(self, t, model):
        return jnp.sum(model.w**self.power)


def _compiles(caplog, name: str) -> int:
    """How many XLA compilations of jit(name) JAX logged (jax_log_compiles)."""
    return sum(f"compilation of jit({name})" in r.getMessage() for r in caplog.records)


def test_equal_stops_configs_and_summaries_compile_once(caplog):
    model = gf.models.TwoLayerReLU.balanced(d=2, h=4, eps=1e-3, key=jax.random.key(0))
    data = two_point(0.1)
    caplog.set_level(logging.WARNING)
    with jax.log_compiles(True):
        for _ in range(3):  # freshly built but equal arguments every time
            traj = gf.solve_flow(model, data, t1=20.0, saveat=8, fn=NormSummary(2),
                                 stop=gf.loss_below(1e-1), config=gf.FlowConfig(rtol=1e-6),
                                 loss=gf.losses.Exp())
            assert traj.status in (gf.Status.EVENT, gf.Status.SUCCESS)
        assert _compiles(caplog, "_solve") == 1
        gf.solve_flow(model, data, t1=20.0, saveat=8, fn=NormSummary(2),
                      stop=gf.loss_below(2e-1))  # a different stop value compiles again
        assert _compiles(caplog, "_solve") == 2
        for _ in range(2):
            gf.gd(model, data, eta=0.0123, steps=10, saves=2, fn=NormSummary(2))
        assert _compiles(caplog, "_run") == 1


def test_stop_and_loss_must_be_gradflow_objects():
    model = gf.models.TwoLayerReLU.balanced(d=2, h=4, eps=1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="stop must be"):
        gf.solve_flow(model, two_point(0.1), t1=1.0,
                      stop=lambda m, d, loss: loss - 0.1)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="scalar per example"):
        gf.solve_flow(eqx.nn.MLP(2, 3, 4, 1, key=jax.random.key(0)), two_point(0.1),
                      t1=1.0, loss="exp")


def test_kink_mode_uses_the_shared_controller_for_every_solver():
    """The kink-aware mode's error exponent comes from the solver's order: with Bosh3
    (order 3) it reaches the same accuracy as the bare Dopri5 reference."""
    data = two_point(0.1)
    model = gf.models.TwoLayerReLU.balanced(d=2, h=6, eps=1e-4, key=jax.random.key(3))
    ref = gf.solve_flow(model, data, t1=30.0, config=gf.FlowConfig(rtol=1e-11, kinks="track"))
    for solver in ("bosh3", "dopri5", "tsit5", "dopri8"):
        cfg = gf.FlowConfig(rtol=1e-8, kinks="track", solver=solver)
        traj = gf.solve_flow(model, data, t1=30.0, config=cfg)
        assert traj.status == gf.Status.SUCCESS and traj.mode == "kinks"
        err = float(jnp.max(jnp.abs(traj.final.w - ref.final.w)) / jnp.max(jnp.abs(ref.final.w)))
        assert err < 1e-5, (solver, err)


def test_optax_optimizer_factory_is_used():
    model = gf.models.TwoLayerReLU.balanced(d=2, h=4, eps=1e-3, key=jax.random.key(0))
    data = two_point(0.1)
    out = gf.gd(model, data, eta=0.1, steps=5, saves=5, optimizer=optax.sgd)
    p = model
    for _ in range(5):
        g = jax.grad(lambda m: gf.empirical_loss(m, data.x, data.y))(p)
        p = jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)
    np.testing.assert_allclose(out.final.w, p.w, rtol=1e-12)


def test_cross_entropy_vector_outputs_integer_labels_match_reference():
    """A 3-class eqx.nn.MLP on digits (integer labels) against SciPy on the hand-written net."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    keep = np.isin(raw.target, (0, 1, 2))
    x = raw.data[keep][:30] / 16.0
    y = raw.target[keep][:30]
    data = gf.Dataset(x, y)
    assert data.y.dtype == jnp.int32 and data.y.shape == (30,)
    mlp = eqx.nn.MLP(64, 3, 6, 1, activation=jnp.tanh, key=jax.random.key(8))
    W1, b1, W2, b2 = (mlp.layers[0].weight, mlp.layers[0].bias, mlp.layers[1].weight,
                      mlp.layers[1].bias)
    sizes = [W1.size, b1.size, W2.size, b2.size]
    flat0 = np.concatenate([np.ravel(a) for a in (W1, b1, W2, b2)])
    X, Y = jnp.asarray(x), jnp.asarray(y)

    def L(flat):
        parts = np.split(np.arange(flat.size), np.cumsum(sizes)[:-1])
        w1, c1, w2, c2 = (flat[p] for p in parts)
        logits = jnp.tanh(X @ w1.reshape(6, 64).T + c1) @ w2.reshape(3, 6).T + c2
        logp = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
        return -jnp.mean(logp[jnp.arange(30), Y])

    g = jax.jit(jax.grad(L))
    sol = solve_ivp(lambda t, p: -np.asarray(g(jnp.asarray(p))), (0.0, 5.0), flat0,
                    method="DOP853", rtol=1e-11, atol=1e-13)
    traj = gf.solve_flow(mlp, data, loss="cross_entropy", t1=5.0, saveat=3,
                         config=gf.FlowConfig(rtol=1e-10))
    assert traj.status == gf.Status.SUCCESS
    np.testing.assert_allclose(_flat(traj.final), sol.y[:, -1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(traj.loss[-1], float(L(jnp.asarray(sol.y[:, -1]))), rtol=1e-8)
    np.testing.assert_allclose(traj.loss[0], np.log(3.0), rtol=0.2)  # near-uniform start


def mlp_problem(p, key):
    """A sweep problem on an eqx.nn.MLP with a user loss (module-level: hashable)."""
    kd, km = jax.random.split(key)
    x = jax.random.normal(kd, (10, 3))
    data = gf.Dataset(x, jnp.sin(x[:, 0]))
    model = eqx.nn.MLP(3, "scalar", p["width"], 1, activation=jnp.tanh, key=km)
    return model, data, dict(t1=1.0, loss=pseudo_huber, saveat=2,
                             config=gf.FlowConfig(rtol=1e-9))


def test_sweep_runs_an_mlp_with_a_callable_loss():
    import gradflow.sweep as gs

    table = gs.sweep(mlp_problem, {"width": [3, 5]}, 2, strategy="map", progress=False)
    rows = table.to_pylist()
    assert len(rows) == 4 and all(r["status"] == int(gf.Status.SUCCESS) for r in rows)
    for r in rows:  # each row equals the run solved on its own by hand
        model, data, _ = mlp_problem({"width": r["width"]}, jax.random.key(r["seed"]))
        shapes = [(lin.weight.shape, lin.bias.shape) for lin in model.layers]
        ref, ref_loss = _scipy_flow(_flat(model), data, shapes, jnp.tanh, 1.0, loss=pseudo_huber)
        assert r["loss_final"] == pytest.approx(ref_loss, rel=1e-7)
