"""benchmarks/bench_mlp_kinks.py on a tiny 3-layer problem: its GD baseline against a NumPy GD
loop with a hand-written backward pass, GD -> GF (error ~ eta against its kink-aware
reference), and the error / interpolation arithmetic of its tables against hand values."""

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mlp_kinks.py"
TINY = {"n": 16, "d": 4, "h": 4, "mu": 0.7, "eps": 0.5, "t1": 1.0, "seeds": 2,
        "losses": ("square",), "max_events": 256}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mlp_kinks", PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _numpy_gd(weights, x, y, eta, steps):
    """Plain GD on mean 0.5 (f - y)^2 of f = w3 . relu(W2 relu(W1 x)), by hand."""
    w1, w2, w3 = (np.array(w, dtype=float) for w in weights)
    for _ in range(steps):
        z1 = x @ w1.T
        a1 = np.maximum(z1, 0.0)
        z2 = a1 @ w2.T
        a2 = np.maximum(z2, 0.0)
        r = ((a2 @ w3.T)[:, 0] - y) / len(y)
        g3 = r[None, :] @ a2
        gz2 = r[:, None] * w3 * (z2 > 0)
        g2 = gz2.T @ a1
        g1 = ((gz2 @ w2) * (z1 > 0)).T @ x
        w1, w2, w3 = w1 - eta * g1, w2 - eta * g2, w3 - eta * g3
    return w1, w2, w3


def test_gd_baseline_matches_numpy_and_converges_to_the_reference(bench):
    data = bench.make_data(TINY["n"], TINY["d"], TINY["mu"], jax.random.key(0))
    x, y = np.asarray(data.x), np.asarray(data.y)
    # the data: mu-separated, cos <x_i y_i, x_j y_j> >= mu, labels +-1
    z = x * y[:, None]
    cos = z @ z.T / np.outer(*(2 * [np.linalg.norm(z, axis=1)]))
    assert cos.min() >= TINY["mu"] - 1e-12 and set(np.unique(y)) == {-1.0, 1.0}
    keys = jax.random.split(jax.random.key(1), TINY["seeds"])
    ref, _ = bench.timed(bench.ref_runner(TINY, data, "square"), keys)
    assert np.all(np.asarray(ref[3]) == 0)  # SUCCESS on both seeds
    assert np.all(np.asarray(ref[4]) > 0)  # with activation switches
    ref_w = [np.asarray(w) for w in ref[0]]
    errs = {}
    for eta in (0.04, 0.01):
        out, _ = bench.timed(bench.gd_runner(TINY, data, "square", eta), keys)
        steps = int(round(TINY["t1"] / eta))
        for s in range(TINY["seeds"]):
            w0 = bench.init(TINY, keys[s]).weights
            mine = _numpy_gd(w0, x, y, eta, steps)
            for a, b in zip(out[0], mine, strict=True):
                np.testing.assert_allclose(np.asarray(a)[s], b, rtol=1e-10, atol=1e-13)
        r = bench.row("gd", eta, out, 1.0, ref_w, np.ones(TINY["seeds"], bool))
        # the row's error, recomputed by hand from the NumPy weights of the worst seed
        hand = max(
            max(np.abs(np.asarray(a)[s] - b[s]).max() for a, b in zip(out[0], ref_w, strict=True))
            / max(np.abs(b[s]).max() for b in ref_w)
            for s in range(TINY["seeds"])
        )
        assert r["err_max"] == pytest.approx(hand, rel=1e-12)
        assert r["grad_evals_mean"] == steps
        errs[eta] = r["err_max"]
    # GD -> GF at first order: a 4x smaller step, a ~4x smaller error
    assert 3.0 < errs[0.04] / errs[0.01] < 5.0, errs


def test_interpolation_at_targets(bench):
    def r(method, setting, err, evals):
        return {"method": method, "setting": setting, "err_max": err, "grad_evals_mean": evals,
                "wall_per_seed_s": evals * 1e-3, "wall_s": evals * 1e-3, "all_ok": True}

    rows = [r("track", 1e-4, 1e-3, 100), r("track", 1e-8, 1e-7, 400),
            r("bare", 1e-6, 1e-5, 50), r("bare", 1e-5, 1e-3, 20), r("bare", 1e-7, 2e-5, 90),
            r("gd", 1e-2, 1e-3, 1000), r("gd", 1e-3, 1e-4, 10000)]
    k = bench.at_target(rows, "track", 1e-5)  # halfway in log error: sqrt(100 * 400)
    assert k["grad_evals_mean"] == pytest.approx(200.0) and k["how"] == "interpolated"
    b = bench.at_target(rows, "bare", 1e-4)  # 90 is off the front (costlier, less accurate)
    assert b["grad_evals_mean"] == pytest.approx(20 * (50 / 20) ** 0.5)
    assert bench.at_target(rows, "bare", 1e-6) is None
    g = bench.at_target(rows, "gd", 1e-6)  # error ~ eta: 100x the finest run
    assert g["grad_evals_mean"] == pytest.approx(1e6) and g["how"].startswith("extrap")
    assert g["setting"] == pytest.approx(1e-5)
    s = bench.summarise(rows)
    # 1e-4: track a quarter of the way (in log error) from 100 to 400; GD at its eta 1e-3 run
    assert s[0]["evals_gd_over_track"] == pytest.approx(10000 / (100 * 4**0.25))
    # 1e-6: bare never got there; its most accurate run (50 evals) bounds the ratio
    assert s[1]["bare"] is None
    assert s[1]["evals_bare_over_track_at_least"] == pytest.approx(50 / (100 * 4**0.75))
