"""Readable results and a precision rule that cannot trap: Status prints its name, final_loss
is the loss at t_final (finite after an early stop), and float32 refuses an rtol it cannot
resolve with a message that says how to fix it."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import gradflow as gf
from gradflow.papers.min_mallada_vidal import two_point

ROOT = Path(__file__).resolve().parents[1]


def test_status_prints_its_name_and_message():
    assert str(gf.Status.SUCCESS) == "SUCCESS: reached t1"
    assert f"{gf.Status.MAX_STEPS}".startswith("MAX_STEPS: did NOT reach t1")
    assert f"{gf.Status.EVENT:d}" == "1"  # a numeric format spec still formats the code
    assert int(gf.Status.NONFINITE) == 3


def test_final_loss_after_an_early_stop():
    model = gf.models.TwoLayerReLU.gaussian(d=2, h=10, alpha=1e-3, key=jax.random.key(0))
    data = two_point(0.1)
    traj = gf.solve_flow(model, data, t1=200.0, stop=gf.loss_below(0.5))
    assert traj.status == gf.Status.EVENT
    assert np.isinf(traj.loss[-1])  # the unused save slot
    assert float(traj.final_loss) == pytest.approx(0.5, rel=1e-6)  # the event: loss = 0.5
    direct = gf.empirical_loss(traj.final, data.x, data.y)
    assert float(traj.final_loss) == pytest.approx(float(direct), rel=1e-12)


def _fresh(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_float32_refuses_an_rtol_it_cannot_resolve_and_accepts_1e_5():
    code = """
        import jax, gradflow as gf
        from gradflow.papers.min_mallada_vidal import two_point
        assert not jax.config.jax_enable_x64
        model = gf.models.TwoLayerReLU.gaussian(d=2, h=50, alpha=1e-6, key=jax.random.key(0))
        try:
            gf.solve_flow(model, two_point(0.1), t1=42.0)          # default rtol 1e-6
        except ValueError as e:
            print("REFUSED:", e)
        traj = gf.solve_flow(model, two_point(0.1), t1=42.0, config=gf.FlowConfig(rtol=1e-5))
        print("STATUS:", traj.status, float(traj.final_loss))
    """
    proc = _fresh(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "REFUSED: rtol=1e-06 is below what float32 resolves" in out
    assert "jax_enable_x64" in out and "FlowConfig(rtol=1e-05)" in out
    assert "STATUS: SUCCESS: reached t1" in out
    final = float(out.rsplit(" ", 1)[-1])
    assert 7.0e-3 < final < 7.8e-3  # measured in float32 at rtol 1e-5: 7.475e-3


def test_float64_floor_is_far_below_the_tolerances_used():
    model = gf.models.TwoLayerReLU.balanced(d=2, h=4, eps=1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="below what float64 resolves"):
        gf.solve_flow(model, two_point(0.1), t1=1.0, config=gf.FlowConfig(rtol=1e-15))
    traj = gf.solve_flow(model, two_point(0.1), t1=1.0, config=gf.FlowConfig(rtol=1e-13))
    assert traj.status == gf.Status.SUCCESS
