"""Min et al. sec. 1b on real digits (0 vs 1): early alignment, then stable rank ~ 1."""

import gzip
import math
import struct

import numpy as np
import pytest

from gradflow.data import digits
from gradflow.papers.min_mallada_vidal import DIGITS_DELTA as DELTA, digits_flow, run_digits as run


@pytest.fixture(scope="module")
def flow():
    return digits_flow(digits((0, 1), center=True))


def test_digits_alignment_and_low_rank(flow):
    traj, r = flow
    assert r["ok"], r["describe"]
    assert (r["n"], r["d"]) == (360, 64)
    # every neuron aligned with its class direction (cos >= 1 - 0.05) or dead, at t = 30
    assert r["aligned"] + r["dead"] == 50
    assert r["min_cos_final"] >= 1 - DELTA
    assert r["cones"]["other"] == 0
    # W ends (near) rank one: |W|_F^2 / |W|_2^2 <= 1.5 (measured 1.006)
    assert r["srank_final"] <= 1.5
    assert float(np.asarray(traj.summary["srank"])[1]) > 10  # it started high (~15)


def test_digits_alignment_precedes_loss_drop(flow):
    traj, r = flow
    t_al = r["t_align"]
    assert math.isfinite(t_al) and 1.0 < t_al < 30.0
    ts, loss = np.asarray(traj.ts), np.asarray(traj.loss)
    # at the alignment time the loss has not moved yet (> 0.99); at t = 30 it has dropped
    assert np.interp(t_al, ts, loss) > 0.99
    assert r["loss_final"] < 0.2


def _write_idx(path, arr, type_byte):
    header = struct.pack(">BBBB", 0, 0, type_byte, arr.ndim) + struct.pack(
        f">{arr.ndim}I", *arr.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(arr.dtype.newbyteorder(">")).tobytes())


def test_digits_demo_on_mnist_idx(tmp_path):
    """The demo reads MNIST IDX files (12 synthetic 28x28 'zeros' (rings), 'ones' (bars))."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    ring = (np.abs(np.hypot(yy - 14, xx - 14) - 8) < 2).astype(float)
    bar = (np.abs(xx - 14) < 2).astype(float) * (np.abs(yy - 14) < 10)
    imgs, labels = [], []
    for i in range(12):
        base = ring if i % 2 == 0 else bar
        imgs.append(np.clip(255 * base + rng.normal(0, 20, (28, 28)), 0, 255))
        labels.append(i % 2)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.array(imgs, dtype=np.uint8), 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array(labels, dtype=np.uint8), 0x08)
    res = run(tmp_path / "out", mnist_dir=str(tmp_path), n_per_class=6, t1=3.0)
    assert res.ok
    assert "n=12, d=784" in res.text
    assert all(p.exists() for p in res.figures)
