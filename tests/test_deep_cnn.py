"""Nguyen & Hein deep CNN: layer arithmetic, feature rank = min(N, n_k), wide vs narrow training."""

import jax
import numpy as np
import pytest

from gradflow import gd
from gradflow.data import digits
from gradflow.models import DeepCNN
from gradflow.papers.nguyen_hein import feature_matrix, feature_rank


def test_conv_pool_matches_explicit_loop():
    net = DeepCNN.init((2, 7, 7), (3, 2), kernel=2, pools=(2, 1), dense=(5,),
                       activation="tanh", key=jax.random.key(0))
    xj = jax.random.normal(jax.random.key(1), (2, 7, 7))
    x = np.asarray(xj)
    h = x
    for layer, p in enumerate(net.pools):
        w, b = np.asarray(net.weights[layer]), np.asarray(net.biases[layer])
        co, _, k, _ = w.shape
        size = h.shape[1] - k + 1
        z = np.zeros((co, size, size))
        for o in range(co):
            for i in range(size):
                for j in range(size):
                    z[o, i, j] = np.sum(w[o] * h[:, i : i + k, j : j + k]) + b[o]
        z = np.tanh(z)
        m = size // p
        h = z[:, : m * p, : m * p].reshape(co, m, p, m, p).max(axis=(2, 4))
    h = np.tanh(np.asarray(net.weights[2]) @ h.ravel() + np.asarray(net.biases[2]))
    out = float(np.asarray(net.head_w) @ h + float(net.head_b))
    assert net.widths == (3 * 3 * 3, 2 * 2 * 2, 5)
    assert float(net(xj)) == pytest.approx(out, rel=1e-12)
    assert float(net(xj.ravel())) == pytest.approx(out, rel=1e-12)  # flattened input
    assert np.allclose(np.asarray(net.features(xj, 3)), h, rtol=1e-12)


@pytest.mark.parametrize("n", [20, 60, 72, 100, 200])
def test_feature_rank_is_min_n_width(n):
    """Random weights: rank F_1 = min(N, n_1) (n_1 = 8 channels x 3 x 3 = 72), real digits."""
    data = digits((3, 5), n_per_class=n // 2)
    net = DeepCNN.init((1, 8, 8), (8,), pools=(2,), activation="relu", key=jax.random.key(n))
    rep = feature_rank(net, data, layer=1)
    assert rep["n_k"] == 72 and rep["N"] == n
    assert rep["rank"] == min(n, 72)
    if n <= 72:
        assert rep["sigma_min"] > 1e6 * rep["tol"]  # far from rank-deficient
    f = np.asarray(feature_matrix(net, data, layer=1))
    assert np.linalg.matrix_rank(f) == rep["rank"]  # NumPy agrees (same tolerance rule)


def test_feature_rank_several_layers_and_sizes():
    x = np.asarray(jax.random.normal(jax.random.key(2), (50, 64)))
    net = DeepCNN.init((1, 8, 8), (4, 16), pools=(1, 2), key=jax.random.key(3))
    assert net.widths == (4 * 6 * 6, 16 * 2 * 2)
    for layer, width in ((1, 144), (2, 64)):
        assert feature_rank(net, x, layer=layer)["rank"] == min(50, width)


def test_wide_net_fits_narrow_net_stalls():
    """N = 40 digits (3 vs 5, centred), square loss, GD eta = 0.05 to flow time 100.

    wide: 16 channels, n_1 = 144 >= N (305 parameters); narrow: 1 channel, n_1 = 9 < N
    (20 parameters < N: it cannot interpolate).
    """
    data = digits((3, 5), n_per_class=20)
    losses = {}
    for name, ch in (("wide", 16), ("narrow", 1)):
        net = DeepCNN.init((1, 8, 8), (ch,), pools=(2,), activation="relu", key=jax.random.key(0))
        traj = gd(net, data, eta=0.05, steps=2000, loss="square", saves=10)
        assert traj.status.ok
        losses[name] = np.asarray(traj.loss)
    assert losses["wide"][-1] <= 1e-3, losses["wide"]
    assert losses["narrow"][-1] > 5e-3, losses["narrow"]
    # over the second half (t = 50 -> 100) the narrow loss falls < 2x while the wide one
    # falls > 3x: the narrow net is stalling, the wide one converging
    assert losses["narrow"][-1] > 0.5 * losses["narrow"][5]
    assert losses["wide"][-1] < losses["wide"][5] / 3
