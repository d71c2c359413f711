"""Min et al. experiment rows and fits, checked against independent computations.

- the row's exact cone-entry time (switch log) and cos >= 1 - delta time (event) against a
  SciPy solve_ivp reference of the two-layer ReLU flow written here, with every z_ij = 0
  crossing and the cos criterion as root-found events;
- the row's bound columns against Theorem 1's formulas evaluated here with NumPy;
- fit_forms against synthetic times with known constants and exponents;
- benchmarks/min_scale.py on a tiny grid (the CI version of the scale experiment).
"""

import importlib.util
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from gradflow.papers.min_mallada_vidal import AlignmentProblem, family_data, fit_forms
from gradflow.sweep import columns, load_results, run_one

DELTA = 1e-2


def _reference(w0, v0, x, y, t_end):
    """SciPy reference: mean exp loss GF; returns (cone-entry time, cos time) on mean clock."""
    n, d = x.shape
    h = w0.shape[0]
    pos = y > 0
    xp, xm = x[pos].sum(0), x[~pos].sum(0)
    xpu, xmu = xp / np.linalg.norm(xp), xm / np.linalg.norm(xm)

    def unpack(p):
        return p[: h * d].reshape(h, d), p[h * d :]

    def rhs(_, p):
        w, v = unpack(p)
        z = w @ x.T  # (h, n)
        a = np.maximum(z, 0.0)
        f = v @ a
        g = y * np.exp(-y * f) / n  # -dL/df_i
        dw = (v[:, None] * (z > 0) * g[None, :]) @ x
        dv = a @ g
        return np.concatenate([dw.ravel(), dv])

    def cos_gap(_, p):  # <= 0 iff every neuron has cos >= 1 - delta or is dead
        w, v = unpack(p)
        wu = w / np.linalg.norm(w, axis=1, keepdims=True)
        c = np.where(v > 0, wu @ xpu, wu @ xmu)
        dead = -np.max(wu @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T, axis=1)
        return -np.min(np.maximum(c - (1 - DELTA), dead))

    cos_gap.terminal = False  # pyright: ignore[reportFunctionMemberAccess]
    cos_gap.direction = -1  # pyright: ignore[reportFunctionMemberAccess]
    events = [cos_gap]
    for j in range(h):
        for i in range(n):
            ev = lambda _, p, j=j, i=i: float(unpack(p)[0][j] @ x[i])  # noqa: E731
            events.append(ev)
    p0 = np.concatenate([w0.ravel(), v0])
    scale = np.sqrt(np.mean(p0**2))
    sol = solve_ivp(rhs, (0.0, t_end), p0, method="DOP853", rtol=1e-11, atol=1e-13 * scale,
                    events=events)
    t_cos = float(sol.t_events[0][0])
    # activation patterns: replay every z_ij crossing in time order
    z0 = w0 @ x.T > 0  # (h, n)
    cross = [(t, k) for k in range(h * n) for t in sol.t_events[k + 1]]
    state = z0.copy()
    first = np.full(h, np.nan)
    target = np.where(v0[:, None] > 0, pos[None, :], ~pos[None, :])

    def in_cone(j):
        return np.array_equal(state[j], target[j]) or not state[j].any()

    for j in range(h):
        if in_cone(j):
            first[j] = 0.0
    for t, k in sorted(cross):
        j, i = divmod(k, n)
        state[j, i] = ~state[j, i]
        if np.isnan(first[j]) and in_cone(j):
            first[j] = t
    return float(np.max(first)), t_cos


