"""Du et al.'s time to learn a filter as a sweep problem: through ``sweep`` and the CLI, the
exact event time checked against SciPy's solve_ivp of a hand-written NumPy gradient flow."""

import math
from typing import Any

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from typer.testing import CliRunner

import gradflow.sweep as gs
from gradflow.cli import app
from gradflow.papers import PROBLEMS
from gradflow.papers.du import TimeToLearnProblem

SMALL: dict[str, Any] = dict(d=8, size=4, n=48, t1=150.0, rtol=1e-8, max_steps=2**13)
GRID = {"stride": [4], "dist": ["gaussian", "uniform"]}
SEEDS = 2


def _numpy_t_learn(problem: TimeToLearnProblem, stride: int, dist: str, seed: int) -> float:
    """t with |w(t) - w*| = learned |w*| for dw/dt = -grad (1/2n) sum_i (f_w(x_i) - y_i)^2,
    f_w(x) = (1/k) sum_p relu(w . x[p s : p s + size]): NumPy gradient, SciPy DOP853 event."""
    student, data, _ = problem({"stride": stride, "dist": dist}, jax.random.key(seed))
    x, y = np.asarray(data.x), np.asarray(data.y)
    w0, w_star = np.asarray(student.w), np.asarray(problem.teacher())
    size, d = problem.size, problem.d
    k = (d - size) // stride + 1
    z = np.stack([x[:, p * stride : p * stride + size] for p in range(k)], axis=1)  # n k size
    n = x.shape[0]

    def rhs(t, w):
        pre = z @ w  # n k
        f = np.maximum(pre, 0.0).mean(axis=1)
        r = f - y
        return -np.einsum("i,ikj->j", r, (pre > 0)[..., None] * z) / (k * n)

    level = problem.learned * np.linalg.norm(w_star)

    def event(t, w):
        return np.linalg.norm(w - w_star) - level

    event.terminal, event.direction = True, -1
    sol = solve_ivp(rhs, (0.0, problem.t1), w0, method="DOP853", rtol=1e-12, atol=1e-14,
                    events=event)
    return float(sol.t_events[0][0]) if sol.t_events[0].size else math.nan


def test_registered_and_rows_match_an_independent_flow():
    assert PROBLEMS["du"] == "gradflow.papers.du:TimeToLearnProblem"
    problem = TimeToLearnProblem(**SMALL)
    table = gs.sweep(problem, GRID, SEEDS, strategy="map", progress=False)
    rows = table.to_pydict()
    assert table.num_rows == 4 and set(rows["status_name"]) == {"event"}
    assert np.allclose(rows["err_final"], problem.learned, rtol=1e-6)  # stopped AT the level
    assert rows["k"] == [2.0] * 4 and rows["overlap"] == [0.0] * 4
    for i in (0, 3):  # gaussian seed 0, uniform seed 1
        ref = _numpy_t_learn(problem, 4, rows["dist"][i], rows["seed"][i])
        assert rows["t_learn"][i] == pytest.approx(ref, rel=1e-5), (rows["dist"][i], ref)
    # two input laws give different data, hence different times
    assert rows["t_learn"][0] != rows["t_learn"][2]


def test_cli_sweep_and_plot(tmp_path):
    runner = CliRunner()
    out = tmp_path / "d"
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]
    res = runner.invoke(app, ["sweep", "du", "--grid", "stride=4", "--grid",
                              "dist=gaussian,uniform", *sets, "--seeds", str(SEEDS),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "time to learn" in res.output and "stride 4" in res.output
    # the stored rows are those of the Python sweep, bit for bit
    py = gs.sweep(TimeToLearnProblem(**SMALL), GRID, SEEDS, strategy="map", progress=False)
    cli = gs.load_results(out)
    for name in ("t_learn", "err_final", "seed", "err_init"):
        np.testing.assert_array_equal(np.asarray(cli[name]), np.asarray(py[name]), err_msg=name)
    res = runner.invoke(app, ["plot", str(out)])
    assert res.exit_code == 0, res.output
    png = out / gs.FIGURES / "du_time_to_learn.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="size must be <= d"):
        TimeToLearnProblem(d=4, size=8)
    with pytest.raises(ValueError, match="learned must be < 1"):
        TimeToLearnProblem(learned=2.0)
    p = TimeToLearnProblem(**SMALL)
    with pytest.raises(ValueError, match="dist must be one of"):
        p({"stride": 4, "dist": "cauchy"}, jax.random.key(0))
    with pytest.raises(ValueError, match="closeness > 0 needs non-overlapping"):
        p({"stride": 2, "dist": "gaussian", "closeness": 0.5}, jax.random.key(0))
