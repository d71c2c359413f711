"""Run the core API once with jaxtyping + beartype runtime checks on every gradflow signature.

A fresh subprocess is needed: the import hook must be installed before gradflow is imported.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_enable_x64", True)
    from jaxtyping import install_import_hook
    with install_import_hook("gradflow", "beartype.beartype"):
        import gradflow as gf
        from gradflow.models import TwoLayerReLU
        import gradflow.papers.min_mallada_vidal as mmv
    import jax.numpy as jnp
    sep = mmv.separated(20, 5, 0.3, key=jax.random.key(0))
    model = TwoLayerReLU.balanced(5, 6, 1e-4, key=jax.random.key(1))
    traj = gf.solve_flow(model, sep.data, t1=30.0, saveat=8)
    assert traj.status == gf.Status.SUCCESS, traj.describe()
    run = gf.gd(model, sep.data, eta=0.05, steps=40, saves=4)
    at = gf.metrics.alignment_time(traj, sep.data, 0.1)
    rank = gf.metrics.stable_rank(traj.final.w)
    mu = gf.metrics.mu(sep.data)
    bound = mmv.min_bounds(sep.data, 6, 1e-4, model=model)
    toy = gf.solve_flow(model.__class__.gaussian(2, 4, 1e-3, key=jax.random.key(2)),
                        mmv.two_point(0.1), t1=5.0, stop=gf.loss_below(0.5))
    print("OK", float(rank), float(mu), float(bound.t1_mean), float(run.loss[-1]))
    """
)


def test_core_api_under_jaxtyping_and_beartype():
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("OK")
    rank = float(res.stdout.split()[1])
    assert 1.0 <= rank <= 6.0