@pytest.mark.parametrize(
    "family",  # CI time: one family by default, the others with `-m slow`
    ["cone", pytest.param("aniso", marks=pytest.mark.slow),
     pytest.param("unbalanced", marks=pytest.mark.slow)],
)
def test_row_times_are_exact_against_scipy(family):
    problem = AlignmentProblem(
        d=3, h=4, eps=1e-3, delta=DELTA, rtol=1e-10, t_max=200.0, t_end=30.0,
        loss_times=(30.0,), n_saves=12, interpolated=True,
    )
    params = {"n": 10, "mu": 0.4, "family": family}
    row = run_one(problem, params, 3)
    model, data, _ = problem(dict(params), jax.random.key(3))
    x, y = np.asarray(data.x), np.asarray(data.y)
    t_cone, t_cos = _reference(np.asarray(model.w), np.asarray(model.v), x, y, 30.0)
    assert row["status_name"] == "event" and row["status_end"] == 0
    assert row["t_cone_mean"] == pytest.approx(t_cone, rel=1e-6)
    assert row["t_align_mean"] == pytest.approx(t_cos, rel=1e-6)
    assert row["t_cone_sum"] == pytest.approx(t_cone / 10, rel=1e-6)
    assert row["zeno_pairs"] == 0
    # the save-interpolated times (labelled _interp) lie in the save interval holding the
    # exact time, so their error is up to its width (12 log-spaced saves: a factor ~2.2)
    ts = np.asarray(problem.save_times())
    for exact, interp in ((t_cos, row["t_align_interp_mean"]), (t_cone, row["t_cone_interp_mean"])):
        k = np.searchsorted(ts, exact)
        assert ts[k - 1] <= interp <= ts[k]


def test_row_bound_columns_by_hand():
    problem = AlignmentProblem(d=4, h=5, eps=1e-5, t_end=None)
    params = {"n": 12, "mu": 0.3, "family": "unbalanced"}
    model, data, opts = problem(dict(params), jax.random.key(0))
    extra = opts["extra"]
    x, y = np.asarray(data.x), np.asarray(data.y)
    W0, v = np.asarray(model.w) / 1e-5, np.asarray(model.v)
    n, h = 12, 5
    z = y[:, None] * x / np.linalg.norm(x, axis=1, keepdims=True)
    mu = np.min(z @ z.T)
    xn = np.linalg.norm(x, axis=1)
    Xmin, Xmax = xn.min(), xn.max()
    xp, xm = x[y > 0].sum(0), x[y < 0].sum(0)
    cos = lambda a, b: (a @ b) / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    rz1 = min(min(y[i] * cos(xp, x[i]) for i in range(n)),
              min(-y[i] * cos(xm, x[i]) for i in range(n)))
    worst = max(0.0, *(cos(W0[j], xm if v[j] > 0 else xp) for j in range(h)))
    zeta = min(rz1**2, 1 - worst**2)
    cmin = min(zeta, mu**2) * math.sqrt(mu) * Xmin
    t1 = 16 * math.log(n) / cmin
    npl = int(np.sum(y > 0))
    assert npl == round(0.8 * n)  # 80/20 classes
    Wn = np.linalg.norm(W0, axis=1)
    L = math.log(2 / (1e-10 * math.sqrt(mu) * Xmin * Wn.min() ** 2))

    def t2(k):
        return t1 + 6 / (math.sqrt(mu) * k * Xmin) + 4 / (math.sqrt(mu) * k * Xmin) * (
            L + 4 * n * Xmax * t1)

    log_eps = min(
        math.log(min(mu, zeta, mu**2) * math.sqrt(mu) * Xmin
                 / (8 * math.sqrt(h) * n * Xmax**2 * Wn.max() ** 2)),
        -0.5 * math.log(h) - 64 * n * Xmax * math.log(n) / cmin,
    )
    assert extra["bound_t1_sum"] == pytest.approx(t1, rel=1e-10)
    assert extra["bound_t1_mean"] == pytest.approx(n * t1, rel=1e-10)
    assert extra["bound_t2_sum"] == pytest.approx(max(t2(npl), t2(n - npl)), rel=1e-10)
    start = t1 + 6 / (math.sqrt(mu) * (n - npl) * Xmin)  # the smaller class starts later
    assert extra["cos_start_sum"] == pytest.approx(start, rel=1e-10)
    assert extra["log_eps_max"] == pytest.approx(log_eps, rel=1e-10)
    assert extra["eps_ok"] == 0.0 and extra["eps_representable"] == 0.0
    assert extra["log_eps_max"] < math.log(5e-324)


