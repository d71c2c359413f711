"""Data generators: two_point, separated (exact mu), sklearn digits, MNIST IDX files."""

import gzip
import math
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradflow.data import Dataset, digits, mnist, read_idx
from gradflow.metrics import mu as mu_of
from gradflow.papers.min_mallada_vidal import separated, two_point


@pytest.mark.parametrize("theta", [0.1, 0.001, 0.0, 1.2])
def test_two_point_mu_is_sin_theta(theta):
    data = two_point(theta)
    assert data.x.shape == (2, 2) and data.y.shape == (2,)
    np.testing.assert_allclose(data.x, [[1.0, 0.0], [math.sin(theta), math.cos(theta)]])
    np.testing.assert_array_equal(data.y, [1.0, 1.0])
    assert float(mu_of(data)) == pytest.approx(math.sin(theta), abs=1e-15)


def test_two_point_traceable_and_validates():
    mus = jax.vmap(lambda t: mu_of(two_point(t)))(jnp.array([0.1, 0.3]))
    np.testing.assert_allclose(mus, np.sin([0.1, 0.3]), rtol=1e-14)
    with pytest.raises(ValueError, match="theta"):
        two_point(float("nan"))


@pytest.mark.parametrize(
    "family,n,d,target",
    [("cone", 2, 2, 0.5), ("cluster", 31, 3, 0.05), ("cone", 120, 20, 0.9)],
)
def test_separated_reaches_target_mu(family, n, d, target):
    data, mu = separated(n, d, target, key=jax.random.key(n + d), family=family)
    assert data.x.shape == (n, d) and data.y.shape == (n,)
    y = np.asarray(data.y)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert (y > 0).sum() == round(n / 2)
    # the returned mu IS the metric of the returned data, and equals the target
    assert float(mu) == float(mu_of(data))
    assert float(mu) >= target - 1e-12
    assert float(mu) == pytest.approx(target, abs=1e-9)
    # mu-separated: same label -> positive, opposite -> negative inner products
    g = np.asarray(data.x) @ np.asarray(data.x).T
    same = y[:, None] == y[None, :]
    assert np.all(g[same] > 0) and np.all(g[~same] < 0)
    np.testing.assert_allclose(np.linalg.norm(data.x, axis=1), 1.0, rtol=1e-12)


def test_separated_large_and_radius():
    data, mu = separated(
        1000, 100, 0.05, key=jax.random.key(3), family="cluster", radius=(0.5, 2.0), balance=0.3
    )
    norms = np.linalg.norm(data.x, axis=1)
    assert 0.5 <= norms.min() < 0.6 and 1.9 < norms.max() <= 2.0
    assert (np.asarray(data.y) > 0).sum() == 300
    assert float(mu) == pytest.approx(0.05, abs=1e-9)


def test_separated_vmaps_over_keys():
    keys = jax.random.split(jax.random.key(0), 3)
    batch = jax.jit(jax.vmap(lambda k: separated(40, 5, 0.2, key=k, family="cluster")))(keys)
    assert batch.data.x.shape == (3, 40, 5)
    np.testing.assert_allclose(batch.mu, 0.2, atol=1e-9)
    one = separated(40, 5, 0.2, key=keys[1], family="cluster")
    np.testing.assert_allclose(batch.data.x[1], one.data.x, atol=1e-12)
    assert not np.allclose(batch.data.x[0], batch.data.x[1])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n=10, d=3, mu=0.0), "mu"),
        (dict(n=10, d=3, mu=1.0), "mu"),
        (dict(n=1, d=3, mu=0.2), "n must"),
        (dict(n=10, d=1, mu=0.2), "d must"),
        (dict(n=10, d=3, mu=0.2, family="ball"), "family"),
        (dict(n=10, d=3, mu=0.2, radius=(2.0, 1.0)), "radius"),
        (dict(n=10, d=3, mu=0.2, balance=1.0), "balance"),
        (dict(n=10, d=3, mu=0.2, family="cluster", clusters=1), "clusters"),
    ],
)
def test_separated_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        separated(key=jax.random.key(0), **kwargs)


def test_digits_zero_vs_one():
    data = digits((0, 1))
    assert isinstance(data, Dataset) and data.x.shape == (360, 64)
    y = np.asarray(data.y)
    assert (y > 0).sum() == 178 and (y < 0).sum() == 182
    np.testing.assert_allclose(np.asarray(data.x).mean(axis=0), 0.0, atol=1e-12)
    raw = digits((0, 1), center=False, normalize=None)
    assert float(raw.x.max()) == 16.0 and float(raw.x.min()) == 0.0
    # centring subtracts the mean over the selected images, after pixel scaling
    scaled = np.asarray(raw.x) / 16.0
    np.testing.assert_allclose(data.x, scaled - scaled.mean(axis=0), atol=1e-12)
    unit = digits((3, 5), normalize="unit", n_per_class=20)
    assert unit.n == 40
    np.testing.assert_allclose(np.linalg.norm(unit.x, axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="pair"):
        digits((1, 1))
    with pytest.raises(ValueError, match="normalize"):
        digits(normalize="zscore")


def _idx_bytes(arr: np.ndarray, type_byte: int) -> bytes:
    header = bytes([0, 0, type_byte, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 7, 1, 0, 0, 3, 1, 9, 0, 1, 2], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(images, 0x08))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(labels, 0x08))
    )
    return tmp_path, images, labels


def test_read_idx_round_trip(mnist_dir, tmp_path):
    d, images, labels = mnist_dir
    got = read_idx(d / "train-images-idx3-ubyte")
    assert got.dtype == np.uint8 and got.shape == (12, 4, 3)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(d / "train-labels-idx1-ubyte.gz"), labels)
    floats = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    (tmp_path / "f.idx").write_bytes(_idx_bytes(floats, 0x0E))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), floats)


def test_mnist_pair_from_idx(mnist_dir):
    d, images, labels = mnist_dir
    data = mnist(d, pair=(0, 1))
    keep = np.isin(labels, (0, 1))
    assert data.x.shape == (keep.sum(), 12)
    np.testing.assert_array_equal(data.y, np.where(labels[keep] == 0, 1.0, -1.0))
    x = images[keep].reshape(-1, 12) / 255.0
    np.testing.assert_allclose(data.x, x - x.mean(axis=0), atol=1e-12)
    with pytest.raises(ValueError, match="no images of digit 5"):
        mnist(d, pair=(0, 5))


def test_read_idx_errors(tmp_path, mnist_dir):
    d, images, _ = mnist_dir
    good = (d / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "trunc").write_bytes(good[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "trunc")
    (tmp_path / "bad").write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "badgz").write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "badgz")
    missing = tmp_path / "nope-idx1-ubyte"
    with pytest.raises(ValueError, match="nope-idx1-ubyte"):
        read_idx(missing)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        mnist(d, split="t10k")
