"""Min, Mallada & Vidal sec. 1b on real handwritten digits: early alignment, then low rank.

Data: digits 0 (+1) vs 1 (-1), pixels / max, centred over the selected images; by default
scikit-learn's bundled 8x8 digits (n = 360, d = 64), or MNIST from IDX files (``mnist_dir``,
d = 784, ``n_per_class`` images per class). Model: f(x) = sum_j v_j relu(w_j . x), h = 50,
Gaussian init w_ij, v_j ~ N(0, alpha^2), alpha = 1e-6. Mean exp loss, exact GF (dopri5,
rtol 1e-6) to flow time 30 (mean-loss clock; the paper's GD eta = 2e-3 x 15,000 steps).
Measured: per-neuron cos(w_j, x_sign(v_j)), alignment time (every neuron has cos >= 1 - delta
or is dead, interpolated between saves), loss, stable rank |W|_F^2 / |W|_2^2, cones.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import numpy as np

from ...data import Dataset, digits, mnist
from ...flow import FlowConfig, Trajectory, log_times, solve_flow
from ...metrics import CONE_NAMES, alignment_gap, alignment_time, cones, stable_rank, target_cos
from ...models import TwoLayerReLU
from .._registry import DemoResult, stage
from ._figures import alignment_figure, neuron_images

H, ALPHA, T1 = 50, 1e-6, 30.0
DELTA = 0.05  # alignment tolerance: cos(w_j, x_sign(v_j)) >= 1 - DELTA


def _summary(data, delta, t, model):
    return {
        "cos": target_cos(model.w, model.v, data),
        "gap": alignment_gap(model, data, delta),
        "srank": stable_rank(model.w),
        "w": model.w,
        "v": model.v,
    }


def digits_flow(
    data: Dataset,
    *,
    h: int = H,
    alpha: float = ALPHA,
    t1: float = T1,
    delta: float = DELTA,
    seed: int = 0,
    saves: int = 120,
    config: FlowConfig = FlowConfig(rtol=1e-6),
) -> tuple[Trajectory, dict]:
    """Exact GF of Min et al.'s two-layer ReLU net on ``data`` from Gaussian init (scale alpha).

    Returns the Trajectory (summaries at ``saves`` log-spaced times: per-neuron target cos,
    alignment gap, stable rank, w and v) and a dict of final measurements: loss, stable rank,
    alignment time (mean-loss clock, NaN if never), final min_j cos among live neurons,
    counts of neurons per cone and of aligned / dead neurons, and the final model ("final").
    """
    model = TwoLayerReLU.gaussian(data.d, h, alpha, key=jax.random.key(seed))
    fn = jax.tree_util.Partial(_summary, data, delta)
    traj = solve_flow(model, data, loss="exp", reduction="mean", t1=t1,
                      saveat=log_times(t1, saves), fn=fn, config=config)
    f = traj.final  # the model at t_final (fn= only changes what is saved at ts)
    cos_f = np.asarray(target_cos(f.w, f.v, data))
    codes = np.asarray(cones(f, data))
    dead = codes == 0
    aligned = (cos_f >= 1 - delta) & ~dead
    t_align = float(alignment_time(traj, data, delta).time)
    res = {
        "n": data.n,
        "d": data.d,
        "loss_final": float(traj.loss[-1]),
        "srank_final": float(stable_rank(f.w)),
        "t_align": t_align,
        "min_cos_final": float(cos_f[~dead].min()) if (~dead).any() else math.nan,
        "aligned": int(aligned.sum()),
        "dead": int(dead.sum()),
        "cones": {CONE_NAMES[c]: int((codes == c).sum()) for c in range(4)},
        "status": traj.status.name.lower(),
        "ok": traj.status.ok,
        "describe": traj.describe(),
        "final": f,
    }
    return traj, res


def _at(traj, t):
    ts = np.asarray(traj.ts)
    return int(np.argmin(np.abs(np.where(np.isfinite(ts), ts, np.inf) - t)))


def run(out: Path, *, seed: int = 0, mnist_dir: str | os.PathLike | None = None,
        n_per_class: int = 200, t1: float = T1) -> DemoResult:
    """Run the sec. 1b experiment (sklearn digits, or MNIST IDX files in ``mnist_dir``)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    stage(1, 3, "load the digits")
    if mnist_dir is None:
        data, source, side = digits((0, 1), center=True), "sklearn 8x8 digits", 8
    else:
        data = mnist(mnist_dir, (0, 1), center=True, n_per_class=n_per_class)
        source, side = f"MNIST IDX ({mnist_dir})", 28
    stage(2, 3, f"exact GF, n={data.n}, d={data.d}, h={H}, to t={t1:g}")
    traj, r = digits_flow(data, seed=seed, t1=t1)
    stage(3, 3, "alignment time, figures")
    srank = np.asarray(traj.summary["srank"])
    loss = np.asarray(traj.loss)
    checkpoints = [t for t in (0.3, 1.0, 3.0, 10.0) if t < t1] + [t1]
    lines = [
        f"Min et al. sec. 1b on {source}: 0 (+1) vs 1 (-1), centred, n={r['n']}, d={r['d']}; "
        f"h={H}, Gaussian init alpha={ALPHA:g}, mean exp loss, exact GF to t={t1:g} "
        "(mean-loss clock)",
        f"   {'t':>6}{'loss':>12}{'stable rank':>13}{'min cos (all)':>15}",
    ]
    cos = np.asarray(traj.summary["cos"])
    for t in checkpoints:
        i = _at(traj, t)
        lines.append(f"   {float(traj.ts[i]):>6.2f}{loss[i]:>12.6f}{srank[i]:>13.3f}"
                     f"{cos[i].min():>15.4f}")
    t_al = "never" if math.isnan(r["t_align"]) else f"{r['t_align']:.2f}"
    lines += [
        f"alignment time (every neuron cos >= 1 - {DELTA:g} or dead): {t_al}",
        f"final: loss {r['loss_final']:.6f}, stable rank of W {r['srank_final']:.4f}, "
        f"aligned {r['aligned']}/{H}, dead {r['dead']}, min cos of live neurons "
        f"{r['min_cos_final']:.4f}; cones {r['cones']}",
        f"solver: {r['describe']}",
    ]

    figs = [
        alignment_figure(traj.ts, cos, loss, srank, Path(out) / "digits_alignment.png",
                         delta=DELTA, title=f"Min et al. on {source} (0 vs 1), h={H}"),
        neuron_images(r["final"].w, r["final"].v, Path(out) / "digits_neurons.png", side=side,
                      title=f"neurons w_j at t={t1:g} (above each: sign of v_j, |w_j|)"),
    ]
    return DemoResult(text="\n".join(lines), figures=figs, ok=bool(r["ok"]))

