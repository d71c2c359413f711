"""TwoLayerCNN, patch extraction, key-pattern data and Yu et al.'s filter metrics."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradflow.flow import gd, solve_flow
from gradflow.models import CNN_ACTIVATIONS as ACTIVATIONS, TwoLayerCNN, num_patches, patches
from gradflow.papers.yu import (
    FilterSummary,
    accuracy,
    best_key_cos,
    key_background_ratio,
    pattern_cos,
    pattern_data,
    ratio_from_summary,
)

ACT = {
    "relu": lambda z: max(z, 0.0),
    "tanh": np.tanh,
    "xsigmoid": lambda z: z / (1.0 + np.exp(-z)),
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
}


def loop_output(model: TwoLayerCNN, x: np.ndarray) -> float:
    """f(x) by an explicit patch-by-patch Python loop over filters and positions."""
    w, a = np.asarray(model.w), np.asarray(model.a)
    size, stride, sig = model.size, model.stride, ACT[model.activation]
    if x.ndim == 1:
        starts = [(s,) for s in range(0, x.shape[0] - size[0] + 1, stride[0])]
    else:
        starts = list(
            itertools.product(
                range(0, x.shape[0] - size[0] + 1, stride[0]),
                range(0, x.shape[1] - size[1] + 1, stride[1]),
            )
        )
    total = 0.0
    for k in range(w.shape[0]):
        pooled = 0.0
        for q, st in enumerate(starts):
            if x.ndim == 1:
                patch = x[st[0] : st[0] + size[0]]
            else:
                patch = x[st[0] : st[0] + size[0], st[1] : st[1] + size[1]]
            h = sig(float(np.dot(w[k], patch.ravel())))
            if model.pooling == "none":
                total += a[k, q] * h
            else:
                pooled += h
        if model.pooling == "mean":
            total += a[k] * pooled / len(starts)
        elif model.pooling == "sum":
            total += a[k] * pooled
    return total


def test_patches_known_values():
    x = jnp.arange(6.0)
    np.testing.assert_array_equal(patches(x, 2), [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(patches(x, 3, 2), [[0, 1, 2], [2, 3, 4]])  # tail dropped
    img = jnp.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(
        patches(img, 2), [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    )
    np.testing.assert_array_equal(
        patches(img, (2, 3), 1)[:3], [[0, 1, 2, 4, 5, 6], [1, 2, 3, 5, 6, 7], [4, 5, 6, 8, 9, 10]]
    )
    assert num_patches((8, 8), 3, 1) == 36 and num_patches((12,), 3) == 4


CASES = [
    # signal shape, size, stride, pooling, activation
    ((12,), 3, None, "mean", "relu"),  # 1-D non-overlapping
    ((13,), 4, 2, "sum", "tanh"),  # 1-D overlapping (tail dropped)
    ((13,), 4, 3, "none", "xsigmoid"),  # 1-D strided
    ((6, 6), 2, None, "mean", "leaky_relu"),  # 2-D non-overlapping
    ((7, 6), (3, 2), 1, "none", "tanh"),  # 2-D overlapping, rectangular
    ((8, 8), 3, (2, 1), "sum", "relu"),  # 2-D anisotropic stride
]


@pytest.mark.parametrize("shape,size,stride,pooling,act", CASES)
def test_output_equals_patch_loop(shape, size, stride, pooling, act):
    kx, km = jax.random.split(jax.random.key(7))
    model = TwoLayerCNN.gaussian(
        shape,
        size,
        5,
        0.8,
        stride=stride,
        activation=act,
        pooling=pooling,
        readout="trained",
        key=km,
    )
    xs = jax.random.normal(kx, (3, *shape))
    for x, out in zip(xs, jax.vmap(model)(xs), strict=True):
        assert float(out) == pytest.approx(loop_output(model, np.asarray(x)), rel=1e-12, abs=1e-14)


def test_gradient_matches_finite_differences():
    shape, key = (7, 6), jax.random.key(3)
    model = TwoLayerCNN.gaussian(
        shape,
        (3, 2),
        4,
        1.0,
        stride=1,
        activation="xsigmoid",
        pooling="none",
        readout="trained",
        key=key,
    )
    x = jax.random.normal(jax.random.key(4), shape)
    grad = jax.grad(lambda m: m(x))(model)
    h = 1e-6
    for leaf, g in (("w", grad.w), ("a", grad.a)):
        arr = np.asarray(getattr(model, leaf))
        for idx in [(0, 0), (1, 3), (3, 5)]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            fp = model.__class__(**{**_fields(model), leaf: jnp.asarray(plus)})(x)
            fm = model.__class__(**{**_fields(model), leaf: jnp.asarray(minus)})(x)
            fd = (float(fp) - float(fm)) / (2 * h)
            assert float(g[idx]) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def _fields(m):
    return {
        f: getattr(m, f)
        for f in ("w", "a", "signal_shape", "size", "stride", "activation", "pooling", "readout")
    }


def test_fixed_readout_gets_no_gradient_and_stays_fixed():
    data, _ = pattern_data(10, 4, 3, num_background=2, key=jax.random.key(0))
    model = TwoLayerCNN.gaussian((12,), 4, 4, 1e-2, activation="tanh", key=jax.random.key(1))
    np.testing.assert_array_equal(model.a, [1.0, 1.0, -1.0, -1.0])
    g = jax.grad(lambda m: m(data.x[0]))(model)
    assert np.all(np.asarray(g.a) == 0.0) and np.any(np.asarray(g.w) != 0.0)
    traj = gd(model, data, eta=0.5, steps=20, saves=2)
    np.testing.assert_array_equal(traj.final.a, model.a)
    assert not np.allclose(traj.final.w, model.w)


def test_balanced_init_norms():
    m = TwoLayerCNN.balanced((8, 8), 3, 6, 1e-4, stride=1, pooling="none", key=jax.random.key(2))
    np.testing.assert_allclose(np.linalg.norm(m.a, axis=1), np.linalg.norm(m.w, axis=1), rtol=1e-12)
    assert m.a.shape == (6, 36) and m.filters.shape == (6, 3, 3)
    assert np.mean(np.linalg.norm(m.w, axis=1)) == pytest.approx(1e-4, rel=0.5)


def test_pattern_data_construction():
    data, pats = pattern_data(30, 8, 5, num_background=3, key=jax.random.key(5))
    basis = np.asarray(pats.all)
    np.testing.assert_allclose(basis @ basis.T, np.eye(5), atol=1e-12)
    x = np.asarray(data.x).reshape(30, 5, 8)
    y = np.asarray(data.y)
    assert (y == 1).sum() == 15 and (y == -1).sum() == 15
    for i in range(30):
        key_pat = basis[0] if y[i] > 0 else basis[1]
        np.testing.assert_allclose(x[i, int(pats.position[i])], key_pat, atol=1e-12)
        for q in range(5):
            if q != int(pats.position[i]):  # background: one of b_1..b_3 exactly
                assert np.min(np.linalg.norm(basis[2:] - x[i, q], axis=1)) < 1e-12


def test_yu_filters_learn_key_patterns():
    """GF from eps = 1e-3: best filters reach cos >= 0.95 to p_+ and p_-, the key filters'
    norm exceeds every background filter's by >= 5x, and training accuracy is 100%."""
    data, pats = pattern_data(40, 8, 4, num_background=3, key=jax.random.key(0))
    model = TwoLayerCNN.gaussian((32,), 8, 8, 1e-3, key=jax.random.key(1))
    traj = solve_flow(model, data, loss="exp", t1=200.0, saveat=12, fn=FilterSummary(pats, data))
    assert traj.status.ok, traj.describe()
    s = traj.summary
    cos_final = np.asarray(s["cos"][-1])
    assert np.max(cos_final[:, 0]) >= 0.95 and np.max(cos_final[:, 1]) >= 0.95
    # filters with readout +1 learn p_+, those with -1 learn p_- (never the other key)
    assert np.max(cos_final[4:, 0]) < 0.1 and np.max(cos_final[:4, 1]) < 0.1
    ratio = np.asarray(ratio_from_summary(s["norms"], s["cos"]))
    assert np.isfinite(ratio[-1]) and ratio[-1] >= 5.0  # finite: background filters exist
    assert ratio[-1] > 2.0 * ratio[len(ratio) // 2] > 2.0 * ratio[1]  # a growing margin
    assert float(np.asarray(ratio_from_summary(s["norms"], s["cos"], "mean"))[-1]) >= 5.0
    assert float(s["accuracy"][-1]) == 1.0
    assert float(s["accuracy"][0]) < 1.0  # it had to be learned
    assert float(traj.loss[-1]) < 0.2 * float(traj.loss[0])


def test_filter_metrics_on_known_filters():
    _, pats = pattern_data(4, 6, 3, num_background=2, key=jax.random.key(9))
    basis = pats.all
    w = jnp.stack(
        [3.0 * basis[0], 2.0 * basis[1] + 0.1 * basis[2], 0.5 * basis[3], 0.2 * basis[3] - basis[0]]
    )
    c = np.asarray(pattern_cos(w, pats))
    assert c[0, 0] == pytest.approx(1.0) and c[3, 0] == pytest.approx(-1 / np.sqrt(1.04))
    np.testing.assert_allclose(best_key_cos(w, pats), [1.0, 2.0 / np.sqrt(4.01)], rtol=1e-12)
    # key filters 0, 1 (norms 3, sqrt(4.01)); background filters 2 (0.5) and 3 (sqrt(1.04):
    # its largest cos is to background b_2, although it is mostly -p_+)
    assert float(key_background_ratio(w, pats)) == pytest.approx(3.0 / np.sqrt(1.04))
    assert float(key_background_ratio(w, pats, "mean")) == pytest.approx(
        (3.0 + np.sqrt(4.01)) / 2 / np.sqrt(1.04)
    )


def test_accuracy_counts_ties_as_wrong():
    data, _ = pattern_data(6, 4, 2, num_background=1, key=jax.random.key(0))
    zero = TwoLayerCNN.gaussian((8,), 4, 2, 1.0, key=jax.random.key(0))
    zero = TwoLayerCNN(**{**_fields(zero), "w": jnp.zeros_like(zero.w)})
    assert float(accuracy(zero, data)) == 0.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(signal_shape=(5,), size=6), "does not fit"),
        (dict(signal_shape=(8, 8), size=(3, 9)), "does not fit"),
        (dict(signal_shape=(8, 8, 3), size=3), "1-D signal"),
        (dict(signal_shape=(8,), size=(2, 2)), "tuple of 1 ints"),
        (dict(signal_shape=(8,), size=2, stride=0), "stride must be >= 1"),
        (dict(signal_shape=(8,), size=2, activation="gelu"), "activation must be one of"),
        (dict(signal_shape=(8,), size=2, pooling="max"), "pooling must be one of"),
        (dict(signal_shape=(8,), size=2, readout="frozen"), "readout must be one of"),
        (dict(signal_shape=(8,), size=2, num_filters=0), "num_filters must be"),
        (dict(signal_shape=(8,), size=2, eps=-1.0), "eps must be"),
    ],
)
def test_validation_errors(kwargs, match):
    args = dict(signal_shape=(8,), size=2, num_filters=3, eps=1e-3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TwoLayerCNN.gaussian(
            args.pop("signal_shape"),
            args.pop("size"),
            args.pop("num_filters"),
            args.pop("eps"),
            key=jax.random.key(0),
            **args,
        )


def test_wrong_input_shape_and_bad_data_args():
    model = TwoLayerCNN.gaussian((12,), 3, 2, 1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="expects ONE signal of shape"):
        model(jnp.ones(10))
    with pytest.raises(ValueError, match="a must have shape"):
        TwoLayerCNN(**{**_fields(model), "w": jnp.ones((2, 3)), "a": jnp.ones(3)}).a  # noqa: B018
    with pytest.raises(ValueError, match="2 \\+ num_background <= d_patch"):
        pattern_data(10, 4, 3, num_background=3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="noise"):
        pattern_data(10, 4, 3, num_background=1, noise=-1.0, key=jax.random.key(0))
    assert sorted(ACTIVATIONS) == ["leaky_relu", "relu", "tanh", "xsigmoid"]
