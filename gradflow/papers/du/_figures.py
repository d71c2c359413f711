"""Figures of the Du et al. filter-learning demo (matplotlib imported inside functions only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..._plotting import plottable, pyplot, save


def du_figure(
    curves, rows, path: Path, *, learned: float | None = None, t_max: float | None = None
) -> Path:
    """Left: |w(t) - w*| against flow time for each run. Right: time to learn per setting.

    Args:
        curves: list of (label, ts, err) with ts on the mean-loss clock (GD: t = sum eta).
        rows: list of (group, name, t_learn_median, t_learn_per_seed) from the demo.
        learned: the error level that defines t_learn (drawn as a labelled dashed line).
        t_max: right end of the time axis (default: the longest curve).
    """
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for label, ts, err in curves:
        ts, err = plottable(ts, err, log_time=False, log_values=True)
        ax1.plot(ts, err, label=label, lw=1.4)
    if learned is not None:
        ax1.axhline(learned, ls="--", color="gray", lw=0.8,
                    label=f"learned: |w - w*| = {learned:.2g} (defines t_learn)")
    ax1.set_yscale("log")
    if t_max is not None:
        ax1.set_xlim(0, t_max)
    ax1.set_xlabel("flow time t (mean-loss clock; GD: sum of steps)")
    ax1.set_ylabel("|w - w*|")
    ax1.set_title("filter error under GF and GD")
    ax1.legend(fontsize=7, loc="lower left")  # the lower left is empty: errors fall later

    names = [f"{g}: {n}" for g, n, _, _ in rows]
    vals = [t if not math.isnan(t) else 0.0 for _, _, t, _ in rows]
    colors = {"overlap": "tab:blue", "input law": "tab:green", "closeness": "tab:orange"}
    y = np.arange(len(rows))
    ax2.barh(y, vals, color=[colors.get(g, "gray") for g, _, _, _ in rows])
    for i, (_, _, t, each) in enumerate(rows):
        pts = [x for x in each if not math.isnan(x)]
        ax2.plot(pts, [i] * len(pts), "k.", ms=4)
        if math.isnan(t):
            ax2.text(0, i, " never", va="center", fontsize=7)
    ax2.set_yticks(y, names, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("time to learn (flow time, median; dots = seeds)")
    ax2.set_title("time to learn vs overlap, input law, patch closeness")
    return save(fig, path)
