"""Default demo (Min, Mallada & Vidal): the two-point toy and a mu-separated problem.

Toy (sec. 1a): x1 = [1, 0], x2 = [sin theta, cos theta], both +1, theta in {0.1, 0.001, 0};
h = 50, Gaussian init alpha = 1e-6, mean exp loss, flow time 42 (the paper's GD eta = 2e-3 x
21,000 steps). mu-separated (sec. 1c): cone family, n = 40, d = 10, target mu = 0.3, h = 20,
balanced init eps = 1e-6. For each: loss at t = 14 and 42, the root-found alignment time
(every neuron has cos(w_j, x_sign(v_j)) >= 1 - delta, or is dead), Min et al.'s t1 bound,
solver statistics and status. All times on the mean-loss clock.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ...flow import FlowConfig, log_times, solve_flow
from ...metrics import aligned, dead_margin, target_cos
from ...models import TwoLayerReLU
from .._registry import DemoResult, stage
from ._bounds import min_bounds
from ._data import separated, two_point
from ._figures import loss_and_directions

DELTA = 1e-2
T1 = 42.0


def _bound(data, h, eps, model):
    try:
        b = min_bounds(data, h, eps, model=model)
    except ValueError:
        return math.nan
    return float(b.t1_mean)


def _run_one(name, model, data, eps, config):
    ts = jnp.unique(jnp.concatenate([log_times(T1, 96), jnp.array([5.0, 14.0, T1])]))
    traj = solve_flow(model, data, t1=T1, saveat=ts, config=config)
    stop = solve_flow(model, data, t1=T1, saveat=2, stop=aligned(DELTA),  # pyright: ignore[reportArgumentType]
                      config=config)
    ts_np = np.asarray(traj.ts)
    at = lambda t: float(np.asarray(traj.loss)[np.argmin(np.abs(ts_np - t))])
    t_align = float(stop.t_event) if stop.status.name == "EVENT" else math.nan
    f = traj.final
    live = np.asarray(dead_margin(f.w, data)) < 0
    good = np.asarray(target_cos(f.w, f.v, data)) >= 1 - DELTA
    row = {
        "problem": name,
        "loss@14": at(14.0),
        "loss@42": at(T1),
        "t_align": t_align,
        "aligned": f"{int(np.sum(good & live))}/{int(np.sum(live))}",
        "bound_t1": _bound(data, model.width, eps, model),
        "steps": int(traj.stats["num_steps"]),
        "rejected": int(traj.stats["num_rejected"]),
        "grad_evals": int(traj.stats["grad_evals"]),
        "status": traj.status.name.lower(),
        "ok": traj.status.ok and stop.status.ok,
    }
    return row, traj


def _table(rows) -> str:
    head = (f"{'problem':<26}{'loss@14':>10}{'loss@42':>10}{'aligned@42':>11}{'t_align':>9}"
            f"{'bound t1':>11}"
            f"{'steps':>7}{'rejected':>9}{'grad ev':>9}  status")
    lines = [head, "-" * len(head)]
    for r in rows:
        t_al = "never" if math.isnan(r["t_align"]) else f"{r['t_align']:.2f}"
        bnd = "n/a" if math.isnan(r["bound_t1"]) else f"{r['bound_t1']:.3g}"
        lines.append(
            f"{r['problem']:<26}{r['loss@14']:>10.4f}{r['loss@42']:>10.2e}{r['aligned']:>11}"
            f"{t_al:>9}{bnd:>11}"
            f"{r['steps']:>7}{r['rejected']:>9}{r['grad_evals']:>9}  {r['status']}"
        )
    lines += [
        "Times are on the mean-loss clock (t_mean = n * t_sum).",
        f"aligned@42: live neurons with cos(w_j, x_sign(v_j)) >= 1 - {DELTA:g} / live neurons.",
        "t_align: root-found time at which every neuron is aligned or dead ('never' within",
        "  t <= 42: e.g. theta = 0 is orthogonal data, mu = 0, neurons stay on x1 or x2).",
        "bound t1: Min et al. Thm 1, t1 = 16 log n / (min(zeta, xi) sqrt(mu) X_min), times n;",
        "  'n/a' where it does not apply (one class only, or mu = 0).",
    ]
    return "\n".join(lines)


def run(out: Path, *, seed: int = 0) -> DemoResult:
    config = FlowConfig(rtol=1e-6)
    key_toy, key_data, key_init = jax.random.split(jax.random.key(seed), 3)
    rows, curves, toy_final = [], [], None
    for i, theta in enumerate((0.1, 0.001, 0.0), 1):
        stage(i, 5, f"two-point toy, theta={theta:g} (exact GF to t=42)")
        data = two_point(theta)
        model = TwoLayerReLU.gaussian(2, 50, 1e-6, key=key_toy)
        row, traj = _run_one(f"two-point theta={theta:g}", model, data, 1e-6, config)
        rows.append(row)
        curves.append((f"toy theta={theta:g}", traj.ts, traj.loss))
        if theta == 0.1:
            toy_final, toy_x = traj.final, data.x
    stage(4, 5, "mu-separated set, n=40, d=10")
    sep = separated(40, 10, 0.3, key=key_data, family="cone")
    model = TwoLayerReLU.balanced(10, 20, 1e-6, key=key_init)
    row, traj = _run_one(f"mu-sep n=40 mu={float(sep.mu):.2f}", model, sep.data, 1e-6, config)
    rows.append(row)
    curves.append((f"mu-separated (mu={float(sep.mu):.2f})", traj.ts, traj.loss))


    stage(5, 5, "figure")
    fig = loss_and_directions(
        curves, toy_final, toy_x, Path(out) / "min_alignment.png",
        title="Min et al.: exact GF from small init (h=50 toy, alpha=1e-6)",
        run="toy theta=0.1",
    )
    return DemoResult(text=_table(rows), figures=[fig], ok=all(r["ok"] for r in rows))
