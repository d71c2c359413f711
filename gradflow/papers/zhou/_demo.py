"""Zhou et al. kernel condensation (our reconstruction, docs/papers/zhou.md), short version.

Model: ``TwoLayerCNN`` with tanh (multiplicity one), pooling "none" (a dense readout over
positions), both layers trained, Gaussian init of scale eps; mean exp loss, exact GF.
Predicted direction: u_1, the top left singular vector of Z = (1/n) sum_i y_i patches(x_i)^T
(kernel part of the top eigenvector of the symmetrised [[0, Z], [Z^T, 0]]; see
``gradflow.papers.zhou``).

1. Synthetic: ``bump_data(40, 20)`` (x_i = y_i * bump + 0.5 noise), K = 8 kernels of size 5,
   stride 1.
2. Real digits 0 vs 1 (scikit-learn's bundled 8x8, pixels / 16, centred; first 60 of each
   class), K = 16 kernels 3x3, stride 1.
For eps in {1e-6, 1e-2, 1}: mean |cos(w_k, u_1)| and the condensation index (fraction of
kernel pairs with |cos| > 0.95) at t_early(1e-6) = log(1e6) / (sigma'(0) s_1), on the
mean-loss clock (same time for every eps).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ...data import Dataset
from ...flow import solve_flow
from ...models import TwoLayerCNN
from .._registry import DemoResult, stage
from ._data import bump_data
from ._figures import cos_to_prediction, cosine_strip
from ._metrics import (
    CondensationSummary,
    data_matrix,
    early_time,
    top_directions,
)

EPSILONS = (1e-6, 1e-2, 1.0)


def digits_images(n_per_class: int = 60) -> Dataset:
    """Digits 0 (+1) vs 1 (-1) as (n, 8, 8) images, pixels / 16, centred on their mean."""
    try:
        from ...data import digits
    except ImportError:  # pragma: no cover - older checkouts
        digits = None
    if digits is not None:
        d = digits((0, 1), center=True, n_per_class=n_per_class)
        return Dataset(d.x.reshape(-1, 8, 8), d.y)
    from sklearn.datasets import load_digits

    x, t = load_digits(return_X_y=True)
    keep = np.concatenate([np.flatnonzero(t == c)[:n_per_class] for c in (0, 1)])
    x = x[keep] / 16.0
    x = x - x.mean(axis=0)
    return Dataset(x.reshape(-1, 8, 8), np.where(t[keep] == 0, 1.0, -1.0))


def condense(
    data: Dataset, size, num_filters: int, eps_list=EPSILONS, *, seed: int = 0, num_saves: int = 40
):
    """Solve GF for each eps (same kernel directions at t = 0) to 2 t_early(1e-6).

    Returns a dict: ``z``, ``s`` (top 2 singular values), ``u`` (p,), ``t_early``, ``ts``,
    and per eps a Trajectory of CondensationSummary (``w``, ``cos``, ``index``).
    """
    shape = tuple(data.x.shape[1:])
    z = data_matrix(data, size, 1)
    s, vecs = top_directions(z, 2)
    t_e = early_time(z, 1e-6, "tanh", "exp")
    ts = jnp.unique(jnp.concatenate([jnp.linspace(0.0, 2 * t_e, num_saves), jnp.array([t_e])]))
    out = {"z": z, "s": s, "u": vecs[0], "t_early": t_e, "ts": ts, "runs": {}}
    summary = CondensationSummary(vecs[0])
    for eps in eps_list:
        model = TwoLayerCNN.gaussian(
            shape,
            size,
            num_filters,
            eps,
            stride=1,
            activation="tanh",
            pooling="none",
            readout="trained",
            key=jax.random.key(seed),
        )
        out["runs"][eps] = solve_flow(model, data, t1=float(ts[-1]), saveat=ts, fn=summary)
    return out


def _at(traj, t):
    i = int(np.argmin(np.abs(np.asarray(traj.ts) - t)))
    s = traj.summary
    return float(np.mean(np.abs(np.asarray(s["cos"][i])))), float(s["index"][i]), i


def run(out: Path, seed: int = 0) -> DemoResult:
    """Synthetic bumps and digits; writes ``zhou_*_cos.png`` and ``zhou_*_strip.png``."""

    problems = {
        "bumps": (bump_data(40, 20, key=jax.random.key(seed)), 5, 8),
        "digits": (digits_images(), 3, 16),
    }
    head = (
        f"{'data':<8}{'s1/s2':>7}{'t_early':>9}{'eps':>8}{'mean|cos| @t_early':>20}"
        f"{'index':>7}{'loss':>9}  status"
    )
    lines, figures, ok = [head, "-" * len(head)], [], True
    for i, (name, (data, size, k)) in enumerate(problems.items(), 1):
        stage(i, 2, f"{name}: GF for eps in {EPSILONS}, figures")
        res = condense(data, size, k, seed=seed + 1)
        t_e = res["t_early"]
        curves = []
        for eps, traj in res["runs"].items():
            ok &= traj.status.ok
            mc, idx, i = _at(traj, t_e)
            lines.append(
                f"{name:<8}{float(res['s'][0] / res['s'][1]):>7.2f}{t_e:>9.3f}{eps:>8.0e}"
                f"{mc:>20.3f}{idx:>7.2f}{float(traj.loss[i]):>9.3f}  {traj.status.name.lower()}"
            )
            mean_cos = np.mean(np.abs(np.asarray(traj.summary["cos"])), axis=-1)
            curves.append((f"eps = {eps:g}", traj.ts, mean_cos, t_e if eps == 1e-6 else None))
        figures.append(
            cos_to_prediction(
                curves,
                out / f"zhou_{name}_cos.png",
                title=f"{name}: kernels vs predicted direction u_1 (dotted: t_early)",
            )
        )
        small = res["runs"][EPSILONS[0]]
        ts = np.asarray(small.ts)
        pick = [int(np.argmin(np.abs(ts - f * t_e))) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
        figures.append(
            cosine_strip(
                np.asarray(small.summary["w"])[pick],
                ts[pick],
                res["u"],
                out / f"zhou_{name}_strip.png",
                title=f"{name}, eps = 1e-6: pairwise kernel cosines, ordered by w.u_1",
            )
        )
    lines.append(
        "tanh CNN, dense readout over positions (pooling 'none'), both layers trained, mean exp "
        "loss; times on the mean-loss clock; index = fraction of kernel pairs with |cos| > 0.95."
    )
    return DemoResult("\n".join(lines), figures, ok=bool(ok))
