"""Sweeps: batched runs equal the same runs one by one; every strategy gives the same rows."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradflow.sweep as gs

# A small problem, also run by the subprocess tests (so it is source text, exec'ed here).
PROBLEM_SRC = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import gradflow as gf
    from gradflow import FlowConfig

    STOP = gf.aligned(1e-2)
    CFG = FlowConfig(rtol=1e-6)

    def cone_problem(p, key):
        kd, km = jax.random.split(key)
        n, d = p["n"], 6
        y = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
        z = jnp.zeros(d).at[0].set(1.0) + p["s"] * jax.random.normal(kd, (n, d))
        data = gf.Dataset(y[:, None] * z, y)
        model = gf.models.TwoLayerReLU.balanced(d, 8, 1e-4, key=km)
        extra = {"x_norm_min": float(jnp.min(jnp.linalg.norm(z, axis=1)))}
        return model, data, dict(t1=200.0, stop=STOP, config=CFG, saveat=4, extra=extra)
    """
)
exec(PROBLEM_SRC, globals())
GRID = {"n": [8], "s": [0.2, 0.4]}
NUMERIC = [
    "t_event",
    "t_final",
    "loss_final",
    "status",
    "num_steps",
    "num_accepted",
    "num_rejected",
    "grad_evals",
    "x_norm_min",
]


def _cols(table):
    return table.to_pydict()


@pytest.fixture(scope="module")
def map_table():
    return gs.sweep(cone_problem, GRID, 5, strategy="map", chunk_size=3, progress=False)  # noqa: F821


def test_sweep_rows_equal_runs_one_by_one(map_table):
    c = _cols(map_table)
    assert len(c["seed"]) == 10
    assert c["seed"] == [0, 1, 2, 3, 4] * 2 and c["s"] == [0.2] * 5 + [0.4] * 5
    for i in range(10):
        ref = gs.run_one(cone_problem, {"n": 8, "s": c["s"][i]}, c["seed"][i])  # noqa: F821
        for k in NUMERIC:
            assert c[k][i] == ref[k], (k, i)  # bit-identical on CPU
    assert set(c["status_name"]) == {"event"}  # every run aligned before t1
    t = np.asarray(c["t_event"])
    assert np.all(np.isfinite(t)) and np.all(t > 0) and np.all(t < 200.0)
    # the chunk's wall time is shared out: positive, identical within a chunk
    assert all(w > 0 for w in c["wall_s"])


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_all_strategies_give_the_same_rows(map_table, strategy):
    other = gs.sweep(cone_problem, GRID, 5, strategy=strategy, chunk_size=3, progress=False)  # noqa: F821
    a, b = _cols(map_table), _cols(other)
    assert a["seed"] == b["seed"] and a["s"] == b["s"]
    for k in NUMERIC:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-12, atol=0, err_msg=k)


def test_shard_map_on_four_host_devices(tmp_path, map_table):
    script = PROBLEM_SRC + textwrap.dedent(
        """
        import json, sys
        jax.config.update("jax_enable_x64", True)
        import gradflow.sweep as gs
        assert jax.local_device_count() == 4, jax.local_device_count()
        assert gs.resolve_strategy("auto") == "shard_map"
        t = gs.sweep(cone_problem, {"n": [8], "s": [0.2, 0.4]}, 5, strategy="shard_map",
                     chunk_size=3, progress=False)
        json.dump(t.to_pydict(), open(sys.argv[1], "w"))
        """
    )
    out = tmp_path / "rows.json"
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    b, a = json.loads(out.read_text()), _cols(map_table)
    assert b["seed"] == a["seed"]
    for k in NUMERIC:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-12, atol=0, err_msg=k)


