"""Zhou et al.'s kernel condensation: the data matrix Z, its top eigenvector, the metrics,
and condensation under gradient flow (eps = 1e-6 condenses, eps = 1 does not)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradflow.data import Dataset
from gradflow.flow import solve_flow
from gradflow.models import TwoLayerCNN
from gradflow.papers.zhou import (
    CondensationSummary,
    bump_data,
    condensation_index,
    cos_to_direction,
    data_matrix,
    early_time,
    kernel_cosines,
    ordered_cosines,
    predicted_direction,
    symmetrised,
    top_directions,
)


def _orthonormal(rng, dim, k):
    return np.linalg.qr(rng.standard_normal((dim, k)))[0].T


def test_data_matrix_equals_loop_1d_and_2d():
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((5, 11))
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    z = np.asarray(data_matrix(Dataset(x1, y), 3, 2))  # starts 0, 2, 4, 6, 8
    ref = sum(y[i] * np.stack([x1[i, s : s + 3] for s in range(0, 9, 2)], 1) for i in range(5))
    np.testing.assert_allclose(z, ref / 5, rtol=1e-12)
    x2 = rng.standard_normal((5, 5, 4))
    z2 = np.asarray(data_matrix(Dataset(x2, y), (2, 3), 1))
    cols = [(r, c) for r in range(4) for c in range(2)]
    ref2 = sum(
        y[i] * np.stack([x2[i, r : r + 2, c : c + 3].ravel() for r, c in cols], 1) for i in range(5)
    )
    np.testing.assert_allclose(z2, ref2 / 5, rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(data_matrix(Dataset(x2, y), (2, 3), 1, "mean"))[:, 0], ref2.mean(1) / 5
    )


def test_top_eigenvector_known_answer():
    """Data built so that Z = 3 u1 v1^T + 1 u2 v2^T exactly: the top eigenvector of the
    symmetrised S is (u1, v1)/sqrt(2) with eigenvalue 3, and the predicted kernel direction
    is u1 (up to sign)."""
    rng = np.random.default_rng(1)
    p, num = 4, 5  # non-overlapping patches of length 4, 5 of them
    u, v = _orthonormal(rng, p, 2), _orthonormal(rng, num, 2)
    target = 3.0 * np.outer(u[0], v[0]) + 1.0 * np.outer(u[1], v[1])  # (p, P)
    n = 6
    y = np.array([1.0, -1.0] * (n // 2))
    base = rng.standard_normal((n // 2, num, p))
    x = np.empty((n, num, p))
    x[0::2] = base + target.T  # pairs (+, -) share the same background: it cancels in Z
    x[1::2] = base - target.T
    data = Dataset(x.reshape(n, num * p), y)
    z = np.asarray(data_matrix(data, p))
    np.testing.assert_allclose(z, target, atol=1e-12)
    vals, vecs = top_directions(jnp.asarray(z), 2)
    np.testing.assert_allclose(vals, [3.0, 1.0], rtol=1e-12)
    assert abs(float(np.dot(vecs[0], u[0]))) == pytest.approx(1.0, abs=1e-12)
    assert abs(float(np.dot(vecs[1], u[1]))) == pytest.approx(1.0, abs=1e-12)
    assert float(np.max(np.abs(vecs[0]))) == pytest.approx(float(np.max(vecs[0])))  # sign
    s = np.asarray(symmetrised(jnp.asarray(z)))
    evals, evecs = np.linalg.eigh(s)
    np.testing.assert_allclose(evals[[-1, 0]], [3.0, -3.0], atol=1e-12)
    top = evecs[:, -1]
    assert abs(np.dot(top[:p], u[0])) == pytest.approx(1 / np.sqrt(2), abs=1e-12)
    assert abs(np.dot(top[p:], v[0])) == pytest.approx(1 / np.sqrt(2), abs=1e-12)
    u1 = predicted_direction(data, p)
    assert abs(float(u1 @ u[0])) == pytest.approx(1.0, abs=1e-12)


def test_condensation_metrics_known_kernels():
    u = jnp.array([1.0, 0.0, 0.0])
    w = jnp.array([[2.0, 0.0, 0.0], [-1.0, 0.01, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.0]])
    c = np.asarray(kernel_cosines(w))
    assert c[0, 1] == pytest.approx(-1 / np.sqrt(1.0001)) and c[0, 2] == 0.0
    # pairs with |cos| > 0.95: (0,1), (0,3), (1,3) of 6
    assert float(condensation_index(w)) == pytest.approx(3 / 6)
    np.testing.assert_allclose(cos_to_direction(w, u), [1.0, -1 / np.sqrt(1.0001), 0.0, 1.0])
    ordered = np.asarray(ordered_cosines(w, u))  # order by w.u: kernel 1, 2, 3, 0
    np.testing.assert_allclose(ordered, c[np.ix_([1, 2, 3, 0], [1, 2, 3, 0])])
    with pytest.raises(ValueError, match="threshold"):
        condensation_index(w, 1.5)


def test_kernels_condense_for_small_init_only():
    """tanh CNN, both layers trained: at the end of the early phase (t_early of eps = 1e-6)
    the kernels' mean |cos| to the predicted direction is >= 0.9 at eps = 1e-6, and well
    below (< 0.7) at eps = 1, where no early linear phase exists."""
    data = bump_data(40, 20, noise=0.5, key=jax.random.key(0))
    z = data_matrix(data, 5, 1)
    vals, vecs = top_directions(z, 2)
    assert float(vals[0]) > 2.0 * float(vals[1])  # an eigenvalue gap
    t_e = early_time(z, 1e-6, "tanh", "exp")
    summary = CondensationSummary(vecs[0])
    res = {}
    for eps in (1e-6, 1.0):
        model = TwoLayerCNN.gaussian(
            (20,),
            5,
            8,
            eps,
            stride=1,
            activation="tanh",
            pooling="none",
            readout="trained",
            key=jax.random.key(1),
        )
        traj = solve_flow(model, data, t1=t_e, saveat=jnp.array([0.0, t_e]), fn=summary)
        assert traj.status.ok, traj.describe()
        res[eps] = np.mean(np.abs(np.asarray(traj.summary["cos"])), axis=-1)
    start, small, large = res[1e-6][0], res[1e-6][-1], res[1.0][-1]
    assert res[1.0][0] == pytest.approx(start)  # same random kernel directions at t = 0
    assert start < 0.6
    assert small >= 0.9
    assert large < 0.7 and small - large > 0.25


def test_validation():
    data = bump_data(6, 10, key=jax.random.key(0))
    with pytest.raises(ValueError, match="does not fit"):
        data_matrix(data, 11)
    with pytest.raises(ValueError, match="pooling"):
        data_matrix(data, 3, pooling="max")
    with pytest.raises(ValueError, match="k must be"):
        top_directions(data_matrix(data, 3), 4)
    with pytest.raises(ValueError, match="multiplicity one"):
        early_time(data_matrix(data, 3), 1e-3, "relu")
    with pytest.raises(ValueError, match="1-D signals"):
        data_matrix(Dataset(np.ones((3, 2, 2, 2)), np.ones(3)), 2)