def test_families_have_exact_mu_and_class_balance():
    for fam, frac in [("cone", 0.5), ("cluster", 0.5), ("aniso", 0.5), ("unbalanced", 0.8)]:
        data, mu = family_data(fam, 40, 6, 0.25, key=jax.random.key(1))
        z = np.asarray(data.y)[:, None] * np.asarray(data.x)
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        assert np.min(z @ z.T) == pytest.approx(0.25, abs=1e-10)
        assert float(mu) == pytest.approx(np.min(z @ z.T), abs=1e-14)
        assert np.mean(np.asarray(data.y) > 0) == pytest.approx(frac)
    with pytest.raises(ValueError, match="family must be one of"):
        family_data("spiral", 10, 3, 0.3, key=jax.random.key(0))


def test_fit_forms_recover_known_laws():
    rng = np.random.default_rng(0)
    # a balanced design (every n with every mu, 16 runs each): log n and log mu orthogonal
    n = np.repeat([10, 30, 100, 300, 1000], 48).astype(float)
    mu = np.tile(np.repeat([0.05, 0.2, 0.9], 16), 5)
    noise = np.exp(0.05 * rng.standard_normal(n.size))
    t = 0.7 * np.log(n) / mu**2.5 * noise
    f = fit_forms(t, n, mu, boot=200)
    m, hd, p = f["mu2.5"], f["headline"], f["power"]
    # 5 % noise: c within 2 % of the truth, a CI of about that width around the estimate
    assert m.c == pytest.approx(0.7, rel=0.02) and m.c_lo < m.c < m.c_hi
    assert m.c_hi - m.c_lo < 0.03
    assert m.r2_log > 0.99 and hd.r2_log < 0.5  # the headline form does not fit mu^-2.5
    assert p is not None and p.b == pytest.approx(-2.5, abs=0.02) and p.b_lo < p.b < p.b_hi
    # log n is not a power of n: the free exponent in n sits between 0 and 1
    assert 0.0 < p.a < 1.0 and p.r2 > 0.95
    t2 = 3.0 * n**0.4 * mu**-0.7 * noise
    p2 = fit_forms(t2, n, mu, boot=200)["power"]
    assert p2 is not None and p2.a == pytest.approx(0.4, abs=0.01)
    assert p2.b == pytest.approx(-0.7, abs=0.01) and p2.a_hi - p2.a_lo < 0.02
    assert p2.A == pytest.approx(3.0, rel=0.05)


@pytest.mark.slow  # ~100 s: the benchmark script end to end (CI time)
def test_min_scale_script_tiny_grid(tmp_path):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "min_scale.py"
    spec = importlib.util.spec_from_file_location("min_scale", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "ms"
    s = mod.main(["--preset", "ci", "--families", "cone,unbalanced", "--boot", "20",
                  "--out", str(out), "--d", "4", "--h", "6"])
    assert (out / "figure.png").stat().st_size > 10_000
    assert "t_cone <= t1" in (out / "table.md").read_text()
    saved = json.loads((out / "summary.json").read_text())
    c = {k: np.asarray(v) for k, v in columns(load_results(str(out / "store"))).items()}
    assert len(c["seed"]) == 2 * 2 * 2 * 2
    for fam in ("cone", "unbalanced"):
        sel = c["family"] == fam
        frac = np.mean(np.isfinite(c["t_cone_mean"][sel])
                       & (c["t_cone_mean"][sel] <= c["bound_t1_mean"][sel]))
        assert saved["families"][fam]["fraction_cone_le_t1"] == pytest.approx(frac)
        assert s["families"][fam]["eps_ok_runs"] == 0
        np.testing.assert_allclose(c["t_cone_sum"][sel], c["t_cone_mean"][sel] / c["n"][sel])