def test_grid_and_seed_expansion_and_bad_input():
    pts = gs.expand_grid({"n": [10, 30], "mu": [0.1, 0.3, 0.7]})
    assert len(pts) == 6 and pts[0] == {"n": 10, "mu": 0.1} and pts[-1] == {"n": 30, "mu": 0.7}
    assert gs.expand_seeds(3) == [0, 1, 2] and gs.expand_seeds([5, 2]) == [5, 2]
    with pytest.raises(ValueError, match="strategy"):
        gs.sweep(cone_problem, GRID, 2, strategy="pmap", progress=False)  # noqa: F821
    with pytest.raises(ValueError, match="distinct"):
        gs.expand_seeds([1, 1])
    with pytest.raises(ValueError, match="grid"):
        gs.expand_grid({"n": []})
    with pytest.raises(ValueError, match="chunk_size"):
        gs.sweep(cone_problem, GRID, 2, chunk_size=0, progress=False)  # noqa: F821


# --------------------------------------------------------------------------- fits
def test_fits_recover_known_constants():
    from gradflow.papers.min_mallada_vidal import (
        fit_bound_constant as fit_constant,
        fraction_under,
    )
    from gradflow.sweep import fit_power_law

    rng = np.random.default_rng(0)
    n = np.repeat([10, 30, 100, 300], 60).astype(float)
    mu = np.tile(np.repeat([0.1, 0.3, 0.7], 20), 4)
    noise = np.exp(0.05 * rng.standard_normal(n.size))
    t = 2.5 * np.log(n) / np.sqrt(mu) * noise
    k = fit_constant(t, n, mu)
    assert abs(k.c - 2.5) < 0.02 and abs(k.c_median - 2.5) < 0.02 and k.r2 > 0.95
    t2 = 3.0 * n**0.4 * mu**-0.7 * noise
    t2[0] = np.nan  # skipped, not fatal
    p = fit_power_law(t2, n, mu)
    assert abs(p.a - 0.4) < 3 * p.a_se + 0.01 and abs(p.b + 0.7) < 3 * p.b_se + 0.01
    assert abs(p.A - 3.0) < 0.1 and p.n_points == n.size - 1
    np.testing.assert_allclose(p.predict(100.0, 0.3), 3.0 * 100**0.4 * 0.3**-0.7, rtol=0.05)
    assert fraction_under([1.0, 2.0, np.nan, 5.0], [2.0, 2.0, 9.0, 4.0]) == 0.5
    with pytest.raises(ValueError, match="2 distinct"):
        fit_power_law(t, np.full(n.size, 10.0), mu)


# --------------------------------------------------------------------------- the experiment
EXP_GRID = {"n": [8], "mu": [0.2, 0.6], "family": ["cone", "cluster"]}


def _exp_problem():
    from gradflow.papers.min_mallada_vidal import AlignmentProblem

    return AlignmentProblem(d=6, h=8, eps=1e-6, t_end=40.0, loss_times=(5.0, 40.0))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "run"
    table = gs.sweep(_exp_problem(), EXP_GRID, 3, out=str(out), progress=False)
    return out, table


def test_alignment_time_finite_and_under_the_bound(experiment):
    out, table = experiment
    c = {k: np.asarray(v) for k, v in table.to_pydict().items()}
    assert len(c["seed"]) == 12
    assert set(c["status_name"]) == {"event"} and set(c["status_end"]) == {0}
    t, b = c["t_align_mean"], c["bound_t1_mean"]
    assert np.all(np.isfinite(t)) and np.all(t > 0) and np.all(t <= b)
    np.testing.assert_allclose(c["t_align_sum"], t / c["n"], rtol=1e-15)
    np.testing.assert_allclose(c["bound_t1_sum"], b / c["n"], rtol=1e-12)
    # exact mu of the generated data is the grid's target
    np.testing.assert_allclose(c["mu_exact"], c["mu"], atol=1e-10)
    # Theorem 1's cone criterion (exact, from the switch log) is met before cos >= 1 - delta
    # here, and well before t1; yet every run violates eq. (28) (outside the hypothesis)
    assert np.all(c["t_cone_mean"] <= t) and np.all(c["t_cone_mean"] <= b)
    assert np.all(c["eps_ok"] == 0) and np.all(c["log_eps_max"] < np.log(5e-324))
    # loss ~ 1 before alignment, small after; stable rank of W near 1 at the end
    assert np.all(c["loss_t5"] > 0.9) and np.all(c["loss_t40"] < 0.25)
    assert np.all(c["stable_rank_final"] < 1.5)
    # smaller mu aligns later (median over seeds and families)
    assert np.median(t[c["mu"] == 0.2]) > np.median(t[c["mu"] == 0.6])
    assert json.loads((out / "manifest.json").read_text())["config"]["h"] == 8


