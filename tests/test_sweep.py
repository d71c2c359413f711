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
    from gradflow.flow.config import FlowConfig

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
