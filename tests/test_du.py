"""Du et al. filter learning: closed form vs Monte Carlo, population GF, model vs patch loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradflow import FlowConfig
from gradflow.losses import empirical_loss
from gradflow.models import ConvFilter, num_patches
from gradflow.papers.du import (
    population_flow,
    population_loss,
    population_loss_nonoverlap,
    relu_kernel,
    sample_inputs,
    teacher_data,
)


def _pair_at_angle(phi, p=4, seed=0):
    """Unit-free pair (w, v) in R^p with angle phi and norms 1.3, 0.7."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    w = 1.3 * q[:, 0]
    v = 0.7 * (np.cos(phi) * q[:, 0] + np.sin(phi) * q[:, 1])
    return jnp.asarray(w), jnp.asarray(v)


@pytest.mark.parametrize("phi", [0.0, 0.4, np.pi / 2, 2.0, np.pi])
def test_relu_kernel_matches_monte_carlo(phi):
    w, v = _pair_at_angle(phi)
    z = jax.random.normal(jax.random.key(7), (1_000_000, 4))
    prod = jax.nn.relu(z @ w) * jax.nn.relu(z @ v)
    mc, se = float(jnp.mean(prod)), float(jnp.std(prod)) / 1000.0
    exact = float(relu_kernel(w, v))
    expected = 1.3 * 0.7 * (np.sin(phi) + (np.pi - phi) * np.cos(phi)) / (2 * np.pi)
    assert exact == pytest.approx(expected, rel=1e-12, abs=1e-15)
    if phi == np.pi:
        assert exact == pytest.approx(0.0, abs=1e-15) and mc == 0.0
    else:
        assert abs(mc - exact) <= 3 * se, (mc, exact, se)


@pytest.mark.parametrize("stride", [4, 2, 1])
def test_population_loss_matches_monte_carlo(stride):
    """Exact for overlapping patches too (x ~ N(0, I_d) makes each pair bivariate Gaussian)."""
    d, size = 12, 4
    w_star = ConvFilter.gaussian(d, size, stride, key=jax.random.key(0)).w
    w = ConvFilter.gaussian(d, size, stride, key=jax.random.key(1)).w
    x = jax.random.normal(jax.random.key(2), (400_000, d))
    f = ConvFilter.from_filter(w, d=d, stride=stride)
    t = ConvFilter.from_filter(w_star, d=d, stride=stride)
    sq = 0.5 * (jax.vmap(f)(x) - jax.vmap(t)(x)) ** 2
    mc, se = float(jnp.mean(sq)), float(jnp.std(sq)) / np.sqrt(x.shape[0])
    exact = float(population_loss(w, w_star, d=d, stride=stride))
    assert abs(mc - exact) <= 3 * se, (mc, exact, se)
    if stride >= size:
        k = num_patches(d, size, stride)
        assert exact == pytest.approx(float(population_loss_nonoverlap(w, w_star, k)), rel=1e-12)


def test_population_gradient_finite_at_teacher():
    w_star = ConvFilter.gaussian(16, 4, 4, key=jax.random.key(3)).w
    g = jax.grad(population_loss)(w_star, w_star, d=16, stride=2)
    assert np.all(np.isfinite(np.asarray(g)))
    assert float(jnp.max(jnp.abs(g))) < 1e-12
    assert float(population_loss(w_star, w_star, d=16, stride=2)) == pytest.approx(0, abs=1e-15)


def test_population_gf_recovers_teacher():
    w_star = ConvFilter.gaussian(16, 4, 4, key=jax.random.key(0)).w
    student = ConvFilter.gaussian(16, 4, 4, key=jax.random.key(1))
    traj = population_flow(student, w_star, t1=400.0, saveat=9, config=FlowConfig(rtol=1e-8))
    assert traj.status.ok
    err = float(jnp.linalg.norm(traj.final.w - w_star))
    assert err < 1e-6, err
    assert float(jnp.linalg.norm(student.w - w_star)) > 0.5  # it really moved
    loss = np.asarray(traj.loss)
    assert loss[0] == pytest.approx(float(population_loss(student.w, w_star, d=16, stride=4)))
    assert np.all(np.diff(loss) <= 1e-15)  # gradient flow never increases the loss


@pytest.mark.parametrize(("d", "size", "stride"), [(16, 4, 4), (16, 4, 2), (17, 5, 3), (9, 3, 1)])
def test_conv_filter_equals_patch_loop(d, size, stride):
    model = ConvFilter.gaussian(d, size, stride, key=jax.random.key(4))
    x = jax.random.normal(jax.random.key(5), (d,))
    w, xs = np.asarray(model.w), np.asarray(x)
    starts = list(range(0, d - size + 1, stride))
    loop = sum(max(float(w @ xs[s : s + size]), 0.0) for s in starts) / len(starts)
    assert model.k == len(starts)
    assert float(model(x)) == pytest.approx(loop, rel=1e-12, abs=1e-15)
    emb = np.asarray(model.embedded())
    assert np.allclose(emb @ xs, [w @ xs[s : s + size] for s in starts], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "laplace", "mixture"])
def test_input_laws_have_unit_variance(dist):
    x = np.asarray(sample_inputs(50_000, 4, dist, smoothness=0.3, key=jax.random.key(6)))
    assert abs(x.mean()) < 0.02
    assert x.var() == pytest.approx(1.0, abs=0.03)


def test_teacher_labels_and_closeness():
    teacher = ConvFilter.non_overlapping(4, 4, key=jax.random.key(8))
    data = teacher_data(teacher, 20_000, closeness=0.6, key=jax.random.key(9))
    assert np.allclose(np.asarray(data.y), np.asarray(jax.vmap(teacher)(data.x)))
    x = np.asarray(data.x)
    c = np.corrcoef(x[:, 0], x[:, 4])[0, 1]  # same position, patches 0 and 1
    assert c == pytest.approx(0.6, abs=0.03)
    assert float(empirical_loss(teacher, data.x, data.y, "square")) == 0.0
    with pytest.raises(ValueError, match="closeness"):
        teacher_data(teacher, 5, closeness=1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="dist"):
        sample_inputs(5, 4, "cauchy", key=jax.random.key(0))