def test_plot_and_cli_plot(experiment, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from typer.testing import CliRunner

    from gradflow.cli import app
    from gradflow.papers.min_mallada_vidal import plot, summarize

    out, table = experiment
    s = summarize(out)
    assert s["runs"] == 12 and s["fraction_under_bound"] == 1.0 and s["ratio_max"] < 1
    # the bound is compared with the cone-entry time, not the cos >= 1 - delta time
    c = {k: np.asarray(v) for k, v in table.to_pydict().items()}
    assert s["time"] == "cone" and s["eps_ok_runs"] == 0
    assert s["ratio_max"] == pytest.approx(np.max(c["t_cone_mean"] / c["bound_t1_mean"]))
    fig = plot(table, clock="sum", path=tmp_path / "a.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "log n / sqrt(mu)"
    assert "sum-loss clock" in ax.get_ylabel() and "100.0% under" in ax.get_title()
    assert (tmp_path / "a.png").stat().st_size > 10_000
    # `gradflow plot DIR` finds the experiment in the manifest; figures go to DIR/figures
    for _ in range(2):  # a second plot still reads the folder (audit: it used to refuse)
        res = CliRunner().invoke(app, ["plot", str(out)])
        assert res.exit_code == 0, res.output
        assert "fraction with t_cone <= t1 1.000" in res.output
    assert (out / "figures" / "alignment_mean.png").stat().st_size > 10_000
    res = CliRunner().invoke(
        app, ["plot", str(out), "--option", "clock=sum", "--to", str(tmp_path / "f")]
    )
    assert res.exit_code == 0, res.output and (tmp_path / "f" / "alignment_sum.png").exists()
    assert gs.load_results(out).num_rows == 12  # the figures never break a load ...
    # ... nor a resume: the same sweep from the CLI (same identity: nothing left to compute)
    res = CliRunner().invoke(
        app,
        ["sweep", "alignment", "-g", "n=8", "-g", "mu=0.2,0.6", "-g", "family=cone,cluster",
         "-s", "d=6", "-s", "h=8", "-s", "eps=1e-6", "-s", "t_end=40.0",
         "-s", "loss_times=5.0,40.0", "--seeds", "3", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "12 runs: 12 event" in res.output and "fraction with t_cone <= t1 1.000" in res.output
    res = CliRunner().invoke(app, ["sweep", "--status", str(out)])
    assert res.exit_code == 0 and "4 of 4 chunks finished" in res.output, res.output
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "not a gradflow sweep" in res.output


def test_cli_validates_before_touching_out_and_names_os_errors(tmp_path):
    from typer.testing import CliRunner

    from gradflow.cli import app

    new = tmp_path / "new"
    base = ["sweep", "alignment", "-g", "n=8", "--seeds", "2", "--out"]
    res = CliRunner().invoke(app, [*base, str(new), "-g", "mu=1.5"])  # mu must be in (0, 1)
    assert res.exit_code == 2 and "mu must be in (0, 1)" in res.output
    assert not new.exists()  # the folder was not touched: the corrected command works
    res = CliRunner().invoke(app, [*base, str(new), "-g", "mu=0.5", "-s", "hh=3"])
    assert res.exit_code == 2 and "no setting(s) ['hh']" in res.output and not new.exists()
    (tmp_path / "file").write_text("x")  # a file where a folder should be: OS error, exit 3
    res = CliRunner().invoke(app, [*base, str(tmp_path / "file" / "d"), "-g", "mu=0.5"])
    assert res.exit_code == 3 and str(tmp_path / "file") in res.output, res.output
    res = CliRunner().invoke(app, ["sweep", "nosuch", "--out", str(new)])
    assert res.exit_code == 2 and "unknown problem 'nosuch'" in res.output
